// What the alerts the agent makes itself (a tamper repair, a refused policy) share: they stand
// for one event, have no process behind them to enrich, and end with the pipeline's fields.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace guardrail::events {

// Appends count, first_time, last_time, exe, ppid, parent_exe, node and labels.
void append_agent_alert_fields(nlohmann::ordered_json& alert, const std::string& first_time,
                               const std::string& last_time, const std::string& node);

}  // namespace guardrail::events
