/* udp-echo-server: the C reference echo server. recvmmsg + sendmmsg in
 * batches of 64, poll(2) on the socket and stdin in between.
 *
 *   udp-echo-server --host 127.0.0.1 --port N [--family 4|6]
 *
 * Prints {"ready":true,"port":P} once bound; "start" resets the count; on
 * "stop" (or EOF on stdin) prints {"echoed":N,"dropped":D} and exits. */
#include "common.h"

#include <poll.h>

#define BATCH 64
#define MAX_DATAGRAM 65536
#define BATCHES_PER_WAKEUP 16 /* then look at stdin again */
#define SEND_RETRY_MS 10

struct echo_server {
	int fd;
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage peers[BATCH];
	unsigned char *buffers;
	uint64_t echoed;
	uint64_t dropped; /* replies given up after the send buffer stayed full */
	struct line_reader stdin_lines;
};

static void parse_config(int argc, char **argv, struct endpoint *ep)
{
	const char *host = NULL;
	uint64_t port = 0, family = 0;
	struct opt opts[] = {
		{ "host", OPT_TEXT, &host, 0, 0, false, false },
		{ "port", OPT_UINT, &port, 0, 65535, true, false },
		{ "family", OPT_UINT, &family, 4, 6, false, false },
	};
	parse_options(argc, argv, opts, sizeof(opts) / sizeof(opts[0]));
	resolve_endpoint(host, family, port, ep);
}

static void setup_server(struct echo_server *s, const struct endpoint *ep)
{
	s->fd = socket(ep->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		die_errno("socket", errno);
	set_socket_buffers(s->fd);
	bind_endpoint(s->fd, ep);
	s->buffers = malloc((size_t)BATCH * MAX_DATAGRAM);
	if (!s->buffers)
		die_runtime("out of memory");
	for (int i = 0; i < BATCH; i++) {
		s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
		s->msgs[i].msg_hdr.msg_iovlen = 1;
		s->msgs[i].msg_hdr.msg_name = &s->peers[i];
	}
}

static void prepare_receive(struct echo_server *s)
{
	for (int i = 0; i < BATCH; i++) {
		s->iov[i].iov_base = s->buffers + (size_t)i * MAX_DATAGRAM;
		s->iov[i].iov_len = MAX_DATAGRAM;
		s->msgs[i].msg_hdr.msg_namelen = sizeof(s->peers[i]);
	}
}

/* Each message goes back to its own source address with its own length. */
static void send_replies(struct echo_server *s, int count)
{
	for (int i = 0; i < count; i++)
		s->iov[i].iov_len = s->msgs[i].msg_len;
	int done = 0, stalls = 0;
	while (done < count) {
		int n = sendmmsg(s->fd, s->msgs + done, (unsigned)(count - done), 0);
		if (n > 0) {
			done += n;
			s->echoed += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
			die_errno("sendmmsg", errno);
		if (++stalls > 1)
			break; /* UDP may lose; the client times the request out */
		struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
		poll(&pfd, 1, SEND_RETRY_MS);
	}
	s->dropped += (uint64_t)(count - done);
}

/* Returns false once the socket has nothing more to read. */
static bool echo_one_batch(struct echo_server *s)
{
	prepare_receive(s);
	int n = recvmmsg(s->fd, s->msgs, BATCH, 0, NULL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return false;
		die_errno("recvmmsg", errno);
	}
	send_replies(s, n);
	return n == BATCH;
}

static void handle_stdin(struct echo_server *s)
{
	enum command cmd = read_command(&s->stdin_lines, true);
	for (; cmd != CMD_NONE; cmd = read_command(&s->stdin_lines, false)) {
		if (cmd == CMD_STOP) {
			printf("{\"echoed\":%llu,\"dropped\":%llu}\n", (unsigned long long)s->echoed,
			       (unsigned long long)s->dropped);
			fflush(stdout);
			exit(0);
		}
		if (cmd != CMD_START)
			continue;
		s->echoed = 0;
		s->dropped = 0;
	}
}

int main(int argc, char **argv)
{
	program_usage = "[--host 127.0.0.1] --port N [--family 4|6]";
	struct endpoint ep;
	static struct echo_server s;
	parse_config(argc, argv, &ep);
	setup_server(&s, &ep);
	print_ready(bound_port(s.fd));

	struct pollfd pfds[2] = { { .fd = s.fd, .events = POLLIN },
				  { .fd = 0, .events = POLLIN } };
	for (;;) {
		if (poll(pfds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die_errno("poll", errno);
		}
		if (pfds[0].revents & POLLIN)
			for (int i = 0; i < BATCHES_PER_WAKEUP && echo_one_batch(&s); i++)
				;
		if (pfds[1].revents & (POLLIN | POLLHUP | POLLERR))
			handle_stdin(&s);
		if (pfds[1].revents & POLLNVAL)
			die_runtime("stdin is closed");
	}
}
