#include "guardrail/loader/programs.hpp"

#include <bpf/bpf.h>

#include <fstream>

namespace guardrail {

namespace {

bool stats_enabled() {
  std::ifstream enabled("/proc/sys/kernel/bpf_stats_enabled");
  int on = 0;
  return (enabled >> on) && on;
}

}  // namespace

std::vector<ProgramStats> program_stats_of(std::span<const PinnedProgram> programs) {
  if (!stats_enabled()) return {};
  std::vector<ProgramStats> out;
  for (const PinnedProgram& p : programs) {
    bpf_prog_info info{};
    __u32 len = sizeof info;
    if (bpf_prog_get_info_by_fd(p.fd(), &info, &len) == 0)
      out.push_back({p.name, info.run_cnt, info.run_time_ns});
  }
  return out;
}

}  // namespace guardrail
