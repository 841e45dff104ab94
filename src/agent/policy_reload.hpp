// The pieces of a policy reload that are plain logic: the file's bytes and their SHA-256 (what
// "unchanged" compares and /metrics shows), and which host guards a new policy asks for that the
// loaded programs cannot serve.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "guardrail/events/guards.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/probe/probe.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail::agent {

// Lower-case hex SHA-256 (64 characters).
std::string sha256_hex(std::string_view data);

struct PolicyText {
  std::string text;
  std::string sha256;  // of text
};
// The file's bytes, read once: what is hashed is what is parsed. Fails with "cannot read: REASON".
Result<PolicyText> read_policy_text(const std::string& path);

// A policy file read once, hashed and parsed: what is hashed is what is enforced.
struct PolicyFile {
  std::string sha256;                    // of the bytes read; empty when the file is unreadable
  std::optional<policy::Policy> policy;  // validated (audit mode everywhere with force_audit), or
  std::vector<std::string> errors;       // every problem, as `policy check` prints it
};
PolicyFile read_policy_file(const std::string& path, bool force_audit);

// The host guards of `requested` whose programs are not loaded and would be after a restart: on
// the fallback only the guards the first policy asked for load (HostGuard::load). None when the
// LSM object runs (it loads every guard), or when no host guard object loaded at all
// (host_backends null: every host guard is unavailable, as at start-up); a guard no backend of
// this kernel can run stays "unavailable" whatever the agent does, a restart would not help.
std::set<Guard> guards_needing_restart(const std::set<Guard>& requested,
                                       const std::set<Guard>& loaded,
                                       const std::vector<probe::GuardBackend>* host_backends);

// "capabilities, mounts": for the messages.
std::string guard_list(const std::set<Guard>& guards);

}  // namespace guardrail::agent
