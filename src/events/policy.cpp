#include "guardrail/events/policy.hpp"

#include <fmt/format.h>

#include "guardrail/events/agent_alert.hpp"

namespace guardrail::events {

std::string_view reload_trigger_name(ReloadTrigger trigger) {
  return trigger == ReloadTrigger::Signal ? "sighup" : "file_change";
}

nlohmann::ordered_json policy_rejected_alert(const PolicyRejection& r, const WallClock& clock,
                                             const std::string& node) {
  auto errors = nlohmann::ordered_json::array();
  for (const auto& e : r.errors) errors.push_back(e);
  const std::string first = r.errors.empty() ? std::string("rejected") : r.errors.front();
  // The common fields, as far as they apply: the agent itself refused the file, so the
  // "workload" is the agent and the process is the agent's own.
  nlohmann::ordered_json alert{
      {"time", clock.format(r.time_ns)},
      {"kind", "policy_rejected"},
      {"verdict", "rejected"},
      {"backend", "agent"},
      {"policy", r.active_policy.empty() ? std::string("unknown") : r.active_policy},
      {"workload", "guardrail-agent"},
      {"zone", "host"},
      {"cgroup_id", 0},
      {"pid", r.agent_pid},
      {"tid", r.agent_pid},
      {"comm", "guardrail"},
      {"file", r.file},
      {"sha256", r.sha256},
      {"trigger", reload_trigger_name(r.trigger)},
      {"errors", std::move(errors)},
      {"active_generation", r.active_generation},
      {"active_sha256", r.active_sha256},
      {"message",
       fmt::format("policy {} rejected ({} {}; first: {}); policy '{}' generation {} "
                   "(sha256 {}) stays in force",
                   r.file, r.errors.size(), r.errors.size() == 1 ? "problem" : "problems", first,
                   r.active_policy, r.active_generation, r.active_sha256.substr(0, 12))},
  };
  append_agent_alert_fields(alert, clock.format(r.time_ns), clock.format(r.time_ns), node);
  return alert;
}

}  // namespace guardrail::events
