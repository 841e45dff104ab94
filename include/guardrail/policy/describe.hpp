// Human-readable listings of a policy and of what it compiles to.
#pragma once

#include <iosfwd>

#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"

namespace guardrail::policy {

// Human-readable listing of a compiled policy (what `guardrail policy check` prints).
void describe(const CompiledPolicy& compiled, std::ostream& out);
// The container selectors, the pod selectors (when the policy has namespaces, matchExpressions
// or pod globs) and the default zone, which only discovery acts on at runtime.
void describe_containers(const Policy& policy, std::ostream& out);

}  // namespace guardrail::policy
