// What the kernel's policy maps hold, and the one check of a compiled policy against it. The
// compiler runs it last, so `guardrail policy check`, the agent's start-up and every reload
// refuse the same policies: check never passes what the agent cannot load.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "guardrail.h"
#include "guardrail/policy/compile.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail::policy {

// One policy map: its name (as in bpf/), how many entries it holds and the constant that says
// so, what a compiled policy puts in it, and what to do when that is too many.
struct MapCapacity {
  std::string_view map;
  std::string_view constant;
  std::size_t capacity;  // for a map sized from the policy: the largest the agent makes it
  std::string_view entries;  // what one entry is
  std::size_t (*count)(const CompiledPolicy&);
  std::string_view remedy;
};

// Every policy map a compiled policy fills.
std::span<const MapCapacity> map_capacities();

// Fails, naming the map, its limit, the count and what to do, when the policy does not fit.
Result<void> check_capacity(const CompiledPolicy& policy);

}  // namespace guardrail::policy
