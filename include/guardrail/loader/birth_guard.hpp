// Coverage from birth under a parent shared with host services: loads bpf/birth_guard.bpf.c on
// the shared policy maps and attaches its tp_btf/cgroup_mkdir program host-wide (pinned, so it
// runs on while no agent does). See GR_WL_BIRTH_PARENT in bpf/guardrail.h.
#pragma once

#include <memory>
#include <vector>

#include "guardrail/loader/pinning.hpp"
#include "guardrail/loader/policy_maps.hpp"
#include "guardrail/loader/program_stats.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail {

class BirthGuard {
 public:
  // Fails (saying why) on a kernel without tp_btf or BTF: containers made under a shared parent
  // are then covered from their identification only (`guardrail probe` tells ahead of time).
  static Result<std::unique_ptr<BirthGuard>> load(const PolicyMaps& maps);
  struct Impl;
  explicit BirthGuard(std::unique_ptr<Impl> impl);  // through load(): Impl is private to it
  ~BirthGuard();
  BirthGuard(const BirthGuard&) = delete;
  BirthGuard& operator=(const BirthGuard&) = delete;

  // What was found pinned and what was done with it (maps, program, link).
  Adoption adoption() const;
  // Run count and time; empty unless sysctl kernel.bpf_stats_enabled is 1.
  std::vector<ProgramStats> program_stats() const;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace guardrail
