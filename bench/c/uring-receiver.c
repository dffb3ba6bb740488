/* uring-receiver: the C reference receiver. One io_uring with a multishot
 * recvmsg over a provided buffer ring, plus a poll on stdin in the same ring
 * for the harness's "start"/"stop" commands.
 *
 *   uring-receiver --host 127.0.0.1 --port N [--family 4|6]
 *                  [--buffers 4096] [--buffer-size 2048] [--rcvbuf BYTES]
 *                  [--stamps 0|1] [--gro 0|1]
 *
 * Prints {"ready":true,"port":P} once bound, on "progress"
 * {"progress":true,"datagrams":N}, and on "stop" (or EOF on stdin)
 * {"datagrams":N,"bytes":B,"cpuUserUs":U,"cpuSysUs":S,"seconds":T,
 *  "maxRssKb":K,"enobufs":E,"truncated":X}.
 * --rcvbuf 0 leaves SO_RCVBUF at net.core.rmem_default (default: 4 MiB asked).
 * --gro 1 sets UDP_GRO: a buffer may hold several datagrams coalesced (give a
 * --buffer-size of 64 KiB and more), counted from the segment size the kernel
 * writes into each buffer's control message.
 * --stamps 1 (the drain scenario) adds "firstCount","firstAtMs","lastCount",
 * "lastAtMs": the count and CLOCK_MONOTONIC time at the first and the latest
 * multiple of 64 datagrams, as the harness's other receivers record them. */
#include "common.h"

#include <liburing.h>
#include <fcntl.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/uio.h>

#define TAG_RECV 1
#define TAG_STDIN 2
#define BUF_GROUP 0
#define BATCH_CQES 64
#define BATCH_WAIT_NS 200000
#define IDLE_WAIT_SEC 1

struct counters {
	uint64_t datagrams, bytes, enobufs, truncated;
	int64_t first_count, last_count; /* -1: no stamp yet */
	uint64_t first_ns, last_ns;
};

struct receiver {
	struct io_uring ring;
	int fd;
	struct msghdr msg; /* template for every multishot recvmsg */
	struct io_uring_buf_ring *buf_ring;
	unsigned char *buffers;
	unsigned buf_count, buf_size, buf_mask;
	struct counters count;
	struct line_reader stdin_lines;
	struct rusage usage_at_start;
	uint64_t time_at_start;
	bool stamps;
	bool gro;
};

struct config {
	const char *host;
	uint64_t port, family, buffers, buffer_size, rcvbuf, stamps, gro;
};

static void parse_config(int argc, char **argv, struct config *cfg)
{
	*cfg = (struct config){ .buffers = 4096, .buffer_size = 2048, .rcvbuf = SOCKET_BUFFER_BYTES };
	struct opt opts[] = {
		{ "host", OPT_TEXT, &cfg->host, 0, 0, false, false },
		{ "port", OPT_UINT, &cfg->port, 0, 65535, true, false },
		{ "family", OPT_UINT, &cfg->family, 4, 6, false, false },
		{ "buffers", OPT_UINT, &cfg->buffers, 1, 32768, false, false },
		{ "buffer-size", OPT_UINT, &cfg->buffer_size, 256, 1 << 20, false, false },
		{ "rcvbuf", OPT_UINT, &cfg->rcvbuf, 0, 1 << 30, false, false },
		{ "stamps", OPT_UINT, &cfg->stamps, 0, 1, false, false },
		{ "gro", OPT_UINT, &cfg->gro, 0, 1, false, false },
	};
	parse_options(argc, argv, opts, sizeof(opts) / sizeof(opts[0]));
	if (cfg->buffers & (cfg->buffers - 1))
		die_usage("--buffers must be a power of two, got %llu",
			  (unsigned long long)cfg->buffers);
	if (cfg->buffers * cfg->buffer_size > (1ULL << 30))
		die_usage("--buffers x --buffer-size must not exceed 1 GiB");
}

static void open_socket(struct receiver *r, const struct endpoint *ep, int rcvbuf)
{
	r->fd = udp_socket(ep);
	set_socket_buffers_sized(r->fd, rcvbuf);
	bind_endpoint(r->fd, ep);
	/* the kernel reserves this much name space at the start of every buffer */
	r->msg.msg_namelen = ep->len;
}

