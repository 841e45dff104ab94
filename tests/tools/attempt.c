// attempt: one privileged action per run, for the VM guard tests and the integration suite's
// host-guard tests. Static, no dependencies: tests/tools/build-attempt.sh OUT
//
// Every action subcommand prints exactly one line on stdout, "OK" or "ERR <ERRNO NAME>" (the
// errno of the first step that failed), and says which step failed on stderr. Exit status:
// 0 for OK, 1 for ERR, 2 for a usage error. Whatever an action creates (a mount, a socket) is
// undone again when it succeeded, so a test can run it twice.
//
//   raw-socket                 socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
//   packet-socket              socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)
//   net-admin                  ioctl(SIOCSIFFLAGS) on lo with its current flags (CAP_NET_ADMIN)
//   sys-admin                  sethostname(<current name>)                  (CAP_SYS_ADMIN)
//   mount-tmpfs DIR            mount -t tmpfs on DIR
//   bind-mount SRC DIR         mount --bind SRC DIR
//   new-mount-api DIR          fsopen(tmpfs) + fsconfig(CREATE) + fsmount + move_mount to DIR
//   fsmount-detached           fsopen(tmpfs) + fsconfig(CREATE) + fsmount, then a file is created
//                              through the detached mount's fd (no move_mount)
//   open-tree-clone SRC DIR    open_tree(SRC, OPEN_TREE_CLONE) + move_mount to DIR
//   remount DIR                mount(MS_REMOUNT) of the mount at DIR
//   userns-mount DIR           unshare(CLONE_NEWUSER | CLONE_NEWNS), then mount -t tmpfs on DIR
//   connect-unix PATH          connect a unix stream socket to PATH ('@name': abstract)
//   sendto-unix PATH           one datagram from a unix datagram socket to PATH
//   bpf-map-create             bpf(BPF_MAP_CREATE) of a 1-entry array
//   link-get-fd                bpf(BPF_LINK_GET_NEXT_ID), then BPF_LINK_GET_FD_BY_ID of that link
//                              (the first step of `bpftool link detach`)
//   signal SIG PID             kill(PID, SIG) (SIG a number)
//   ptrace-attach PID          ptrace(PTRACE_ATTACH, PID), then wait for the stop and detach
//   open-mem PID               open("/proc/PID/mem", O_RDONLY)
//
//   open-write PATH            open(PATH, O_WRONLY), then close it: nothing is ever written
//   write-file PATH TEXT       open(PATH, O_WRONLY) and write TEXT at its start (only ever used on
//                              the tests' own files)
//   move-self DIR              write our own pid to DIR/cgroup.procs (a cgroup move)
//   move-pid DIR PID           write PID to DIR/cgroup.procs (move another process)
//   clone-into-cgroup DIR      clone3(CLONE_INTO_CGROUP) of a child that exits at once into
//                              the cgroup directory DIR
//
//   ia32 ACTION [ARG...]       the same action through the 32-bit syscall ABI (int $0x80 from
//                              this 64-bit process, which every x86-64 kernel with IA32
//                              emulation accepts): getpid (does the kernel take 32-bit
//                              syscalls at all?), open-write PATH, openat-write PATH,
//                              packet-socket (socketcall), mount-tmpfs DIR, bpf-map-create,
//                              ptrace-seize PID (PTRACE_SEIZE does not stop the tracee; our
//                              exit detaches it)
//
//   serve-unix PATH            listen on a unix stream socket at PATH and accept forever
//   serve-unix-dgram PATH      bind a unix datagram socket at PATH and receive forever
//   run-in-cgroup DIR -- CMD [ARG...]
//                              write our pid to DIR/cgroup.procs, then exec CMD
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

// x86_64 numbers of the new mount API (glibc 2.36 has wrappers, older ones do not).
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#define GR_FSOPEN_CLOEXEC 0x1
#define GR_FSCONFIG_CMD_CREATE 6
#define GR_FSMOUNT_CLOEXEC 0x1
#define GR_MOVE_MOUNT_F_EMPTY_PATH 0x4
#define GR_OPEN_TREE_CLONE 1
#define GR_OPEN_TREE_CLOEXEC O_CLOEXEC

static int ok(void) {
  puts("OK");
  return 0;
}

static int fail(const char* step) {
  int e = errno;
  const char* name = strerrorname_np(e);
  fprintf(stderr, "attempt: %s: %s\n", step, strerror(e));
  if (name)
    printf("ERR %s\n", name);
  else
    printf("ERR %d\n", e);
  return 1;
}

