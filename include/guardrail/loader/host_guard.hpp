// The host guards (capabilities, raw sockets, mounts, runtime sockets, bpf()): the BPF-LSM
// object where the kernel runs LSM programs, else the fallback object (cgroup sock_create and
// connect_unix for prevention, tp_btf and syscall tracepoints for detection). Both run on the
// shared maps of PolicyMaps (policy, ring buffer, counters), so one policy and one pipeline serve
// all.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "guardrail/loader/cgroup_attachments.hpp"
#include "guardrail/loader/pinning.hpp"
#include "guardrail/loader/policy_maps.hpp"
#include "guardrail/loader/program_stats.hpp"
#include "guardrail/probe/probe.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail {

class HostGuard {
 public:
  // Picks the backend of each host guard from the probe report, loads what can run, attaches
  // the programs that act host-wide (LSM, tracing). Guards no backend can serve are reported
  // "unavailable" by backends(). On the fallback only the `requested` guards' programs load,
  // and the bpf() one always: it reports tampering with the agent's programs.
  static Result<std::unique_ptr<HostGuard>> load(const probe::Report& report,
                                                 const PolicyMaps& maps,
                                                 const std::set<Guard>& requested);
  // Whether load() can run `guard` on `backend` (Unavailable counts: nothing to load). The
  // probe's chooser must answer only pairs for which this holds (a unit test checks every one).
  static bool loads(Guard guard, Backend backend);

  struct Impl;
  explicit HostGuard(std::unique_ptr<Impl> impl);  // through load()
  ~HostGuard();
  HostGuard(const HostGuard&) = delete;
  HostGuard& operator=(const HostGuard&) = delete;

  // Attaches the per-cgroup programs (fallback: sock_create, connect_unix) to a workload cgroup.
  Result<void> attach(const std::string& cgroup_dir);
  // Re-attaches every per-cgroup program an attached cgroup no longer carries.
  std::vector<MissingProgram> repair();
  // See CgroupAttachments (per-cgroup programs only; host-wide links are adopted at load).
  void adopt_remaining(const std::string& cgroup2_root);
  void retire_covered();
  // What was found pinned and what was done with it (maps, programs, links).
  Adoption adoption() const;

  // The backend each host guard really runs with (Lsm, CgroupSock, CgroupConnectUnix, TpBtf,
  // Tracepoint or Unavailable), with the guarantee.
  const std::vector<probe::GuardBackend>& backends() const;
  std::vector<ProgramStats> program_stats() const;

  // Whether the kernel records who sends this agent SIGINT, SIGTERM or SIGHUP from a workload
  // (the fallback's tp_btf/signal_generate; with BPF-LSM lsm/task_kill refuses those instead).
  bool records_signals() const;
  // The workload sender the kernel recorded for `signal` from `sender_pid` (the entry is taken),
  // or nothing: no workload sent it (when records_signals()).
  std::optional<gr_signal_sender> take_signal_sender(std::uint32_t sender_pid, int signal);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace guardrail
