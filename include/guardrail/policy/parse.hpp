// Reading a policy file: YAML to the validated model, or every problem with its position.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "guardrail/policy/model.hpp"

namespace guardrail::policy {

// A validated policy, or every problem found in its file, each with its position.
using ParseResult = std::expected<Policy, std::vector<Diagnostic>>;

// Parses and validates a policy. On failure returns every problem found, each with its position.
ParseResult parse_policy(const std::string& text, const std::string& file_name);
ParseResult load_policy_file(const std::string& path);

}  // namespace guardrail::policy