/* Every buffer can hold at most one CQE's worth of data until it is recycled,
 * so a CQ of twice the buffer count cannot overflow. */
static void setup_ring(struct receiver *r)
{
	unsigned cq = 256;
	while (cq < 2 * r->buf_count)
		cq <<= 1;
	const unsigned flag_sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int ret = -EINVAL;
	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		struct io_uring_params p = { .flags = flag_sets[i] | IORING_SETUP_CQSIZE,
					     .cq_entries = cq };
		ret = io_uring_queue_init_params(64, &r->ring, &p);
		if (ret != -EINVAL)
			break;
	}
	if (ret < 0)
		die_errno("io_uring_queue_init_params", -ret);
}

/* Every buffer's first bytes written once through the kernel (a readv from /dev/zero) and
 * once from user space, as the package's receiver does: on a paravirtualised host the
 * kernel's and user space's first access to a page are separate costs of about 10 us each,
 * which MAP_POPULATE does not pay in advance, and a flood's first pass over the buffers would
 * pay them inside the receive path. */
static void prefault_buffers(struct receiver *r)
{
	struct iovec iov[1024];
	int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	for (unsigned first = 0; first < r->buf_count; first += 1024) {
		unsigned count = r->buf_count - first < 1024 ? r->buf_count - first : 1024;
		for (unsigned i = 0; i < count; i++) {
			iov[i].iov_base = r->buffers + (size_t)(first + i) * r->buf_size;
			iov[i].iov_len = r->buf_size < 64 ? r->buf_size : 64;
		}
		if (zero >= 0 && readv(zero, iov, (int)count) < 0)
			die_errno("readv(/dev/zero)", errno);
		for (unsigned i = 0; i < count; i++)
			*(volatile char *)iov[i].iov_base = 0;
	}
	if (zero >= 0)
		close(zero);
}

/* liburing 2.3 has no io_uring_setup_buf_ring: map and register it here. */
static void setup_buffers(struct receiver *r)
{
	size_t ring_bytes = r->buf_count * sizeof(struct io_uring_buf);
	void *ring_mem = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ring_mem == MAP_FAILED)
		die_errno("mmap(buffer ring)", errno);
	r->buf_ring = ring_mem;
	io_uring_buf_ring_init(r->buf_ring);
	struct io_uring_buf_reg reg = { .ring_addr = (uintptr_t)ring_mem,
					.ring_entries = r->buf_count,
					.bgid = BUF_GROUP };
	int ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
	if (ret < 0)
		die_errno("io_uring_register_buf_ring", -ret);

	size_t data_bytes = (size_t)r->buf_count * r->buf_size;
	r->buffers = mmap(NULL, data_bytes, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (r->buffers == MAP_FAILED)
		die_errno("mmap(buffers)", errno);
	prefault_buffers(r);
	r->buf_mask = (unsigned)io_uring_buf_ring_mask(r->buf_count);
	for (unsigned bid = 0; bid < r->buf_count; bid++)
		io_uring_buf_ring_add(r->buf_ring, r->buffers + (size_t)bid * r->buf_size,
				      r->buf_size, (unsigned short)bid, (int)r->buf_mask, (int)bid);
	io_uring_buf_ring_advance(r->buf_ring, (int)r->buf_count);
}

