/* Load generator for the pipeline, resources and policy swap suites: connect() calls on one UDP
 * socket from a workload cgroup inside a network namespace, round robin over the targets given,
 * at a target rate or flat out. A UDP connect() sends nothing, so a refused one is exactly one
 * event and an allowed one costs only the hook and the route lookup.
 *
 *   pipeline_load [-c CGROUP_DIR] [-n NETNS_PATH] [-C CPU] [-r RATE] [-d SECONDS] [-N CALLS]
 *                 ADDR:PORT [ADDR:PORT ...]
 *
 * RATE is calls per second over all targets (0: flat out). Stops after SECONDS or CALLS calls,
 * whichever comes first, or at SIGTERM/SIGINT. Prints one JSON object: per target the calls, how many succeeded, were
 * refused (EPERM) or failed otherwise, and the slowest call; the elapsed time overall. */
#include "placement.h" /* die, now_ns, place_self: shared with the other load generators */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#define MAX_TARGETS 8

struct target {
	const char *spec;
	struct sockaddr_in addr;
	unsigned long long calls, ok, eperm, other, max_ns;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void parse_target(struct target *t, const char *spec)
{
	char host[64];
	const char *colon = strrchr(spec, ':');

	if (!colon || (size_t)(colon - spec) >= sizeof(host)) {
		fprintf(stderr, "pipeline_load: bad target %s (want ADDR:PORT)\n", spec);
		exit(2);
	}
	memcpy(host, spec, colon - spec);
	host[colon - spec] = 0;
	t->spec = spec;
	t->addr.sin_family = AF_INET;
	t->addr.sin_port = htons((unsigned short)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &t->addr.sin_addr) != 1) {
		fprintf(stderr, "pipeline_load: bad address %s\n", host);
		exit(2);
	}
}

/* Sleeps off most of a wait (nanosleep overshoots by tens of microseconds), spins the rest. */
static void wait_until(unsigned long long deadline)
{
	for (;;) {
		unsigned long long now = now_ns();
		if (now >= deadline)
			return;
		if (deadline - now > 200000) {
			struct timespec ts = { 0, (long)(deadline - now - 100000) };
			nanosleep(&ts, NULL);
		}
	}
}

int main(int argc, char **argv)
{
	const char *cgroup = NULL, *netns = NULL;
	int cpu = -1, opt;
	double rate = 0, seconds = 1;
	unsigned long long max_calls = ~0ull;
	struct target targets[MAX_TARGETS];
	int n = 0;

	while ((opt = getopt(argc, argv, "c:n:C:r:d:N:")) != -1) {
		switch (opt) {
		case 'c':
			cgroup = optarg;
			break;
		case 'n':
			netns = optarg;
			break;
		case 'C':
			cpu = atoi(optarg);
			break;
		case 'r':
			rate = atof(optarg);
			break;
		case 'd':
			seconds = atof(optarg);
			break;
		case 'N':
			max_calls = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-c CGROUP] [-n NETNS] [-C CPU] [-r RATE] "
				"[-d SECONDS] [-N CALLS] ADDR:PORT...\n",
				argv[0]);
			return 2;
		}
	}
	for (; optind < argc && n < MAX_TARGETS; optind++)
		parse_target(&targets[n++], argv[optind]);
	if (n == 0) {
		fprintf(stderr, "pipeline_load: no target\n");
		return 2;
	}
	for (int i = 0; i < n; i++)
		targets[i].calls = targets[i].ok = targets[i].eperm = targets[i].other =
			targets[i].max_ns = 0;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	place_self(cgroup, netns, cpu);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");

	const unsigned long long start = now_ns();
	const unsigned long long end = start + (unsigned long long)(seconds * 1e9);
	const double gap_ns = rate > 0 ? 1e9 / rate : 0;
	unsigned long long i = 0, now = start;
	for (; i < max_calls; i++) {
		if (gap_ns > 0)
			wait_until(start + (unsigned long long)(gap_ns * (double)i));
		struct target *t = &targets[i % n];
		unsigned long long t0 = now_ns();
		int rc = connect(fd, (struct sockaddr *)&t->addr, sizeof(t->addr));
		int err = errno;
		now = now_ns();
		t->calls++;
		if (rc == 0)
			t->ok++;
		else if (err == EPERM)
			t->eperm++;
		else
			t->other++;
		if (now - t0 > t->max_ns)
			t->max_ns = now - t0;
		if (now >= end || stop)
			break;
	}
	close(fd);
	unsigned long long total = 0;
	for (int k = 0; k < n; k++)
		total += targets[k].calls;
	printf("{\"elapsed_ns\": %llu, \"calls\": %llu, \"targets\": [", now - start, total);
	for (int k = 0; k < n; k++)
		printf("%s{\"target\": \"%s\", \"calls\": %llu, \"ok\": %llu, \"eperm\": %llu, "
		       "\"other\": %llu, \"max_ns\": %llu}",
		       k ? ", " : "", targets[k].spec, targets[k].calls, targets[k].ok,
		       targets[k].eperm, targets[k].other, targets[k].max_ns);
	printf("]}\n");
	return 0;
}
