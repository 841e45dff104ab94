// What every guard object does with its programs: attach a set of them to a cgroup, and read
// their run statistics.
#pragma once

#include <bpf/libbpf.h>

#include <span>
#include <string>
#include <vector>

#include "guardrail/loader/bpf_skeleton.hpp"
#include "guardrail/loader/program_stats.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail {

// Attaches each program to the cgroup directory (descendants inherit them); on failure the
// links made so far are destroyed, so nothing is half attached.
Result<std::vector<BpfLink>> attach_to_cgroup(std::span<bpf_program* const> programs,
                                              const std::string& cgroup_dir);

// Run count and time of every loaded program of the object; empty unless sysctl
// kernel.bpf_stats_enabled is 1 (the kernel only counts then).
std::vector<ProgramStats> loaded_program_stats(bpf_object* obj);

}  // namespace guardrail
