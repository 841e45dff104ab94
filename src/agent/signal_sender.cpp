#include "signal_sender.hpp"

#include <cstring>
#include <sstream>

namespace guardrail::agent {

std::optional<std::string> cgroup2_path(std::string_view proc_cgroup) {
  std::istringstream lines{std::string(proc_cgroup)};
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("0::")) return line.substr(3);
  return std::nullopt;
}

std::optional<OwnedBy> workload_of_path(
    const std::string& path,
    const std::function<std::optional<std::uint64_t>(const std::string&)>& cgroup_id,
    const std::function<const gr_workload*(std::uint64_t)>& lookup) {
  const auto self = cgroup_id(path);
  if (!self) return std::nullopt;
  if (const gr_workload* w = lookup(*self); w && !(w->flags & GR_WL_PLACEHOLDER))
    return OwnedBy{*self, *w};
  // Deepest ancestor first; the root ("/", level 0) is never a workload's.
  for (std::string up = path; up.size() > 1;) {
    const auto slash = up.rfind('/');
    if (slash == std::string::npos || slash == 0) break;
    up.resize(slash);
    if (const auto id = cgroup_id(up))
      if (const gr_workload* w = lookup(*id)) return OwnedBy{*self, *w};
  }
  return std::nullopt;
}

SenderJudgement judge_sender(const SignalInbox::Sent& sent, const SenderSources& sources) {
  SenderJudgement j;
  if (!sent.from_process()) {
    j.how = "kernel_signal";  // a hangup of the terminal, ...: no process to judge
    return j;
  }
  if (sources.kernel_records) {
    // The kernel saw every signal sent to the agent; no record: no workload sent this one.
    j.how = "kernel";
    const auto& r = sources.record;
    if (!r || sources.now_ns < r->ts_ns || sources.now_ns - r->ts_ns > kSignalRecordMaxAgeNs)
      return j;
    j.kind = (r->workload_flags & GR_WL_AUDIT) ? SenderKind::AuditWorkload : SenderKind::Workload;
    j.workload_id = r->workload_id;
    j.zone_id = r->zone_id;
    j.cgroup_id = r->cgroup_id;
    j.tid = r->tid;
    j.comm = std::string(r->comm, strnlen(r->comm, sizeof r->comm));
    j.killed = r->killed;
    return j;
  }
  if (sent.pid == 0) {
    j.how = "no_pid";
    return j;
  }
  const auto text = sources.proc_cgroup ? sources.proc_cgroup(sent.pid) : std::nullopt;
  const auto path = text ? cgroup2_path(*text) : std::nullopt;
  if (!path) {
    j.how = "unknown_cgroup";
    return j;
  }
  j.how = "cgroup";
  const auto owner = sources.owner ? sources.owner(*path) : std::nullopt;
  if (!owner) return j;
  j.kind = (owner->workload.flags & GR_WL_AUDIT) ? SenderKind::AuditWorkload : SenderKind::Workload;
  j.workload_id = owner->workload.workload_id;
  j.zone_id = owner->workload.zone_id;
  j.cgroup_id = owner->cgroup_id;
  return j;
}

}  // namespace guardrail::agent
