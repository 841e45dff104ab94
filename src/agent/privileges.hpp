// What the agent needs of its own privileges before it touches the kernel: without them every
// program load fails, and the probe would blame the kernel.
#pragma once

#include <cstdint>
#include <string>

namespace guardrail::agent {

// The capabilities the agent needs that `effective` (a CapEff bit mask) lacks, by name
// ("CAP_BPF, CAP_NET_ADMIN"); "" when it has them all. CAP_SYS_ADMIN stands in for CAP_BPF and
// CAP_PERFMON, as the kernel lets it.
std::string missing_capabilities(std::uint64_t effective);

// CapEff of this process (from /proc/self/status); all bits set when it cannot be read, so that
// the kernel's own answer decides.
std::uint64_t effective_capabilities();

}  // namespace guardrail::agent
