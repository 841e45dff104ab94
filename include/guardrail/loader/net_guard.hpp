// The network guard: loads bpf/net_guard.bpf.c, fills its maps from a compiled policy and
// attaches its programs to workload cgroups.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "guardrail.h"
#include "guardrail/loader/program_stats.hpp"
#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail {

struct NetGuardOptions {
  std::uint32_t ringbuf_bytes = GR_DEFAULT_RINGBUF_BYTES;  // a power of two, >= 4096
  std::uint64_t wakeup_bytes = 0;                          // 0: a quarter of ringbuf_bytes
};

class NetGuard {
 public:
  enum class Program { Connect4, Connect6, Sendmsg4, Sendmsg6, Egress, Ingress };

  static Result<std::unique_ptr<NetGuard>> load(const NetGuardOptions& options);
  struct Impl;
  explicit NetGuard(std::unique_ptr<Impl> impl);  // through load(): Impl is private to it
  ~NetGuard();
  NetGuard(const NetGuard&) = delete;
  NetGuard& operator=(const NetGuard&) = delete;

  // Makes the programs judge by `policy`, whole: fills the policy map set they are not reading,
  // then flips to it. cgroup_levels: bit n set when a workload cgroup sits at level n.
  Result<void> apply(const policy::CompiledPolicy& policy, std::uint32_t cgroup_levels);

  // Attaches every program to the cgroup (descendants inherit them). Idempotent per path.
  Result<void> attach(const std::string& cgroup_dir);

  int events_fd() const;
  std::uint32_t ringbuf_bytes() const;
  // A map of this object by name: the other guard objects share them (bpf_map__reuse_fd).
  int map_fd(const char* name) const;
  int program_fd(Program program) const;
  // Sums a per-CPU counter of the `stats` map (enum gr_stat).
  std::uint64_t stat(gr_stat which) const;
  // Run count and time per program; empty unless sysctl kernel.bpf_stats_enabled is 1.
  std::vector<ProgramStats> program_stats() const;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace guardrail
