/* udp-echo-client: keeps K requests in flight against an echo server and
 * times every round trip.
 *
 *   udp-echo-client --host 127.0.0.1 --port N --inflight K --duration SECONDS
 *                   [--size 64] [--family 4|6] [--samples FILE]
 *
 * A request is [id: le64][send time, CLOCK_MONOTONIC ns: le64][padding]. The
 * id of slot s is always congruent to s modulo K, so a reply finds its slot
 * directly, and a late reply to a request already declared lost (its slot
 * since reused under a new id) is recognised and ignored.
 *
 * Prints {"roundTrips":N,"seconds":S,"perSecond":R,"lost":L,"p50Us":..,
 * "p99Us":..,"p999Us":..,"late":X,"refused":Y}. --samples FILE receives every
 * RTT as a little-endian uint32 of nanoseconds (saturating), in arrival order. */
#include "common.h"

#include <endian.h>
#include <poll.h>

#define BATCH 64
#define HEADER_BYTES 16
#define LOSS_TIMEOUT_NS (200 * 1000000ULL)
#define LOSS_SCAN_NS (10 * 1000000ULL)
#define BATCHES_PER_WAKEUP 16

struct slot {
	uint64_t id, next_id;
	uint64_t sent_ns;
	bool busy;
};

struct samples {
	uint32_t *ns;
	size_t count, capacity;
};

struct client {
	int fd;
	unsigned inflight;
	size_t size;
	struct slot *slots;
	unsigned *pending; /* slots waiting to be (re)sent, used as a stack */
	unsigned pending_count;
	bool send_blocked;
	bool accepting; /* false once the run is over: no new requests */
	struct mmsghdr tx[BATCH], rx[BATCH];
	struct iovec tx_iov[BATCH], rx_iov[BATCH];
	unsigned char *tx_buf, *rx_buf;
	size_t rx_size;
	struct samples rtt;
	uint64_t round_trips, lost, late, refused;
};

struct config {
	const char *host, *samples_path;
	uint64_t port, family, inflight, size;
	double duration;
};

static void parse_config(int argc, char **argv, struct config *cfg, struct endpoint *ep)
{
	*cfg = (struct config){ .size = 64 };
	struct opt opts[] = {
		{ "host", OPT_TEXT, &cfg->host, 0, 0, false, false },
		{ "port", OPT_UINT, &cfg->port, 1, 65535, true, false },
		{ "inflight", OPT_UINT, &cfg->inflight, 1, 65536, true, false },
		{ "duration", OPT_REAL, &cfg->duration, 0.001, 86400, true, false },
		{ "size", OPT_UINT, &cfg->size, HEADER_BYTES, MAX_UDP_PAYLOAD_V6, false, false },
		{ "family", OPT_UINT, &cfg->family, 4, 6, false, false },
		{ "samples", OPT_TEXT, &cfg->samples_path, 0, 0, false, false },
	};
	parse_options(argc, argv, opts, sizeof(opts) / sizeof(opts[0]));
	resolve_endpoint(cfg->host, cfg->family, cfg->port, ep);
	if (cfg->size > (uint64_t)max_payload(ep))
		die_usage("--size %llu exceeds the largest UDP payload (%d)",
			  (unsigned long long)cfg->size, max_payload(ep));
}

static void *checked_calloc(size_t count, size_t size)
{
	void *p = calloc(count, size);
	if (!p)
		die_runtime("out of memory");
	return p;
}

