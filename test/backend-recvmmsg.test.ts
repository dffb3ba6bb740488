// The UDP test files again, with the receive path forced to 'recvmmsg' (URING_UDP_BACKEND), so
// every backend passes the same tests.
process.env.URING_UDP_BACKEND = 'recvmmsg';
require('./udp-data.test');
require('./udp-batch.test');
