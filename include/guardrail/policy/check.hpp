// `guardrail policy check`.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace guardrail::policy {

// `guardrail policy check FILE...`: validates each file, prints what it compiles to (without
// bindings: static addresses only) or every diagnostic. Returns the process exit code (0 or 1).
int run_policy_check(const std::vector<std::string>& files, std::ostream& out, std::ostream& err);

}  // namespace guardrail::policy
