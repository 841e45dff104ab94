// The alert the agent writes when a policy reload is refused: the new file did not parse,
// validate, compile or fit, so the policy in force stays. Like the tamper repair alert it is the
// agent's own (backend "agent"), not a kernel event.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "guardrail/events/events.hpp"

namespace guardrail::events {

enum class ReloadTrigger {
  Signal,      // SIGHUP
  FileChange,  // the policy watch saw the file (or its ConfigMap symlink) change
};
std::string_view reload_trigger_name(ReloadTrigger trigger);  // "sighup", "file_change"

struct PolicyRejection {
  ReloadTrigger trigger = ReloadTrigger::Signal;
  std::string file;
  std::string sha256;               // of the rejected content; empty when it could not be read
  std::vector<std::string> errors;  // FILE:LINE:COLUMN: error: ... as `policy check` prints
  // The policy that stays in force.
  std::string active_policy;  // its metadata.name
  std::uint64_t active_generation = 0;
  std::string active_sha256;
  std::uint64_t time_ns = 0;  // boot clock
  std::uint32_t agent_pid = 0;
};

// kind "policy_rejected", verdict "rejected", backend "agent".
nlohmann::ordered_json policy_rejected_alert(const PolicyRejection& rejection,
                                             const WallClock& clock, const std::string& node);

}  // namespace guardrail::events
