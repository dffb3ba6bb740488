/* Shared helpers for the benchmark peer programs: option parsing, addresses,
 * clocks, and the harness's stdin line protocol. Header-only so each program
 * stays a single translation unit. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

#define MAX_UDP_PAYLOAD_V4 65507
#define MAX_UDP_PAYLOAD_V6 65527

static const char *program_name = "bench";
static const char *program_usage = "";

__attribute__((noreturn, format(printf, 1, 2)))
static inline void die_usage(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", program_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s %s\n", program_name, program_usage);
	exit(EXIT_USAGE);
}

__attribute__((noreturn, format(printf, 1, 2)))
static inline void die_runtime(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", program_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_RUNTIME);
}

/* perror-style fatal error for a failed system call (errno or -ret). */
__attribute__((noreturn))
static inline void die_errno(const char *what, int err)
{
	die_runtime("%s: %s", what, strerror(err));
}

/* ---- options: "--name value" pairs ---- */

enum opt_kind { OPT_UINT, OPT_REAL, OPT_TEXT };

struct opt {
	const char *name; /* without the leading "--" */
	enum opt_kind kind;
	void *value;      /* uint64_t *, double * or const char ** */
	double min, max;  /* inclusive bounds for OPT_UINT and OPT_REAL */
	bool required;
	bool seen;
};

static inline void parse_uint(struct opt *o, const char *text)
{
	char *end;
	errno = 0;
	if (text[0] < '0' || text[0] > '9')
		die_usage("--%s wants a non-negative integer, got '%s'", o->name, text);
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || *end != '\0')
		die_usage("--%s wants a non-negative integer, got '%s'", o->name, text);
	if ((double)v < o->min || (double)v > o->max)
		die_usage("--%s must be between %.0f and %.0f, got %s", o->name, o->min,
			  o->max, text);
	*(uint64_t *)o->value = v;
}

static inline void parse_real(struct opt *o, const char *text)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || *end != '\0' || end == text || !isfinite(v))
		die_usage("--%s wants a number, got '%s'", o->name, text);
	if (v < o->min || v > o->max)
		die_usage("--%s must be between %g and %g, got %s", o->name, o->min, o->max,
			  text);
	*(double *)o->value = v;
}

static inline void parse_options(int argc, char **argv, struct opt *opts, size_t count)
{
	program_name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	for (int i = 1; i < argc; i += 2) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			printf("usage: %s %s\n", program_name, program_usage);
			exit(0);
		}
		if (strncmp(arg, "--", 2) != 0)
			die_usage("unexpected argument '%s'", arg);
		struct opt *o = NULL;
		for (size_t k = 0; k < count; k++)
			if (strcmp(opts[k].name, arg + 2) == 0)
				o = &opts[k];
		if (!o)
			die_usage("unknown option '%s'", arg);
		if (o->seen)
			die_usage("option '%s' given twice", arg);
		if (i + 1 >= argc)
			die_usage("option '%s' needs a value", arg);
		o->seen = true;
		const char *text = argv[i + 1];
		if (o->kind == OPT_UINT)
			parse_uint(o, text);
		else if (o->kind == OPT_REAL)
			parse_real(o, text);
		else if (text[0] == '\0')
			die_usage("option '%s' needs a non-empty value", arg);
		else
			*(const char **)o->value = text;
	}
	for (size_t k = 0; k < count; k++)
		if (opts[k].required && !opts[k].seen)
			die_usage("missing required option --%s", opts[k].name);
}

/* ---- addresses ---- */

struct endpoint {
	struct sockaddr_storage addr;
	socklen_t len;
	int family; /* AF_INET or AF_INET6 */
};

/* family_opt is 0 (infer from host), 4 or 6; host NULL means the loopback of
 * that family. Bad input is a usage error. */
static inline void resolve_endpoint(const char *host, uint64_t family_opt, uint64_t port,
			     struct endpoint *ep)
{
	if (family_opt != 0 && family_opt != 4 && family_opt != 6)
		die_usage("--family must be 4 or 6");
	if (family_opt == 0)
		family_opt = host && strchr(host, ':') ? 6 : 4;
	if (!host)
		host = family_opt == 6 ? "::1" : "127.0.0.1";
	memset(ep, 0, sizeof(*ep));
	if (family_opt == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ep->addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			die_usage("--host '%s' is not an IPv4 address (family 4)", host);
		ep->len = sizeof(*sin);
		ep->family = AF_INET;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ep->addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			die_usage("--host '%s' is not an IPv6 address (family 6)", host);
		ep->len = sizeof(*sin6);
		ep->family = AF_INET6;
	}
}

