// Who sent the agent a SIGINT, SIGTERM or SIGHUP: the operator (anyone outside every workload),
// whose signals work as always, or a workload, whose signal the agent ignores and alerts as
// tamper. With BPF-LSM, lsm/task_kill refuses a workload's signal before it arrives (audit-mode
// workloads excepted); without it the kernel's record (the fallback's map agent_signals, written
// when the signal was sent) answers, and where no program records signals the sender's cgroup
// (/proc/<pid>/cgroup) does, judged by the workloads in force.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "guardrail.h"
#include "signal_inbox.hpp"

namespace guardrail::agent {

enum class SenderKind {
  Operator,       // outside every workload (or the kernel): the signal does what it always did
  Workload,       // a workload: ignored and alerted (verdict blocked, or killed)
  AuditWorkload,  // a workload in audit mode: obeyed and alerted (verdict audited)
};

struct SenderJudgement {
  SenderKind kind = SenderKind::Operator;
  std::uint32_t workload_id = 0;
  std::uint32_t zone_id = 0;
  std::uint64_t cgroup_id = 0;
  std::uint32_t tid = 0;  // the sending thread, when the kernel recorded it
  std::string comm;       // likewise
  bool killed = false;    // the kernel sent the sender SIGKILL (the zone's action is kill)
  // How it was told: "kernel" (map agent_signals), "cgroup" (/proc/<pid>/cgroup), "kernel_signal"
  // (si_code > 0: no process sent it), "no_pid" (pid 0: not in this PID namespace),
  // "unknown_cgroup" (the sender's cgroup could not be read: gone already).
  std::string_view how;
};

// A kernel record older than this is another signal's (a pid reused since): not this one's.
inline constexpr std::uint64_t kSignalRecordMaxAgeNs = 10'000'000'000ull;

// The cgroup v2 path of a /proc/<pid>/cgroup text (its "0::/path" line), or nothing.
std::optional<std::string> cgroup2_path(std::string_view proc_cgroup);

// The workload that owns the cgroup at `path` (relative to the cgroup2 root, "/a/b"), by the
// programs' rule (workload_of_cgroup in bpf/common.bpf.h): the cgroup's own entry unless it is a
// placeholder, else the deepest ancestor that has one. cgroup_id gives a path's id (nothing when
// it is gone), lookup the workload entry of an id (null when none).
struct OwnedBy {
  std::uint64_t cgroup_id = 0;  // of the cgroup at `path` itself
  gr_workload workload{};
};
std::optional<OwnedBy> workload_of_path(
    const std::string& path,
    const std::function<std::optional<std::uint64_t>(const std::string&)>& cgroup_id,
    const std::function<const gr_workload*(std::uint64_t)>& lookup);

struct SenderSources {
  // True where the kernel records workload senders (the fallback's tp_btf/signal_generate).
  bool kernel_records = false;
  // The kernel's record of this sender, taken from the map (when kernel_records).
  std::optional<gr_signal_sender> record;
  std::uint64_t now_ns = 0;  // boot clock, to age the record
  // /proc/<pid>/cgroup of the sender (nothing when it cannot be read), and the workload lookup.
  std::function<std::optional<std::string>(std::uint32_t pid)> proc_cgroup;
  std::function<std::optional<OwnedBy>(const std::string& path)> owner;
};

SenderJudgement judge_sender(const SignalInbox::Sent& sent, const SenderSources& sources);

}  // namespace guardrail::agent
