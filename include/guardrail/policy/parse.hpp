// Reading a policy file: YAML to the validated model, or every problem with its position.
#pragma once

#include <cstddef>
#include <expected>
#include <string>
#include <vector>

#include "guardrail/policy/model.hpp"

namespace guardrail::policy {

// The largest policy file read (1 MiB, as a Kubernetes ConfigMap): a larger one is refused with
// a positioned error before YAML parsing. Parsing stays linear in the size within it: nesting
// and alias expansion are bounded too (src/policy/yaml_tree.hpp, docs/policy.md).
inline constexpr std::size_t kMaxPolicyBytes = std::size_t{1} << 20;

// A validated policy, or every problem found in its file, each with its position.
using ParseResult = std::expected<Policy, std::vector<Diagnostic>>;

// Parses and validates a policy. On failure returns every problem found, each with its position.
ParseResult parse_policy(const std::string& text, const std::string& file_name);
ParseResult load_policy_file(const std::string& path);

}  // namespace guardrail::policy