static struct io_uring_sqe *get_sqe(struct receiver *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	if (!sqe) {
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	if (!sqe)
		die_runtime("io_uring submission queue stays full");
	return sqe;
}

static void arm_recv(struct receiver *r)
{
	struct io_uring_sqe *sqe = get_sqe(r);
	io_uring_prep_recvmsg_multishot(sqe, r->fd, &r->msg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BUF_GROUP;
	io_uring_sqe_set_data64(sqe, TAG_RECV);
}

/* one-shot on purpose: re-armed after each read, it behaves level-triggered */
static void arm_stdin(struct receiver *r)
{
	struct io_uring_sqe *sqe = get_sqe(r);
	io_uring_prep_poll_add(sqe, 0, POLLIN);
	io_uring_sqe_set_data64(sqe, TAG_STDIN);
}

static void begin_measurement(struct receiver *r)
{
	memset(&r->count, 0, sizeof(r->count));
	r->count.first_count = r->count.last_count = -1;
	getrusage(RUSAGE_SELF, &r->usage_at_start);
	r->time_at_start = now_ns();
}

static void finish_measurement(struct receiver *r)
{
	struct rusage now;
	uint64_t end = now_ns();
	getrusage(RUSAGE_SELF, &now);
	printf("{\"datagrams\":%llu,\"bytes\":%llu,\"cpuUserUs\":%llu,\"cpuSysUs\":%llu,"
	       "\"seconds\":%.6f,\"maxRssKb\":%ld,\"enobufs\":%llu,\"truncated\":%llu",
	       (unsigned long long)r->count.datagrams, (unsigned long long)r->count.bytes,
	       (unsigned long long)(timeval_us(now.ru_utime) -
				    timeval_us(r->usage_at_start.ru_utime)),
	       (unsigned long long)(timeval_us(now.ru_stime) -
				    timeval_us(r->usage_at_start.ru_stime)),
	       (double)(end - r->time_at_start) / 1e9, now.ru_maxrss,
	       (unsigned long long)r->count.enobufs, (unsigned long long)r->count.truncated);
	if (r->stamps)
		printf(",\"firstCount\":%lld,\"firstAtMs\":%.6f,\"lastCount\":%lld,\"lastAtMs\":%.6f",
		       (long long)r->count.first_count, (double)r->count.first_ns / 1e6,
		       (long long)r->count.last_count, (double)r->count.last_ns / 1e6);
	printf("}\n");
	fflush(stdout);
	exit(0);
}

static void print_progress(struct receiver *r)
{
	printf("{\"progress\":true,\"datagrams\":%llu}\n", (unsigned long long)r->count.datagrams);
	fflush(stdout);
}

static void stamp(struct receiver *r)
{
	uint64_t now = now_ns();
	if (r->count.first_count < 0) {
		r->count.first_count = (int64_t)r->count.datagrams;
		r->count.first_ns = now;
	}
	r->count.last_count = (int64_t)r->count.datagrams;
	r->count.last_ns = now;
}

static void handle_stdin(struct receiver *r, int poll_res)
{
	if (poll_res < 0)
		die_errno("poll(stdin)", -poll_res);
	enum command cmd = read_command(&r->stdin_lines, true);
	for (; cmd != CMD_NONE; cmd = read_command(&r->stdin_lines, false)) {
		if (cmd == CMD_STOP)
			finish_measurement(r);
		if (cmd == CMD_PROGRESS)
			print_progress(r);
		else
			begin_measurement(r);
	}
	arm_stdin(r);
}

/* Accounts one datagram and hands its buffer back; returns buffers recycled. */
static int handle_recv(struct receiver *r, const struct io_uring_cqe *cqe, int recycled)
{
	if (cqe->res == -ENOBUFS) {
		r->count.enobufs++;
		return 0;
	}
	if (cqe->res < 0)
		die_errno("multishot recvmsg", -cqe->res);
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return 0;
	unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	unsigned char *buf = r->buffers + (size_t)bid * r->buf_size;
	struct io_uring_recvmsg_out *out = io_uring_recvmsg_validate(buf, cqe->res, &r->msg);
	if (out) {
		uint32_t length = io_uring_recvmsg_payload_length(out, cqe->res, &r->msg);
		uint64_t datagrams = 1;
		if (r->gro) {
			/* a coalesced buffer holds ceil(length / segment) datagrams */
			for (struct cmsghdr *c = io_uring_recvmsg_cmsg_firsthdr(out, &r->msg); c;
			     c = io_uring_recvmsg_cmsg_nexthdr(out, &r->msg, c)) {
				int segment = 0;
				if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO)
					continue;
				memcpy(&segment, CMSG_DATA(c), sizeof(segment));
				if (segment > 0 && length > (uint32_t)segment)
					datagrams = (length + (uint32_t)segment - 1) / (uint32_t)segment;
			}
		}
		uint64_t before = r->count.datagrams;
		r->count.datagrams += datagrams;
		if (r->stamps && (before >> 6) != (r->count.datagrams >> 6))
			stamp(r);
		r->count.bytes += length;
		if (out->flags & MSG_TRUNC)
			r->count.truncated++;
	}
	io_uring_buf_ring_add(r->buf_ring, buf, r->buf_size, (unsigned short)bid,
			      (int)r->buf_mask, recycled);
	return 1;
}

/* Consumes every ready CQE; buffers go back with one tail update per reap. */
static void reap(struct receiver *r)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int recycled = 0, stdin_res = 0;
	bool rearm_recv = false, stdin_ready = false;

	io_uring_for_each_cqe(&r->ring, head, cqe) {
		seen++;
		if (cqe->user_data == TAG_STDIN) {
			stdin_ready = true;
			stdin_res = cqe->res;
			continue;
		}
		recycled += handle_recv(r, cqe, recycled);
		if (!(cqe->flags & IORING_CQE_F_MORE))
			rearm_recv = true;
	}
	io_uring_buf_ring_advance(r->buf_ring, recycled);
	io_uring_cq_advance(&r->ring, seen);
	if (rearm_recv)
		arm_recv(r);
	if (stdin_ready)
		handle_stdin(r, stdin_res);
}