static int do_raw_socket(void) {
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  if (fd < 0) return fail("socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)");
  close(fd);
  return ok();
}

static int do_packet_socket(void) {
  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) return fail("socket(AF_PACKET, SOCK_RAW)");
  close(fd);
  return ok();
}

static int do_net_admin(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket(AF_INET, SOCK_DGRAM)");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) return fail("ioctl(SIOCGIFFLAGS, lo)");
  // Same flags again: no change, but the kernel asks for CAP_NET_ADMIN before looking.
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) return fail("ioctl(SIOCSIFFLAGS, lo)");
  close(fd);
  return ok();
}

static int do_sys_admin(void) {
  char name[256];
  if (gethostname(name, sizeof name) < 0) return fail("gethostname");
  if (sethostname(name, strlen(name)) < 0) return fail("sethostname");
  return ok();
}

static int do_mount_tmpfs(const char* dir) {
  if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") < 0) return fail("mount(tmpfs)");
  umount2(dir, MNT_DETACH);
  return ok();
}

static int do_bind_mount(const char* src, const char* dir) {
  if (mount(src, dir, NULL, MS_BIND, NULL) < 0) return fail("mount(MS_BIND)");
  umount2(dir, MNT_DETACH);
  return ok();
}

static int fs_tmpfs_mount(void) {
  int fs = syscall(SYS_fsopen, "tmpfs", GR_FSOPEN_CLOEXEC);
  if (fs < 0) return fail("fsopen(tmpfs)"), -1;
  if (syscall(SYS_fsconfig, fs, GR_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return fail("fsconfig(FSCONFIG_CMD_CREATE)"), -1;
  int mfd = syscall(SYS_fsmount, fs, GR_FSMOUNT_CLOEXEC, 0);
  if (mfd < 0) return fail("fsmount"), -1;
  close(fs);
  return mfd;
}

static int do_new_mount_api(const char* dir) {
  int mfd = fs_tmpfs_mount();
  if (mfd < 0) return 1;
  if (syscall(SYS_move_mount, mfd, "", AT_FDCWD, dir, GR_MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return fail("move_mount");
  close(mfd);
  umount2(dir, MNT_DETACH);
  return ok();
}

static int do_fsmount_detached(void) {
  int mfd = fs_tmpfs_mount();
  if (mfd < 0) return 1;
  int f = openat(mfd, "written-through-detached-mount", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (f < 0) return fail("openat(detached mount fd, O_CREAT)");
  if (write(f, "x\n", 2) != 2) return fail("write");
  close(f);
  close(mfd);
  return ok();
}

static int do_open_tree_clone(const char* src, const char* dir) {
  int t = syscall(SYS_open_tree, AT_FDCWD, src, GR_OPEN_TREE_CLONE | GR_OPEN_TREE_CLOEXEC);
  if (t < 0) return fail("open_tree(OPEN_TREE_CLONE)");
  if (syscall(SYS_move_mount, t, "", AT_FDCWD, dir, GR_MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return fail("move_mount");
  close(t);
  umount2(dir, MNT_DETACH);
  return ok();
}

static int do_remount(const char* dir) {
  if (mount(NULL, dir, NULL, MS_REMOUNT, "size=2m") < 0) return fail("mount(MS_REMOUNT)");
  return ok();
}

static int do_userns_mount(const char* dir) {
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) return fail("unshare(CLONE_NEWUSER|CLONE_NEWNS)");
  // The mount lands in this process's private mount namespace and goes away with it.
  if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") < 0) return fail("mount(tmpfs) in the new userns");
  return ok();
}

// PATH, or '@name' for an abstract socket (sun_path[0] == 0, the name's exact length).
static int unix_addr(const char* path, struct sockaddr_un* a, socklen_t* len) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof a->sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(a->sun_path, path);
  *len = sizeof *a;
  if (path[0] == '@') {
    a->sun_path[0] = 0;
    *len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
  }
  return 0;
}

static int do_connect_unix(const char* path) {
  struct sockaddr_un a;
  socklen_t len;
  if (unix_addr(path, &a, &len) < 0) return fail("socket path");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket(AF_UNIX)");
  if (connect(fd, (struct sockaddr*)&a, len) < 0) return fail("connect");
  close(fd);
  return ok();
}

// One datagram to PATH (sendto: unix_may_send on the LSM backend).
static int do_sendto_unix(const char* path) {
  struct sockaddr_un a;
  socklen_t len;
  if (unix_addr(path, &a, &len) < 0) return fail("socket path");
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket(AF_UNIX, SOCK_DGRAM)");
  if (sendto(fd, "x", 1, 0, (struct sockaddr*)&a, len) < 0) return fail("sendto");
  close(fd);
  return ok();
}

static int serve(const char* path, int type) {
  struct sockaddr_un a;
  socklen_t len;
  if (unix_addr(path, &a, &len) < 0) return fail("socket path");
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket(AF_UNIX)");
  if (path[0] != '@') unlink(path);
  if (bind(fd, (struct sockaddr*)&a, len) < 0) return fail("bind");
  if (type == SOCK_STREAM && listen(fd, 64) < 0) return fail("listen");
  ok();
  fflush(stdout);
  char buf[64];
  for (;;) {
    if (type == SOCK_DGRAM) {
      if (recv(fd, buf, sizeof buf, 0) < 0 && errno != EINTR) return fail("recv");
      continue;
    }
    int c = accept(fd, NULL, NULL);
    if (c >= 0) close(c);
  }
}

static int do_serve_unix(const char* path) { return serve(path, SOCK_STREAM); }
static int do_serve_unix_dgram(const char* path) { return serve(path, SOCK_DGRAM); }

static int do_bpf_map_create(void) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  int fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
  if (fd < 0) return fail("bpf(BPF_MAP_CREATE)");
  close(fd);
  return ok();
}

/* The first step of detaching someone's link: find one by id and get an fd to it (what
 * `bpftool link detach id N` does before BPF_LINK_DETACH). Closes the fd again: detaching the
 * agent's link from outside every workload would disturb the tests that follow. */
static int do_link_get_fd(void) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  if (syscall(SYS_bpf, BPF_LINK_GET_NEXT_ID, &attr, sizeof attr) != 0)
    return fail("bpf(BPF_LINK_GET_NEXT_ID)");
  __u32 id = attr.next_id;
  memset(&attr, 0, sizeof attr);
  attr.link_id = id;
  int fd = syscall(SYS_bpf, BPF_LINK_GET_FD_BY_ID, &attr, sizeof attr);
  if (fd < 0) return fail("bpf(BPF_LINK_GET_FD_BY_ID)");
  close(fd);
  return ok();
}

/* The agent's own process as a target (lsm/task_kill, lsm/ptrace_access_check). */
static int do_signal(const char* sig, const char* pid) {
  if (kill(atoi(pid), atoi(sig)) != 0) return fail("kill");
  return ok();
}

/* Attach stops the tracee: wait for that stop, then detach at once, so that an attach that
 * works (from outside every workload) leaves the agent running. */
static int do_ptrace_attach(const char* pid_text) {
  pid_t pid = atoi(pid_text);
  if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) != 0) return fail("ptrace(PTRACE_ATTACH)");
  int status;
  waitpid(pid, &status, __WALL);
  if (ptrace(PTRACE_DETACH, pid, NULL, NULL) != 0) return fail("ptrace(PTRACE_DETACH)");
  return ok();
}

static int do_open_mem(const char* pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/mem", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("open /proc/PID/mem");
  close(fd);
  return ok();
}

static int do_open_write(const char* path) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail("open for write");
  close(fd);
  return ok();
}