static inline int max_payload(const struct endpoint *ep)
{
	return ep->family == AF_INET6 ? MAX_UDP_PAYLOAD_V6 : MAX_UDP_PAYLOAD_V4;
}

static inline int udp_socket(const struct endpoint *ep)
{
	int fd = socket(ep->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die_errno("socket", errno);
	return fd;
}

#define SOCKET_BUFFER_BYTES (4 << 20)

/* Asks for big socket buffers so bursts are not dropped by the peer programs
 * themselves; the kernel clamps to net.core.{r,w}mem_max, which is accepted.
 * A receive size of 0 leaves the receive buffer at net.core.rmem_default. */
static inline void set_socket_buffers_sized(int fd, int rcvbuf)
{
	int size = SOCKET_BUFFER_BYTES;
	if (rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		die_errno("setsockopt(SO_RCVBUF)", errno);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) < 0)
		die_errno("setsockopt(SO_SNDBUF)", errno);
}

static inline void set_socket_buffers(int fd)
{
	set_socket_buffers_sized(fd, SOCKET_BUFFER_BYTES);
}

static inline void bind_endpoint(int fd, const struct endpoint *ep)
{
	int one = 1;
	if (ep->family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		die_errno("setsockopt(IPV6_V6ONLY)", errno);
	if (bind(fd, (const struct sockaddr *)&ep->addr, ep->len) < 0)
		die_errno("bind", errno);
}

static inline unsigned bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		die_errno("getsockname", errno);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- clocks ---- */

#define NSEC_PER_SEC 1000000000ULL

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline struct timespec timespec_from_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / NSEC_PER_SEC),
			       .tv_nsec = (long)(ns % NSEC_PER_SEC) };
	return ts;
}

static inline uint64_t timeval_us(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000ULL + (uint64_t)tv.tv_usec;
}

/* little-endian 64-bit field at an arbitrary (unaligned) address */
static inline void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* ---- the harness's stdin protocol: "start" / "progress" / "stop" lines ---- */

enum command { CMD_NONE, CMD_START, CMD_STOP, CMD_PROGRESS };

struct line_reader {
	char buf[4096];
	size_t len;
	bool eof;
};

/* One read(2) from fd 0 (the caller knows it is readable), then the first
 * complete command found. EOF counts as "stop": a harness that went away must
 * not leave a receiver running forever. Call again while it returns
 * something other than CMD_NONE to consume buffered lines. */
static inline enum command read_command(struct line_reader *lr, bool do_read)
{
	if (do_read && !lr->eof) {
		if (lr->len == sizeof(lr->buf))
			lr->len = 0; /* a line longer than the buffer: drop it */
		ssize_t n = read(0, lr->buf + lr->len, sizeof(lr->buf) - lr->len);
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			die_errno("read(stdin)", errno);
		if (n == 0)
			lr->eof = true;
		if (n > 0)
			lr->len += (size_t)n;
	}
	char *nl;
	while ((nl = memchr(lr->buf, '\n', lr->len))) {
		size_t line_len = (size_t)(nl - lr->buf);
		if (line_len > 0 && lr->buf[line_len - 1] == '\r')
			line_len--;
		enum command cmd = CMD_NONE;
		if (line_len == 5 && memcmp(lr->buf, "start", 5) == 0)
			cmd = CMD_START;
		else if (line_len == 4 && memcmp(lr->buf, "stop", 4) == 0)
			cmd = CMD_STOP;
		else if (line_len == 8 && memcmp(lr->buf, "progress", 8) == 0)
			cmd = CMD_PROGRESS;
		else if (line_len > 0)
			fprintf(stderr, "%s: ignoring unknown command '%.*s'\n", program_name,
				(int)line_len, lr->buf);
		size_t consumed = (size_t)(nl - lr->buf) + 1;
		memmove(lr->buf, lr->buf + consumed, lr->len - consumed);
		lr->len -= consumed;
		if (cmd != CMD_NONE)
			return cmd;
	}
	return lr->eof ? CMD_STOP : CMD_NONE;
}

static inline void print_ready(unsigned port)
{
	printf("{\"ready\":true,\"port\":%u}\n", port);
	fflush(stdout);
}

#endif
