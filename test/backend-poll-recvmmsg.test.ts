// The UDP test files again, with the receive path forced to 'poll-recvmmsg' (URING_UDP_BACKEND), so
// every backend passes the same tests.
process.env.URING_UDP_BACKEND = 'poll-recvmmsg';
require('./udp-data.test');
require('./udp-batch.test');
