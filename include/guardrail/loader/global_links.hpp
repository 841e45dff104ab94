// Host-wide programs (LSM, tracing) of a guard object: attached once, their links pinned so that
// they outlive the agent, and adopted by the next agent.
#pragma once

#include <string>
#include <vector>

#include "guardrail/loader/pin_dir.hpp"
#include "guardrail/loader/pinning.hpp"
#include "guardrail/util/result.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail {

// Attaches each host-wide program, or adopts the pinned link that already runs it. An upgraded
// program is attached before the old link goes (LSM and tracing links cannot switch programs):
// for a moment both run, never neither. Returns the links, parallel to `programs`.
Result<std::vector<UniqueFd>> attach_global(const std::string& object,
                                            std::vector<PinnedProgram>& programs,
                                            const PinDir* pins, Adoption& adoption);

}  // namespace guardrail