static void setup_client(struct client *c, const struct config *cfg,
			 const struct endpoint *ep)
{
	c->inflight = (unsigned)cfg->inflight;
	c->size = cfg->size;
	c->rx_size = cfg->size + 64; /* room to notice an oversized reply */
	c->fd = socket(ep->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die_errno("socket", errno);
	set_socket_buffers(c->fd);
	/* connected: only the server's replies are received */
	if (connect(c->fd, (const struct sockaddr *)&ep->addr, ep->len) < 0)
		die_errno("connect", errno);
	c->slots = checked_calloc(c->inflight, sizeof(*c->slots));
	c->pending = checked_calloc(c->inflight, sizeof(*c->pending));
	c->tx_buf = checked_calloc(BATCH, c->size);
	c->rx_buf = checked_calloc(BATCH, c->rx_size);
	for (unsigned i = 0; i < BATCH; i++) {
		c->tx_iov[i] = (struct iovec){ c->tx_buf + i * c->size, c->size };
		c->tx[i].msg_hdr.msg_iov = &c->tx_iov[i];
		c->tx[i].msg_hdr.msg_iovlen = 1;
		c->rx_iov[i] = (struct iovec){ c->rx_buf + i * c->rx_size, c->rx_size };
		c->rx[i].msg_hdr.msg_iov = &c->rx_iov[i];
		c->rx[i].msg_hdr.msg_iovlen = 1;
	}
	for (unsigned s = c->inflight; s-- > 0;) {
		c->slots[s].next_id = s;
		c->pending[c->pending_count++] = s;
	}
	c->accepting = true;
}

static void release_slot(struct client *c, struct slot *sl)
{
	sl->busy = false;
	if (c->accepting)
		c->pending[c->pending_count++] = (unsigned)(sl - c->slots);
}

static void record_rtt(struct samples *rtt, uint64_t ns)
{
	if (rtt->count == rtt->capacity) {
		size_t cap = rtt->capacity ? rtt->capacity * 2 : 1 << 16;
		uint32_t *grown = realloc(rtt->ns, cap * sizeof(*grown));
		if (!grown)
			die_runtime("out of memory for RTT samples");
		rtt->ns = grown;
		rtt->capacity = cap;
	}
	rtt->ns[rtt->count++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* Fills tx[0..count) from the top of the pending stack. */
static unsigned stamp_requests(struct client *c)
{
	unsigned count = c->pending_count < BATCH ? c->pending_count : BATCH;
	for (unsigned i = 0; i < count; i++) {
		struct slot *sl = &c->slots[c->pending[c->pending_count - 1 - i]];
		unsigned char *p = c->tx_buf + i * c->size;
		sl->id = sl->next_id;
		sl->next_id += c->inflight;
		sl->sent_ns = now_ns();
		put_le64(p, sl->id);
		put_le64(p + 8, sl->sent_ns);
	}
	return count;
}

static void send_pending(struct client *c)
{
	while (c->pending_count > 0 && !c->send_blocked) {
		unsigned count = stamp_requests(c);
		int n = sendmmsg(c->fd, c->tx, count, 0);
		if (n < 0) {
			if (errno == ECONNREFUSED) {
				c->refused++; /* reported for an earlier datagram */
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS &&
			    errno != EINTR)
				die_errno("sendmmsg", errno);
			n = 0;
		}
		for (int i = 0; i < n; i++)
			c->slots[c->pending[--c->pending_count]].busy = true;
		if ((unsigned)n < count)
			c->send_blocked = true;
	}
}

static void handle_reply(struct client *c, const unsigned char *p, size_t len,
			 uint64_t now)
{
	if (len < HEADER_BYTES) {
		c->late++;
		return;
	}
	uint64_t id = get_le64(p);
	uint64_t sent = get_le64(p + 8);
	struct slot *sl = &c->slots[id % c->inflight];
	if (!sl->busy || sl->id != id) {
		c->late++; /* answers a request already counted as lost */
		return;
	}
	record_rtt(&c->rtt, now > sent ? now - sent : 0);
	c->round_trips++;
	release_slot(c, sl);
}

static void drain_replies(struct client *c)
{
	for (int b = 0; b < BATCHES_PER_WAKEUP; b++) {
		int n = recvmmsg(c->fd, c->rx, BATCH, 0, NULL);
		if (n < 0) {
			if (errno == ECONNREFUSED) {
				c->refused++;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			die_errno("recvmmsg", errno);
		}
		uint64_t now = now_ns();
		for (int i = 0; i < n; i++)
			handle_reply(c, c->rx_buf + (size_t)i * c->rx_size, c->rx[i].msg_len, now);
		if (n < BATCH)
			return;
	}
}

static void expire_lost(struct client *c, uint64_t now)
{
	for (unsigned s = 0; s < c->inflight; s++) {
		struct slot *sl = &c->slots[s];
		if (sl->busy && now - sl->sent_ns >= LOSS_TIMEOUT_NS) {
			c->lost++;
			release_slot(c, sl);
		}
	}
}

static void wait_for_socket(struct client *c, uint64_t now, uint64_t deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	if (c->send_blocked)
		pfd.events |= POLLOUT;
	struct timespec timeout = timespec_from_ns(deadline > now ? deadline - now : 0);
	if (ppoll(&pfd, 1, &timeout, NULL) < 0) {
		if (errno == EINTR)
			return;
		die_errno("ppoll", errno);
	}
	if (pfd.revents & POLLOUT)
		c->send_blocked = false;
	if (pfd.revents & (POLLIN | POLLERR))
		drain_replies(c);
}

static double run(struct client *c, double duration)
{
	uint64_t start = now_ns();
	uint64_t end = start + (uint64_t)(duration * 1e9);
	uint64_t next_scan = start + LOSS_SCAN_NS;
	uint64_t now;
	while ((now = now_ns()) < end) {
		if (now >= next_scan) {
			expire_lost(c, now);
			next_scan = now + LOSS_SCAN_NS;
		}
		send_pending(c);
		wait_for_socket(c, now, next_scan < end ? next_scan : end);
	}
	c->accepting = false;
	return (double)(now - start) / 1e9;
}

static void write_samples(FILE *out, const char *path, struct samples *rtt)
{
	for (size_t i = 0; i < rtt->count; i++)
		rtt->ns[i] = htole32(rtt->ns[i]);
	if (rtt->count && fwrite(rtt->ns, sizeof(uint32_t), rtt->count, out) != rtt->count)
		die_errno(path, errno);
	if (fclose(out) != 0)
		die_errno(path, errno);
	for (size_t i = 0; i < rtt->count; i++)
		rtt->ns[i] = le32toh(rtt->ns[i]);
}

static int compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* nearest-rank percentile of sorted samples, as JSON microseconds */
static void print_percentile(const char *key, const struct samples *rtt, double q)
{
	if (rtt->count == 0) {
		printf(",\"%s\":null", key);
		return;
	}
	double exact = q * (double)rtt->count;
	size_t rank = (size_t)exact;
	if ((double)rank < exact)
		rank++;
	size_t index = rank > 0 ? rank - 1 : 0;
	printf(",\"%s\":%.3f", key, rtt->ns[index] / 1000.0);
}

int main(int argc, char **argv)
{
	program_usage = "[--host 127.0.0.1] --port N --inflight K --duration SECONDS "
			"[--size 64] [--family 4|6] [--samples FILE]";
	struct config cfg;
	struct endpoint ep;
	static struct client c;
	parse_config(argc, argv, &cfg, &ep);
	FILE *samples_file = NULL;
	if (cfg.samples_path && !(samples_file = fopen(cfg.samples_path, "wb")))
		die_usage("--samples '%s': %s", cfg.samples_path, strerror(errno));
	setup_client(&c, &cfg, &ep);

	double seconds = run(&c, cfg.duration);
	if (samples_file)
		write_samples(samples_file, cfg.samples_path, &c.rtt);
	qsort(c.rtt.ns, c.rtt.count, sizeof(uint32_t), compare_u32);

	printf("{\"roundTrips\":%llu,\"seconds\":%.6f,\"perSecond\":%.1f,\"lost\":%llu",
	       (unsigned long long)c.round_trips, seconds, (double)c.round_trips / seconds,
	       (unsigned long long)c.lost);
	print_percentile("p50Us", &c.rtt, 0.50);
	print_percentile("p99Us", &c.rtt, 0.99);
	print_percentile("p999Us", &c.rtt, 0.999);
	printf(",\"late\":%llu,\"refused\":%llu}\n", (unsigned long long)c.late,
	       (unsigned long long)c.refused);
	return 0;
}