/* True when a ready CQE needs handling now: the multishot recv ended (no
 * receive is armed until it is re-armed) or the harness wrote to stdin. */
static bool needs_prompt_reap(struct receiver *r)
{
	struct io_uring_cqe *cqe;
	unsigned head;
	io_uring_for_each_cqe(&r->ring, head, cqe) {
		if (cqe->user_data == TAG_STDIN || !(cqe->flags & IORING_CQE_F_MORE))
			return true;
	}
	return false;
}

/* Min-wait emulation: block for the first CQE, then give the batch up to
 * BATCH_WAIT_NS to grow to BATCH_CQES. */
static void wait_for_batch(struct receiver *r)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec idle = { .tv_sec = IDLE_WAIT_SEC };
	struct __kernel_timespec batch = { .tv_nsec = BATCH_WAIT_NS };
	int ret = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &idle, NULL);
	if (ret < 0 && ret != -ETIME && ret != -EINTR)
		die_errno("io_uring_submit_and_wait_timeout", -ret);
	unsigned ready = io_uring_cq_ready(&r->ring);
	if (ready == 0 || ready >= BATCH_CQES || needs_prompt_reap(r))
		return;
	ret = io_uring_submit_and_wait_timeout(&r->ring, &cqe, BATCH_CQES, &batch, NULL);
	if (ret < 0 && ret != -ETIME && ret != -EINTR)
		die_errno("io_uring_submit_and_wait_timeout", -ret);
}

int main(int argc, char **argv)
{
	program_usage = "[--host 127.0.0.1] --port N [--family 4|6] [--buffers 4096] "
			"[--buffer-size 2048] [--rcvbuf BYTES] [--stamps 0|1] [--gro 0|1]";
	struct config cfg;
	struct endpoint ep;
	static struct receiver r;
	parse_config(argc, argv, &cfg);
	resolve_endpoint(cfg.host, cfg.family, cfg.port, &ep);
	r.buf_count = (unsigned)cfg.buffers;
	r.buf_size = (unsigned)cfg.buffer_size;
	r.stamps = cfg.stamps != 0;
	r.gro = cfg.gro != 0;

	open_socket(&r, &ep, (int)cfg.rcvbuf);
	if (r.gro) {
		int on = 1;
		if (setsockopt(r.fd, SOL_UDP, UDP_GRO, &on, sizeof(on)) < 0)
			die_errno("setsockopt(UDP_GRO)", errno);
		/* the kernel writes the segment size between the name and the payload */
		r.msg.msg_controllen = CMSG_SPACE(sizeof(int));
	}
	setup_ring(&r);
	setup_buffers(&r);
	arm_recv(&r);
	arm_stdin(&r);
	int ret = io_uring_submit(&r.ring);
	if (ret < 0)
		die_errno("io_uring_submit", -ret);
	begin_measurement(&r);
	print_ready(bound_port(r.fd));

	for (;;) {
		wait_for_batch(&r);
		reap(&r);
	}
}