static int do_write_file(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail("open for write");
  ssize_t n = (ssize_t)strlen(text);
  if (write(fd, text, (size_t)n) != n) return fail("write");
  close(fd);
  return ok();
}

static int do_move_pid(const char* dir, int target) {
  char path[4096], pid[32];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail("open cgroup.procs");
  int n = snprintf(pid, sizeof pid, "%d\n", target);
  if (write(fd, pid, n) != n) return fail("write cgroup.procs");
  close(fd);
  return ok();
}

static int do_move_self(const char* dir) { return do_move_pid(dir, (int)getpid()); }

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

static int do_clone_into_cgroup(const char* dir) {
  int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) return fail("open cgroup directory");
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = (unsigned long long)cg;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) return fail("clone3");
  if (pid == 0) _exit(0);
  waitpid((pid_t)pid, NULL, 0);
  close(cg);
  return ok();
}

static int do_run_in_cgroup(const char* dir, char** cmd) {
  char path[4096], pid[32];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "attempt: open %s: %s\n", path, strerror(errno));
    return 2;
  }
  int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  if (write(fd, pid, n) != n) {
    fprintf(stderr, "attempt: write %s: %s\n", path, strerror(errno));
    return 2;
  }
  close(fd);
  execvp(cmd[0], cmd);
  fprintf(stderr, "attempt: exec %s: %s\n", cmd[0], strerror(errno));
  return 127;
}

