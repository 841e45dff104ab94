// choose_backends(): the design's enforcement-backend table as a pure function of the features.
#include <algorithm>
#include <string>
#include <vector>

#include "guardrail/probe/probe.hpp"

namespace guardrail::probe {
namespace {

constexpr const char* kPrevention = "prevention";
constexpr const char* kNone = "none";

class Available {
 public:
  explicit Available(const std::vector<Feature>& features) : features_(features) {}
  bool operator()(std::string_view name) const {
    return std::ranges::any_of(features_,
                               [&](const Feature& f) { return f.name == name && f.available; });
  }

 private:
  const std::vector<Feature>& features_;
};

std::string kill_guarantee(const Available& has) {
  // Without bpf_send_signal the fallback can only report.
  return has("bpf_send_signal") ? "detection (+kill)" : "detection";
}

std::string kill_clause(const Available& has) {
  return has("bpf_send_signal") ? "the caller can be killed, but"
                                : "bpf_send_signal is refused too, so the caller cannot even be "
                                  "killed, and";
}

// A detection-only fallback: `what` is only observed at `hook`, and `consequence` follows.
GuardBackend observed(Guard guard, Backend backend, const Available& has, const std::string& what,
                      const std::string& hook, const std::string& consequence) {
  return {guard, backend, kill_guarantee(has),
          "BPF-LSM unavailable: " + what + " are only observed (" + hook + "); " +
              kill_clause(has) + " " + consequence};
}

// The fallback's cgroup programs can be detached like the network guard's (see kInterruptible).
constexpr const char* kCgroupInterruptible =
    "A privileged workload can detach this cgroup program until the agent re-attaches it "
    "(see the network guard).";

GuardBackend raw_sockets_fallback(const Available& has) {
  return {Guard::RawSockets, Backend::CgroupSock,
          has("tracepoint") ? "prevention (raw inet); " + kill_guarantee(has) + " (packet)"
                            : std::string("prevention (raw inet); none (packet)"),
          "BPF-LSM unavailable: cgroup/sock_create denies raw inet and inet6 sockets; the kernel "
          "does not run it for packet (AF_PACKET) sockets, which are only observed at socket() "
          "(tp_btf/sys_exit of socket and ia32 socketcall); " +
              kill_clause(has) + " the socket is still created. " + kCgroupInterruptible};
}

GuardBackend runtime_sockets_fallback(const Available&) {
  return {Guard::RuntimeSockets, Backend::CgroupConnectUnix, "prevention (by address)",
          "BPF-LSM unavailable: cgroup/connect_unix and cgroup/sendmsg_unix judge the unix address "
          "the client passes and never see the peer socket. mode: allowlist fails closed (only "
          "the listed spellings pass; abstract sockets only as a listed @name). mode: denylist "
          "refuses the listed paths and every path not absolute and canonical, but a symlink, "
          "hard link or bind mount under another canonical name is not recognised. Unix sockets "
          "between two workloads are not told apart (no unix_socket alerts): only the "
          "allowlist stands between them; fd passing of a connected socket is never seen. " +
              std::string(kCgroupInterruptible)};
}

GuardBackend capabilities_fallback(const Available& has) {
  return observed(Guard::Capabilities, Backend::TpBtf, has, "capability checks",
                  "tp_btf/cap_capable", "the check is not denied.");
}

GuardBackend mounts_fallback(const Available& has) {
  return observed(Guard::Mounts, Backend::Tracepoint, has, "mount syscalls",
                  "tp_btf/sys_exit: mount, fsmount, move_mount, open_tree",
                  "the mount may still happen.");
}

GuardBackend bpf_fallback(const Available& has) {
  return observed(Guard::Bpf, Backend::Tracepoint, has, "bpf() calls", "tp_btf/sys_exit",
                  "the call may still succeed.");
}

GuardBackend host_writes_fallback(const Available& has) {
  return observed(Guard::HostWrites, Backend::Tracepoint, has, "write opens of host files",
                  "tp_btf/sys_exit of open, openat, openat2 and creat, judged by the opened file",
                  "the file is open for write (SIGKILL lands before the caller can write through "
                  "the fd, unless another thread holds it; a truncating open has truncated). "
                  "Opens through io_uring are not seen.");
}

GuardBackend cgroups_fallback(const Available& has) {
  return observed(Guard::Cgroups, Backend::TpBtf, has,
                  "cgroupfs writes and moves out of the workload",
                  "tp_btf/sys_exit of the opens for the file, tp_btf/cgroup_attach_task for the "
                  "move, tp_btf/sys_exit of clone3 for CLONE_INTO_CGROUP",
                  "the write or move may still happen (a write open is killed before it can "
                  "write, a move is seen once made).");
}

GuardBackend agent_fallback(const Available& has) {
  return {Guard::Agent, Backend::TpBtf, kill_guarantee(has),
          "BPF-LSM unavailable: signals and ptrace access from workloads to the agent are only "
          "observed (tp_btf/signal_generate; tp_btf/sys_exit of ptrace and "
          "process_vm_readv/writev); the agent ignores a workload's SIGTERM, SIGINT "
          "and SIGHUP itself, but SIGKILL and SIGSTOP land (the pinned programs keep enforcing "
          "and the next agent reports the event); reading /proc/<agent>/mem is not seen (writing "
          "any /proc/<pid> file of a process outside the workload is, by the cgroup guard)."};
}

// A host guard: BPF-LSM where the kernel runs it, else the fallback its feature allows, else
// unavailable with the reason.
struct HostGuardRow {
  Guard guard;
  const char* fallback_feature;
  GuardBackend (*fallback)(const Available&);
  const char* unavailable;
};

constexpr HostGuardRow kHostGuards[] = {
    {Guard::RawSockets, "cgroup_sock_create", raw_sockets_fallback,
     "Raw-socket guard unavailable: it needs bpf_lsm or cgroup_sock_create (see their reasons)."},
    {Guard::RuntimeSockets, "cgroup_connect_unix", runtime_sockets_fallback,
     "Runtime-socket guard unavailable: it needs bpf_lsm or cgroup_connect_unix, kernel >= 6.7 "
     "(see their reasons)."},
    {Guard::Capabilities, "tp_btf", capabilities_fallback,
     "Capability guard unavailable: it needs bpf_lsm or tp_btf (see their reasons)."},
    {Guard::Mounts, "tracepoint", mounts_fallback,
     "Mount guard unavailable: it needs bpf_lsm or tracepoint (see their reasons)."},
    {Guard::Bpf, "tracepoint", bpf_fallback,
     "bpf() guard unavailable: it needs bpf_lsm or tracepoint (see their reasons)."},
    {Guard::HostWrites, "tracepoint", host_writes_fallback,
     "Host-write guard unavailable: it needs bpf_lsm or tracepoint (see their reasons)."},
    {Guard::Cgroups, "tp_btf", cgroups_fallback,
     "Cgroup guard unavailable: it needs bpf_lsm or tp_btf (see their reasons)."},
    {Guard::Agent, "tp_btf", agent_fallback,
     "Agent self-protection unavailable: it needs bpf_lsm or tp_btf (see their reasons); the "
     "agent still ignores a workload's SIGTERM, SIGINT and SIGHUP when it can tell the sender."},
};

// Where BPF-LSM cannot refuse bpf() to a workload, a privileged one (CAP_SYS_ADMIN or CAP_BPF
// + CAP_NET_ADMIN) can detach the cgroup programs. Measured on the development VM (kernel 6.18,
// tests/integration/test_tamper.py): re-attached 1-20 ms after a detach from a workload (the
// ring buffer poll, --poll-ms 20, dominates), at most one --tamper-check-seconds otherwise.
constexpr const char* kInterruptible =
    "BPF-LSM unavailable: a privileged workload can detach these cgroup programs (bpf() "
    "cannot be refused to it) and so interrupt enforcement until the agent re-attaches them: "
    "within tens of milliseconds when the tamper event is seen (measured here: 3-20 ms, bounded by "
    "the ring buffer poll, --poll-ms 20), at "
    "most one --tamper-check-seconds (default 1 s) when it is not; each interruption is "
    "alerted (kind tamper) with its window.";

GuardBackend network_backend(const Available& has) {
  if (has("cgroup_skb") && has("cgroup_sock_addr")) {
    if (!has("bpf_lsm"))
      return {Guard::Network, Backend::CgroupSockAddrSkb, "prevention (interruptible)",
              kInterruptible};
    return {Guard::Network, Backend::CgroupSockAddrSkb, kPrevention, ""};
  }
  return {Guard::Network, Backend::Unavailable, kNone,
          "Network guard unavailable: it needs both the cgroup_sock_addr and the cgroup_skb "
          "feature (see their reasons)."};
}

}  // namespace

std::vector<GuardBackend> choose_backends(const std::vector<Feature>& features) {
  Available has(features);
  std::vector<GuardBackend> guards{network_backend(has)};
  // lsm_cgroup (the same hooks attached per cgroup) is probed and reported as a feature, but
  // never chosen: the LSM object attaches host-wide and scopes itself by a map lookup.
  for (const HostGuardRow& row : kHostGuards) {
    if (has("bpf_lsm"))
      guards.push_back({row.guard, Backend::Lsm, kPrevention, ""});
    else if (has(row.fallback_feature))
      guards.push_back(row.fallback(has));
    else
      guards.push_back({row.guard, Backend::Unavailable, kNone, row.unavailable});
  }
  return guards;
}

}  // namespace guardrail::probe
