/* netloop: the network load generator of bench/suites/net.py. One job per mode, measured after
 * a warm-up, printed as one JSON line.
 *
 *   netloop [placement] connect ADDR PORT   re-connect() one UDP socket (cgroup/connect4)
 *   netloop [placement] sendto ADDR PORT    sendto() 16 bytes on an unconnected UDP socket
 *   netloop [placement] serve PORT          TCP server: echo (rr) or sink (stream) per connection
 *   netloop [placement] rr ADDR PORT        1-byte TCP ping-pong: transactions per second
 *   netloop [placement] stream ADDR PORT    TCP bulk send: Gbit/s
 *
 * placement: --cgroup DIR --netns PATH --cpu N; bounds: --ops N (connect/sendto, default
 * 200000), --seconds S (the time cap of one measurement: connect/sendto stop early when it
 * passes, rr/stream run for it; default 1). The warm-up is a tenth of either bound. */
#include "placement.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

static long g_ops = 200000;
static double g_seconds = 1.0;

static struct sockaddr_in addr_of(const char *ip, const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((unsigned short)atoi(port)) };
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "bad IPv4 address %s\n", ip);
		exit(2);
	}
	return a;
}

struct udp_target {
	int fd;
	int connect_mode;
	struct sockaddr_in dst;
};

static int udp_op(void *arg)
{
	static const char payload[16] = "guardrail-bench";
	const struct udp_target *t = arg;
	const struct sockaddr *sa = (const struct sockaddr *)&t->dst;
	int rc = t->connect_mode ?
			 connect(t->fd, sa, sizeof(t->dst)) :
			 (int)sendto(t->fd, payload, sizeof(payload), 0, sa, sizeof(t->dst));
	return rc < 0 ? errno : 0;
}

static int udp_mode(int connect_mode, const char *ip, const char *port)
{
	struct udp_target t = { socket(AF_INET, SOCK_DGRAM, 0), connect_mode, addr_of(ip, port) };
	if (t.fd < 0)
		die("socket");
	bench_measure(connect_mode ? "connect" : "sendto", udp_op, &t, g_ops, g_seconds);
	return 0;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* The first byte of a connection names its job: 'r' echo every byte back, 's' discard. */
static void serve_connection(int c)
{
	char buf[65536];
	char kind;
	if (read(c, &kind, 1) != 1)
		return;
	for (;;) {
		ssize_t n = read(c, buf, kind == 'r' ? 1 : sizeof(buf));
		if (n <= 0)
			return;
		if (kind == 'r')
			write_all(c, buf, (size_t)n);
	}
}

static int serve_mode(const char *port)
{
	int one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((unsigned short)atoi(port)) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0)
		die("listen");
	printf("READY\n");
	fflush(stdout);
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		serve_connection(c);
		close(c);
	}
	return 0;
}

static int tcp_connect(const char *ip, const char *port, char kind)
{
	struct sockaddr_in dst = addr_of(ip, port);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0)
		die("connect");
	write_all(fd, &kind, 1);
	return fd;
}

/* Ping-pong for `seconds`; returns the transactions done. */
static long rr_loop(int fd, double seconds)
{
	unsigned long long end = now_ns() + (unsigned long long)(seconds * 1e9);
	long done = 0;
	char b = 'x';
	do {
		write_all(fd, &b, 1);
		if (read(fd, &b, 1) != 1)
			die("read");
		++done;
	} while ((done & 15) != 0 || now_ns() < end);
	return done;
}

static int rr_mode(const char *ip, const char *port)
{
	int fd = tcp_connect(ip, port, 'r');
	rr_loop(fd, g_seconds / 10);
	unsigned long long t0 = now_ns();
	long done = rr_loop(fd, g_seconds);
	double elapsed = (double)(now_ns() - t0) / 1e9;
	printf("{\"mode\":\"rr\",\"transactions\":%ld,\"seconds\":%.3f,\"per_second\":%.1f}\n",
	       done, elapsed, (double)done / elapsed);
	close(fd);
	return 0;
}

static unsigned long long stream_loop(int fd, double seconds)
{
	static char buf[131072];
	unsigned long long end = now_ns() + (unsigned long long)(seconds * 1e9);
	unsigned long long bytes = 0;
	while (now_ns() < end) {
		write_all(fd, buf, sizeof(buf));
		bytes += sizeof(buf);
	}
	return bytes;
}

static int stream_mode(const char *ip, const char *port)
{
	int fd = tcp_connect(ip, port, 's');
	stream_loop(fd, g_seconds / 10);
	unsigned long long t0 = now_ns();
	unsigned long long bytes = stream_loop(fd, g_seconds);
	double elapsed = (double)(now_ns() - t0) / 1e9;
	printf("{\"mode\":\"stream\",\"bytes\":%llu,\"seconds\":%.3f,\"gbit_per_second\":%.4f}\n",
	       bytes, elapsed, (double)bytes * 8 / elapsed / 1e9);
	close(fd);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: netloop [--cgroup DIR] [--netns PATH] [--cpu N] [--ops N] "
			"[--seconds S] connect|sendto|rr|stream ADDR PORT | serve PORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *cgroup = NULL, *netns = NULL;
	int cpu = -1, i = 1;
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (!strcmp(argv[i], "--cgroup"))
			cgroup = argv[i + 1];
		else if (!strcmp(argv[i], "--netns"))
			netns = argv[i + 1];
		else if (!strcmp(argv[i], "--cpu"))
			cpu = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--ops"))
			g_ops = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			g_seconds = atof(argv[i + 1]);
		else
			usage();
	}
	if (i >= argc || g_ops <= 0 || g_seconds <= 0)
		usage();
	signal(SIGPIPE, SIG_IGN);
	place_self(cgroup, netns, cpu);
	const char *mode = argv[i];
	int rest = argc - i - 1;
	if (!strcmp(mode, "serve") && rest == 1)
		return serve_mode(argv[i + 1]);
	if (rest != 2)
		usage();
	if (!strcmp(mode, "connect") || !strcmp(mode, "sendto"))
		return udp_mode(!strcmp(mode, "connect"), argv[i + 1], argv[i + 2]);
	if (!strcmp(mode, "rr"))
		return rr_mode(argv[i + 1], argv[i + 2]);
	if (!strcmp(mode, "stream"))
		return stream_mode(argv[i + 1], argv[i + 2]);
	usage();
	return 2;
}