/* ---- The 32-bit syscall ABI ------------------------------------------------------------
 * int $0x80 takes its number in eax and up to five arguments in ebx, ecx, edx, esi and edi, all
 * 32-bit: every pointer must lie below 4 GiB, so strings are copied to a MAP_32BIT page. */
#define IA32_OPEN 5
#define IA32_GETPID 20
#define IA32_MOUNT 21
#define IA32_PTRACE 26
#define IA32_SOCKETCALL 102
#define IA32_OPENAT 295
#define IA32_BPF 357
#define IA32_SYS_SOCKET 1

static long ia32_syscall(long nr, long a, long b, long c, long d, long e) {
  long ret;
  __asm__ volatile("int $0x80"
                   : "=a"(ret)
                   : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                   : "memory");
  if (ret < 0 && ret > -4096) {
    errno = (int)-ret;
    return -1;
  }
  return ret;
}

static char* low_page(void) {
  static char* page;
  if (!page) {
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (page == MAP_FAILED) page = NULL;
  }
  return page;
}

/* `text` copied to the low page at `offset`, as a 32-bit address (0 when it does not fit). */
static long low_string(const char* text, size_t offset) {
  char* page = low_page();
  if (!page || offset + strlen(text) + 1 > 4096) return 0;
  strcpy(page + offset, text);
  return (long)(unsigned long)(page + offset);
}

static int ia32_open_write(const char* path, int at) {
  long p = low_string(path, 0);
  if (!p) return fail("map a page below 4 GiB");
  long fd = at ? ia32_syscall(IA32_OPENAT, (unsigned)AT_FDCWD, p, O_WRONLY | O_CLOEXEC, 0, 0)
               : ia32_syscall(IA32_OPEN, p, O_WRONLY | O_CLOEXEC, 0, 0, 0);
  if (fd < 0) return fail(at ? "ia32 openat for write" : "ia32 open for write");
  close((int)fd);
  return ok();
}

static int ia32_packet_socket(void) {
  char* page = low_page();
  if (!page) return fail("map a page below 4 GiB");
  unsigned* args = (unsigned*)page;
  args[0] = AF_PACKET;
  args[1] = SOCK_RAW;
  args[2] = htons(ETH_P_ALL);
  long fd = ia32_syscall(IA32_SOCKETCALL, IA32_SYS_SOCKET, (long)(unsigned long)args, 0, 0, 0);
  if (fd < 0) return fail("ia32 socketcall(SYS_SOCKET, AF_PACKET)");
  close((int)fd);
  return ok();
}

static int ia32_mount_tmpfs(const char* dir) {
  long src = low_string("tmpfs", 0), fstype = low_string("tmpfs", 16), target = low_string(dir, 32);
  if (!src || !fstype || !target) return fail("map a page below 4 GiB");
  if (ia32_syscall(IA32_MOUNT, src, target, fstype, 0, 0) != 0) return fail("ia32 mount tmpfs");
  umount2(dir, MNT_DETACH);
  return ok();
}

static int ia32_bpf_map_create(void) {
  char* page = low_page();
  if (!page) return fail("map a page below 4 GiB");
  union bpf_attr* attr = (union bpf_attr*)page;
  memset(attr, 0, sizeof *attr);
  attr->map_type = BPF_MAP_TYPE_ARRAY;
  attr->key_size = 4;
  attr->value_size = 4;
  attr->max_entries = 1;
  long fd = ia32_syscall(IA32_BPF, BPF_MAP_CREATE, (long)(unsigned long)attr, sizeof *attr, 0, 0);
  if (fd < 0) return fail("ia32 bpf(BPF_MAP_CREATE)");
  close((int)fd);
  return ok();
}

static int ia32_ptrace_seize(const char* pid_text) {
  if (ia32_syscall(IA32_PTRACE, PTRACE_SEIZE, atoi(pid_text), 0, 0, 0) != 0)
    return fail("ia32 ptrace(PTRACE_SEIZE)");
  return ok();
}

