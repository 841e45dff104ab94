/* sysloop: the host-syscall load generator of bench/suites/syscalls.py: ns per call of one
 * syscall the host guards hook, after a warm-up, printed as one JSON line.
 *
 *   sysloop [--cgroup DIR] [--cpu N] [--ops N] [--seconds S] MODE
 *
 * MODE: mount-bind-fail  mount(MS_BIND) of a missing source (ENOENT; sys_enter_mount runs first)
 *       mount-tmpfs      mount a tmpfs and umount it, in a private mount namespace
 *       raw-socket       socket(AF_INET, SOCK_RAW) (+close when it is made): CAP_NET_RAW check
 *                        and cgroup/sock_create
 *       udp-socket       socket(AF_INET, SOCK_DGRAM) + close: sock_create, sys_enter_socket
 *       sethostname      sethostname() in a private UTS namespace: a CAP_SYS_ADMIN check
 *       open-close       open(O_RDONLY)+close of a host file: the sys_exit_open* tracepoints
 *       getppid          an unhooked syscall (the reference) */
#include "placement.h"

#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static char g_tmpfs_dir[] = "/tmp/guardrail-bench-mnt-XXXXXX";

typedef int (*op_fn)(void);

static int call_op(void *arg)
{
	return (*(op_fn *)arg)();
}

static int rc_of(long rc)
{
	return rc < 0 ? errno : 0;
}

static int op_mount_bind_fail(void)
{
	return rc_of(mount("/nonexistent/guardrail-bench", "/tmp", NULL, MS_BIND, NULL));
}

static int op_mount_tmpfs(void)
{
	if (mount("bench", g_tmpfs_dir, "tmpfs", 0, "size=64k") != 0)
		return errno;
	return rc_of(umount2(g_tmpfs_dir, 0));
}

static int op_raw_socket(void)
{
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int op_udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int op_sethostname(void)
{
	return rc_of(sethostname("guardrail-bench", 15));
}

static int op_open_close(void)
{
	int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int op_getppid(void)
{
	return rc_of(syscall(SYS_getppid));
}

int main(int argc, char **argv)
{
	const char *cgroup = NULL;
	int cpu = -1, i = 1;
	long ops = 200000;
	double seconds = 1.0;
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (!strcmp(argv[i], "--cgroup"))
			cgroup = argv[i + 1];
		else if (!strcmp(argv[i], "--cpu"))
			cpu = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--ops"))
			ops = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[i + 1]);
		else
			break;
	}
	if (i != argc - 1 || ops <= 0 || seconds <= 0) {
		fprintf(stderr,
			"usage: sysloop [--cgroup DIR] [--cpu N] [--ops N] [--seconds S] MODE\n");
		return 2;
	}
	const char *mode = argv[i];
	static const struct {
		const char *name;
		op_fn op;
	} modes[] = { { "mount-bind-fail", op_mount_bind_fail },
		      { "mount-tmpfs", op_mount_tmpfs },
		      { "raw-socket", op_raw_socket },
		      { "udp-socket", op_udp_socket },
		      { "sethostname", op_sethostname },
		      { "open-close", op_open_close },
		      { "getppid", op_getppid } };
	op_fn op = NULL;
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); ++m)
		if (!strcmp(modes[m].name, mode))
			op = modes[m].op;
	if (!op) {
		fprintf(stderr, "sysloop: unknown mode %s\n", mode);
		return 2;
	}
	/* Private namespaces first (outside the timed loop), so nothing leaks to the host. */
	if (op == op_mount_tmpfs) {
		if (unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
			die("private mount namespace");
		if (!mkdtemp(g_tmpfs_dir))
			die("mkdtemp");
	}
	if (op == op_sethostname && unshare(CLONE_NEWUTS) != 0)
		die("private UTS namespace");
	place_self(cgroup, NULL, cpu);
	bench_measure(mode, call_op, &op, ops, seconds);
	if (op == op_mount_tmpfs)
		rmdir(g_tmpfs_dir);
	return 0;
}
