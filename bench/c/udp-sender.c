/* udp-sender: floods datagrams with sendmmsg, paced on an absolute schedule.
 *
 *   udp-sender --host 127.0.0.1 (--port N | --ports-file FILE) --size BYTES
 *              --rate PER_SECOND --duration SECONDS [--count N] [--batch 64]
 *              [--family 4|6] [--gso SEGMENTS]
 *
 * Prints {"sent":N,"seconds":S,"rate":R,"eagain":E,"refused":F}, also when
 * ended early by SIGTERM or SIGINT. Each datagram of 8 bytes or more starts
 * with a little-endian 64-bit sequence number.
 * --ports-file: the ports (decimal, separated by white space) of several
 * receivers on the host, sent to round-robin from one unconnected socket.
 * --count: stop after N datagrams (before the duration ends, if sooner).
 * --gso: each sendmmsg message carries this many datagrams with UDP_SEGMENT
 * (GSO; the kernel splits them, or hands them to a UDP_GRO socket whole):
 * --batch datagrams per sendmmsg as before, in --batch / --gso messages. */
#include "common.h"

#include <netinet/udp.h>
#include <poll.h>
#include <signal.h>

#define MAX_PORTS 65536

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct sender {
	int fd;
	unsigned batch;
	size_t size;
	struct mmsghdr *msgs;
	struct iovec *iov;
	unsigned char *payload;
	uint64_t next_seq;
	uint64_t sent;
	uint64_t eagain;  /* EAGAIN/ENOBUFS: the batch remainder was retried */
	uint64_t refused; /* ECONNREFUSED from an earlier ICMP error, retried */
	uint64_t limit;   /* --count, or UINT64_MAX */
	struct sockaddr_storage *dests; /* --ports-file: round-robin, else NULL */
	unsigned dest_count, next_dest;
	socklen_t dest_len;
	unsigned gso;          /* datagrams per message (1: no GSO) */
	unsigned char *controls; /* a UDP_SEGMENT control message per message */
};

#define GSO_CONTROL_BYTES CMSG_SPACE(sizeof(uint16_t))

struct config {
	const char *host, *ports_file;
	uint64_t port, size, batch, family, count, gso;
	double rate, duration;
};

static void parse_config(int argc, char **argv, struct config *cfg, struct endpoint *ep)
{
	*cfg = (struct config){ .batch = 64, .gso = 1 };
	struct opt opts[] = {
		{ "host", OPT_TEXT, &cfg->host, 0, 0, false, false },
		{ "port", OPT_UINT, &cfg->port, 1, 65535, false, false },
		{ "ports-file", OPT_TEXT, &cfg->ports_file, 0, 0, false, false },
		{ "count", OPT_UINT, &cfg->count, 1, 1e15, false, false },
		{ "size", OPT_UINT, &cfg->size, 0, MAX_UDP_PAYLOAD_V6, true, false },
		{ "rate", OPT_REAL, &cfg->rate, 0, 1e9, true, false },
		{ "duration", OPT_REAL, &cfg->duration, 0.001, 86400, true, false },
		{ "batch", OPT_UINT, &cfg->batch, 1, 1024, false, false },
		{ "family", OPT_UINT, &cfg->family, 4, 6, false, false },
		{ "gso", OPT_UINT, &cfg->gso, 1, 64, false, false },
	};
	parse_options(argc, argv, opts, sizeof(opts) / sizeof(opts[0]));
	if (!opts[1].seen == !opts[2].seen)
		die_usage("give exactly one of --port and --ports-file");
	resolve_endpoint(cfg->host, cfg->family, cfg->ports_file ? 1 : cfg->port, ep);
	if (cfg->size > (uint64_t)max_payload(ep))
		die_usage("--size %llu exceeds the largest UDP payload (%d)",
			  (unsigned long long)cfg->size, max_payload(ep));
	if (cfg->gso > 1 && (cfg->size == 0 || cfg->size * cfg->gso > (uint64_t)max_payload(ep)))
		die_usage("--gso %llu x --size %llu must fit one UDP payload (%d) and --size must not be 0",
			  (unsigned long long)cfg->gso, (unsigned long long)cfg->size, max_payload(ep));
}

