// What every guard object does with its programs: read their run statistics.
#pragma once

#include <bpf/libbpf.h>

#include <span>
#include <string>
#include <vector>

#include "guardrail/loader/bpf_skeleton.hpp"
#include "guardrail/loader/pinning.hpp"
#include "guardrail/loader/program_stats.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail {

// Run count and time of each program in use (a kept program is the previous agent's, not
// the object's); empty unless sysctl kernel.bpf_stats_enabled is 1 (the kernel only counts then).
std::vector<ProgramStats> program_stats_of(std::span<const PinnedProgram> programs);

}  // namespace guardrail
