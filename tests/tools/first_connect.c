// first_connect: new cgroups whose first action is a connect(), for the coverage tests.
// Static, no dependencies: cc -static -O2 -Wall -o first_connect first_connect.c
//
//   first_connect PARENT COUNT MODE HOST PORT
//
// COUNT times: mkdir PARENT/c<i> (a cgroup that did not exist a moment ago), start a process
// directly in it, whose first action is a UDP connect() to HOST:PORT (IPv4), and wait for it.
// MODE says how the process gets into the new cgroup before its first instruction:
//   clone3   clone3(CLONE_INTO_CGROUP): born in it
//   procs    fork(); the child writes its pid to c<i>/cgroup.procs, then connects
// Each cgroup is removed again after its process exited. Prints one JSON line:
//   {"ok": N, "eperm": N, "other": N, "first_other": "ERRNO NAME or step"}
// and exits 0 (2 on a usage or setup error).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

static struct sockaddr_in target;

// The child's whole life: one connect; the exit status is its result.
static int connect_once(void) {
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return 3;
	if (connect(fd, (struct sockaddr *)&target, sizeof(target)) == 0)
		return 0;
	return errno == EPERM ? 1 : 2;
}

static pid_t spawn_clone3(int cgroup_fd) {
	struct clone_args args;
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_INTO_CGROUP;
	args.exit_signal = SIGCHLD;
	args.cgroup = (unsigned long long)cgroup_fd;
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		_exit(connect_once());
	return (pid_t)pid;
}

static pid_t spawn_procs(const char *dir) {
	pid_t pid = fork();
	if (pid == 0) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1)
			_exit(4);
		close(fd);
		_exit(connect_once());
	}
	return pid;
}

static void remove_cgroup(const char *dir) {
	// The exited child leaves the cgroup a moment after it was reaped.
	for (int i = 0; i < 200 && rmdir(dir) != 0 && errno == EBUSY; i++) {
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv) {
	if (argc != 6) {
		fprintf(stderr, "usage: %s PARENT COUNT clone3|procs HOST PORT\n", argv[0]);
		return 2;
	}
	const char *parent = argv[1];
	int count = atoi(argv[2]);
	int clone3_mode = strcmp(argv[3], "clone3") == 0;
	target.sin_family = AF_INET;
	target.sin_port = htons((unsigned short)atoi(argv[5]));
	if (inet_pton(AF_INET, argv[4], &target.sin_addr) != 1) {
		fprintf(stderr, "bad IPv4 address %s\n", argv[4]);
		return 2;
	}
	int ok = 0, eperm = 0, other = 0;
	char first_other[64] = "";
	for (int i = 0; i < count; i++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/c%d", parent, i);
		if (mkdir(dir, 0755) != 0) {
			fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno));
			return 2;
		}
		pid_t pid;
		if (clone3_mode) {
			int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (cg < 0) {
				fprintf(stderr, "open %s: %s\n", dir, strerror(errno));
				return 2;
			}
			pid = spawn_clone3(cg);
			close(cg);
		} else {
			pid = spawn_procs(dir);
		}
		if (pid < 0) {
			fprintf(stderr, "spawn into %s: %s\n", dir, strerror(errno));
			return 2;
		}
		int status = 0;
		waitpid(pid, &status, 0);
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : 100;
		if (code == 0)
			ok++;
		else if (code == 1)
			eperm++;
		else {
			other++;
			if (!first_other[0])
				snprintf(first_other, sizeof(first_other), "exit %d", code);
		}
		remove_cgroup(dir);
	}
	printf("{\"ok\": %d, \"eperm\": %d, \"other\": %d, \"first_other\": \"%s\"}\n", ok, eperm,
	       other, first_other);
	return 0;
}