/* The destinations of --ports-file: the host's address with each port. */
static void read_ports(struct sender *s, const char *file, const struct endpoint *ep)
{
	FILE *f = fopen(file, "r");
	if (!f)
		die_runtime("cannot open --ports-file %s: %s", file, strerror(errno));
	s->dests = calloc(MAX_PORTS, sizeof(*s->dests));
	if (!s->dests)
		die_runtime("out of memory");
	unsigned long port;
	while (fscanf(f, "%lu", &port) == 1) {
		if (port < 1 || port > 65535)
			die_usage("--ports-file %s: port %lu is not in 1..65535", file, port);
		if (s->dest_count == MAX_PORTS)
			die_usage("--ports-file %s: more than %d ports", file, MAX_PORTS);
		struct sockaddr_storage *d = &s->dests[s->dest_count++];
		memcpy(d, &ep->addr, ep->len);
		if (ep->family == AF_INET6)
			((struct sockaddr_in6 *)d)->sin6_port = htons((uint16_t)port);
		else
			((struct sockaddr_in *)d)->sin_port = htons((uint16_t)port);
	}
	if (!feof(f))
		die_usage("--ports-file %s: not a list of decimal ports", file);
	fclose(f);
	if (s->dest_count == 0)
		die_usage("--ports-file %s has no ports", file);
	s->dest_len = ep->len;
}

static void setup_sender(struct sender *s, const struct config *cfg,
			 const struct endpoint *ep)
{
	memset(s, 0, sizeof(*s));
	s->batch = (unsigned)cfg->batch;
	s->size = cfg->size;
	s->limit = cfg->count ? cfg->count : UINT64_MAX;
	s->gso = (unsigned)cfg->gso;
	s->fd = socket(ep->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		die_errno("socket", errno);
	if (cfg->ports_file) {
		/* unconnected: each message names its destination (even for one port,
		 * so that one port and many compare like with like) */
		read_ports(s, cfg->ports_file, ep);
		int size = SOCKET_BUFFER_BYTES;
		setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	} else if (connect(s->fd, (const struct sockaddr *)&ep->addr, ep->len) < 0) {
		/* connected: the route is cached and sendmmsg needs no per-message address */
		die_errno("connect", errno);
	}
	s->msgs = calloc(s->batch, sizeof(*s->msgs));
	s->iov = calloc(s->batch, sizeof(*s->iov));
	s->payload = malloc(s->batch * (s->size ? s->size : 1));
	s->controls = calloc(s->batch, GSO_CONTROL_BYTES);
	if (!s->msgs || !s->iov || !s->payload || !s->controls)
		die_runtime("out of memory");
	memset(s->payload, 0xa5, s->batch * (s->size ? s->size : 1));
	for (unsigned i = 0; i < s->batch; i++) {
		s->iov[i].iov_base = s->payload + i * s->size;
		s->iov[i].iov_len = s->size;
		s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
		s->msgs[i].msg_hdr.msg_iovlen = 1;
	}
}

/* Lays `count` datagrams out as messages: one each, or --gso of them per message with a
 * UDP_SEGMENT control message (the last message may carry fewer). Returns the messages. */
static unsigned build_messages(struct sender *s, unsigned count)
{
	if (s->gso <= 1)
		return count;
	unsigned messages = 0;
	for (unsigned first = 0; first < count; first += s->gso, messages++) {
		unsigned n = count - first < s->gso ? count - first : s->gso;
		struct msghdr *h = &s->msgs[messages].msg_hdr;
		h->msg_iov = &s->iov[first];
		h->msg_iovlen = n;
		h->msg_control = NULL;
		h->msg_controllen = 0;
		if (n > 1) {
			h->msg_control = s->controls + (size_t)messages * GSO_CONTROL_BYTES;
			h->msg_controllen = GSO_CONTROL_BYTES;
			struct cmsghdr *c = CMSG_FIRSTHDR(h);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t segment = (uint16_t)s->size;
			memcpy(CMSG_DATA(c), &segment, sizeof(segment));
		}
	}
	return messages;
}

/* Datagrams in messages [first, first + n). */
static uint64_t datagrams_in(const struct sender *s, unsigned first, unsigned n)
{
	uint64_t total = 0;
	for (unsigned i = first; i < first + n; i++)
		total += s->msgs[i].msg_hdr.msg_iovlen;
	return total;
}

static void stamp_batch(struct sender *s, unsigned count)
{
	if (s->dests) {
		for (unsigned i = 0; i < count; i++) {
			s->msgs[i].msg_hdr.msg_name = &s->dests[s->next_dest];
			s->msgs[i].msg_hdr.msg_namelen = s->dest_len;
			if (++s->next_dest == s->dest_count)
				s->next_dest = 0;
		}
	}
	if (s->size < 8)
		return;
	for (unsigned i = 0; i < count; i++)
		put_le64(s->payload + i * s->size, s->next_seq++);
}

/* The next batch's size: --batch, less at the end of --count. */
static unsigned batch_size(const struct sender *s, uint64_t left)
{
	uint64_t room = s->limit - s->sent;
	uint64_t n = left < s->batch ? left : s->batch;
	return (unsigned)(n < room ? n : room);
}

/* A full socket buffer (EAGAIN) clears once the device drains; ENOBUFS has
 * nothing to poll for, so back off briefly instead of spinning. */
static void wait_writable(int fd, int err)
{
	if (err == ENOBUFS) {
		struct timespec pause = { 0, 20000 };
		nanosleep(&pause, NULL);
		return;
	}
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	poll(&pfd, 1, 10);
}

/* Sends msgs[0..count) (messages) completely, retrying remainders, unless the run ends. */
static void send_batch(struct sender *s, unsigned count, uint64_t end_ns)
{
	unsigned done = 0;
	while (done < count) {
		int n = sendmmsg(s->fd, s->msgs + done, count - done, 0);
		if (n > 0) {
			s->sent += datagrams_in(s, done, (unsigned)n);
			done += (unsigned)n;
			continue;
		}
		int err = n < 0 ? errno : EAGAIN;
		if (err == EINTR)
			continue;
		if (err == ECONNREFUSED) {
			s->refused++;
			continue;
		}
		if (err != EAGAIN && err != EWOULDBLOCK && err != ENOBUFS)
			die_errno("sendmmsg", err);
		s->eagain++;
		if (now_ns() >= end_ns || stop_requested)
			return;
		wait_writable(s->fd, err);
	}
}

static void sleep_until(uint64_t due_ns)
{
	struct timespec ts = timespec_from_ns(due_ns);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop_requested)
		;
}

