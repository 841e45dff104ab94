// Big allowlists outside the policy file: an egress rule's `cidrFile` and a workload's
// `addressFile` name a plain file of one prefix (or address) per line, read by a hand loop (no
// YAML), so a million prefixes load in a fraction of a second and the policy file stays small.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "guardrail/policy/model.hpp"

namespace guardrail::policy {

inline constexpr std::size_t kMaxListFileBytes = std::size_t{64} << 20;  // 64 MiB
inline constexpr std::size_t kMaxListFileLines = std::size_t{1} << 21;   // 2,097,152 lines

// Where a list file named `name` in `policy_file` is: relative to the policy file's directory,
// or absolute.
std::string list_file_path(const std::string& policy_file, const std::string& name);

// Reads the prefixes of `path`: one per line, blank lines and `#` comments (whole-line or after
// the prefix) skipped, whitespace trimmed. Each bad line is an error at `path:LINE` naming the
// line and the fix (at most 20 per file); a file that cannot be read, is larger than
// kMaxListFileBytes or longer than kMaxListFileLines is one error. `what` names an entry in the
// messages ("prefix", "address"). True when every line was good.
bool read_cidr_list(const std::string& path, std::string_view what, std::vector<Cidr>& out,
                    std::vector<Diagnostic>& errors);

// The list files a parsed policy read, in file order (each once).
std::vector<std::string> list_files(const Policy& policy);

}  // namespace guardrail::policy
