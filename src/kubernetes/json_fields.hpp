// Internal to src/kubernetes: reading fields of API objects that may lack them or hold another
// type (a proxy, an older or newer server): absent and mistyped both read as empty.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace guardrail::kubernetes::detail {

// The member `key` of an object; a null value when j is no object or has no such member.
inline const nlohmann::json& member(const nlohmann::json& j, std::string_view key) {
  static const nlohmann::json kAbsent;
  const auto* fields = j.get_ptr<const nlohmann::json::object_t*>();
  if (fields == nullptr) return kAbsent;
  const auto found = fields->find(std::string(key));
  return found != fields->end() ? found->second : kAbsent;
}

// The string member `key`, "" when absent or not a string.
inline std::string str(const nlohmann::json& j, std::string_view key) {
  const auto* text = member(j, key).get_ptr<const std::string*>();
  return text ? *text : std::string();
}

}  // namespace guardrail::kubernetes::detail