/* Batch k is due at start + k * batch / rate: an overshooting sleep is made
 * up by the following batches instead of lowering the average rate. */
static void run_paced(struct sender *s, double rate, uint64_t start, uint64_t end)
{
	uint64_t total = (uint64_t)(rate * (double)(end - start) / 1e9);
	double ns_per_datagram = 1e9 / rate;
	for (uint64_t queued = 0; queued < total && !stop_requested;) {
		unsigned count = batch_size(s, total - queued);
		if (count == 0)
			return; /* --count reached */
		uint64_t due = start + (uint64_t)((double)queued * ns_per_datagram);
		if (due > now_ns())
			sleep_until(due);
		stamp_batch(s, count);
		send_batch(s, build_messages(s, count), end);
		queued += count;
		if (now_ns() >= end)
			break; /* behind schedule: the rate was not reachable */
	}
	if (!stop_requested)
		sleep_until(end); /* the window, not the last batch, is the measured time */
}

static void run_flat_out(struct sender *s, uint64_t end)
{
	while (now_ns() < end && !stop_requested) {
		unsigned count = batch_size(s, s->batch);
		if (count == 0)
			return; /* --count reached */
		stamp_batch(s, count);
		send_batch(s, build_messages(s, count), end);
	}
}

int main(int argc, char **argv)
{
	program_usage = "[--host 127.0.0.1] (--port N | --ports-file FILE) --size BYTES "
			"--rate PER_SECOND --duration SECONDS [--count N] [--batch 64] [--family 4|6] "
			"[--gso SEGMENTS]";
	struct config cfg;
	struct endpoint ep;
	struct sender s;
	parse_config(argc, argv, &cfg, &ep);
	setup_sender(&s, &cfg, &ep);
	struct sigaction stop_action = { .sa_handler = on_stop_signal };
	sigaction(SIGTERM, &stop_action, NULL);
	sigaction(SIGINT, &stop_action, NULL);

	uint64_t start = now_ns();
	uint64_t end = start + (uint64_t)(cfg.duration * 1e9);
	if (cfg.rate > 0)
		run_paced(&s, cfg.rate, start, end);
	else
		run_flat_out(&s, end);
	double seconds = (double)(now_ns() - start) / 1e9;

	printf("{\"sent\":%llu,\"seconds\":%.6f,\"rate\":%.1f,\"eagain\":%llu,\"refused\":%llu}\n",
	       (unsigned long long)s.sent, seconds, (double)s.sent / seconds,
	       (unsigned long long)s.eagain, (unsigned long long)s.refused);
	return 0;
}
