#include "guardrail/events/agent_alert.hpp"

namespace guardrail::events {

void append_agent_alert_fields(nlohmann::ordered_json& alert, const std::string& first_time,
                               const std::string& last_time, const std::string& node) {
  alert["count"] = 1;
  alert["first_time"] = first_time;
  alert["last_time"] = last_time;
  alert["exe"] = "";
  alert["ppid"] = 0;
  alert["parent_exe"] = "";
  alert["node"] = node;
  alert["labels"] = nlohmann::ordered_json::object();
}

}  // namespace guardrail::events
