// The network guard: loads bpf/net_guard.bpf.c on the shared policy maps and attaches its
// programs to workload cgroups.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "guardrail.h"
#include "guardrail/loader/cgroup_attachments.hpp"
#include "guardrail/loader/pinning.hpp"
#include "guardrail/loader/policy_maps.hpp"
#include "guardrail/loader/program_stats.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail {

class NetGuard {
 public:
  enum class Program { Connect4, Connect6, Sendmsg4, Sendmsg6, Egress, Ingress };

  // Loads the programs on the shared maps (policy, ring buffer, counters) of `maps`.
  static Result<std::unique_ptr<NetGuard>> load(const PolicyMaps& maps);
  struct Impl;
  explicit NetGuard(std::unique_ptr<Impl> impl);  // through load(): Impl is private to it
  ~NetGuard();
  NetGuard(const NetGuard&) = delete;
  NetGuard& operator=(const NetGuard&) = delete;

  // Attaches every program to the cgroup (descendants inherit them). Idempotent per path.
  Result<void> attach(const std::string& cgroup_dir);
  // Re-attaches every program an attached cgroup no longer carries (a workload detached or
  // replaced it); returns what was missing.
  std::vector<MissingProgram> repair();
  // See CgroupAttachments: the pinned links no attach point claimed, and links made redundant
  // by an attach point above them.
  void adopt_remaining(const std::string& cgroup2_root);
  void retire_covered();
  // What was found pinned and what was done with it (maps, programs, links).
  Adoption adoption() const;

  int program_fd(Program program) const;
  // Run count and time per program; empty unless sysctl kernel.bpf_stats_enabled is 1.
  std::vector<ProgramStats> program_stats() const;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace guardrail