static int do_ia32(const char* c, int n, char** a) {
  if (!strcmp(c, "getpid") && n == 0)
    return ia32_syscall(IA32_GETPID, 0, 0, 0, 0, 0) == getpid() ? ok() : fail("ia32 getpid");
  if (!strcmp(c, "open-write") && n == 1) return ia32_open_write(a[0], 0);
  if (!strcmp(c, "openat-write") && n == 1) return ia32_open_write(a[0], 1);
  if (!strcmp(c, "packet-socket") && n == 0) return ia32_packet_socket();
  if (!strcmp(c, "mount-tmpfs") && n == 1) return ia32_mount_tmpfs(a[0]);
  if (!strcmp(c, "bpf-map-create") && n == 0) return ia32_bpf_map_create();
  if (!strcmp(c, "ptrace-seize") && n == 1) return ia32_ptrace_seize(a[0]);
  return -1;
}

static int usage(void) {
  fprintf(stderr,
          "usage: attempt raw-socket | packet-socket | net-admin | sys-admin | mount-tmpfs DIR |\n"
          "       bind-mount SRC DIR | new-mount-api DIR | fsmount-detached |\n"
          "       open-tree-clone SRC DIR | remount DIR | userns-mount DIR | connect-unix PATH |\n"
          "       sendto-unix PATH | bpf-map-create | link-get-fd | serve-unix PATH |\n"
          "       serve-unix-dgram PATH | signal SIG PID | ptrace-attach PID | open-mem PID |\n"
          "       open-write PATH | write-file PATH TEXT | move-self DIR | move-pid DIR PID |\n"
          "       clone-into-cgroup DIR | ia32 ACTION [ARG...] |\n"
          "       run-in-cgroup DIR -- CMD [ARG...]\n");
  return 2;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) return usage();
  const char* c = argv[1];
  int n = argc - 2;
  char** a = argv + 2;
  if (!strcmp(c, "raw-socket") && n == 0) return do_raw_socket();
  if (!strcmp(c, "packet-socket") && n == 0) return do_packet_socket();
  if (!strcmp(c, "net-admin") && n == 0) return do_net_admin();
  if (!strcmp(c, "sys-admin") && n == 0) return do_sys_admin();
  if (!strcmp(c, "mount-tmpfs") && n == 1) return do_mount_tmpfs(a[0]);
  if (!strcmp(c, "bind-mount") && n == 2) return do_bind_mount(a[0], a[1]);
  if (!strcmp(c, "new-mount-api") && n == 1) return do_new_mount_api(a[0]);
  if (!strcmp(c, "fsmount-detached") && n == 0) return do_fsmount_detached();
  if (!strcmp(c, "open-tree-clone") && n == 2) return do_open_tree_clone(a[0], a[1]);
  if (!strcmp(c, "remount") && n == 1) return do_remount(a[0]);
  if (!strcmp(c, "userns-mount") && n == 1) return do_userns_mount(a[0]);
  if (!strcmp(c, "connect-unix") && n == 1) return do_connect_unix(a[0]);
  if (!strcmp(c, "sendto-unix") && n == 1) return do_sendto_unix(a[0]);
  if (!strcmp(c, "bpf-map-create") && n == 0) return do_bpf_map_create();
  if (!strcmp(c, "link-get-fd") && n == 0) return do_link_get_fd();
  if (!strcmp(c, "signal") && n == 2) return do_signal(a[0], a[1]);
  if (!strcmp(c, "ptrace-attach") && n == 1) return do_ptrace_attach(a[0]);
  if (!strcmp(c, "open-mem") && n == 1) return do_open_mem(a[0]);
  if (!strcmp(c, "serve-unix") && n == 1) return do_serve_unix(a[0]);
  if (!strcmp(c, "serve-unix-dgram") && n == 1) return do_serve_unix_dgram(a[0]);
  if (!strcmp(c, "open-write") && n == 1) return do_open_write(a[0]);
  if (!strcmp(c, "write-file") && n == 2) return do_write_file(a[0], a[1]);
  if (!strcmp(c, "move-self") && n == 1) return do_move_self(a[0]);
  if (!strcmp(c, "move-pid") && n == 2) return do_move_pid(a[0], atoi(a[1]));
  if (!strcmp(c, "clone-into-cgroup") && n == 1) return do_clone_into_cgroup(a[0]);
  if (!strcmp(c, "ia32") && n >= 1) {
    int rc = do_ia32(a[0], n - 1, a + 1);
    if (rc >= 0) return rc;
  }
  if (!strcmp(c, "run-in-cgroup") && n >= 3 && !strcmp(a[1], "--"))
    return do_run_in_cgroup(a[0], a + 2);
  return usage();
}
