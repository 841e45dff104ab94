// What the kernel counts for each loaded program: plain data, so that the metrics can read it
// without seeing libbpf and the loaders can report it without seeing prometheus.
#pragma once

#include <cstdint>
#include <string>

namespace guardrail {

// Run count and time of one BPF program (the kernel keeps them while bpf_stats_enabled is 1).
struct ProgramStats {
  std::string program;
  std::uint64_t runs = 0;
  std::uint64_t run_time_ns = 0;
};

}  // namespace guardrail
