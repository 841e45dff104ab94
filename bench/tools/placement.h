/* Shared by the load generators: put the calling process where a benchmark arm runs (a cgroup,
 * a network namespace, one CPU) before it measures, and a monotonic clock in nanoseconds.
 * Joining here, not through `ip netns exec`, keeps /sys as it is (see shared/KERNEL.md). */
#ifndef BENCH_PLACEMENT_H
#define BENCH_PLACEMENT_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline void die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	exit(2);
}

static inline unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/* cgroup: a cgroup v2 directory or NULL; netns: a /run/netns/NAME path or NULL; cpu: -1 for any. */
static inline void place_self(const char *cgroup, const char *netns, int cpu)
{
	if (cgroup && *cgroup) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
		FILE *f = fopen(path, "w");
		if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f) != 0)
			die(path);
	}
	if (netns && *netns) {
		int fd = open(netns, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) != 0)
			die(netns);
		close(fd);
	}
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			die("sched_setaffinity");
	}
}

/* One operation of a load generator: 0 on success, else the errno. */
typedef int (*bench_op)(void *arg);

/* Up to `ops` calls of op or until `limit_ns` passes (the clock read every 32 calls); returns
 * the calls made, counting failures in *errors and the last errno in *last. */
static inline long bench_loop(bench_op op, void *arg, long ops, unsigned long long limit_ns,
			      long *errors, int *last)
{
	unsigned long long start = now_ns();
	long done = 0;
	while (done < ops) {
		int err = op(arg);
		if (err) {
			++*errors;
			*last = err;
		}
		++done;
		if ((done & 31) == 0 && now_ns() - start > limit_ns)
			break;
	}
	return done;
}

/* A warm-up of a tenth of both bounds, then the measured loop; prints one JSON line. */
static inline void bench_measure(const char *mode, bench_op op, void *arg, long ops, double seconds)
{
	long errors = 0;
	int last = 0;
	unsigned long long limit = (unsigned long long)(seconds * 1e9);
	bench_loop(op, arg, ops / 10 + 1, limit / 10, &errors, &last);
	errors = 0;
	unsigned long long t0 = now_ns();
	long done = bench_loop(op, arg, ops, limit, &errors, &last);
	unsigned long long elapsed = now_ns() - t0;
	printf("{\"mode\":\"%s\",\"ops\":%ld,\"ns_per_op\":%.1f,\"errors\":%ld,\"errno\":\"%s\"}\n",
	       mode, done, (double)elapsed / (double)done, errors,
	       errors ? strerrorname_np(last) : "");
}

#endif
