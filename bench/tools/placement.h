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

#endif
