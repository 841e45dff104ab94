// The small methods of the policy model: diagnostics' text, name lookups and label matching.
#include "guardrail/policy/model.hpp"

#include <algorithm>
#include <string>

#include "guardrail/policy/compile.hpp"

namespace guardrail::policy {

std::string Diagnostic::format() const {
  if (pos.line <= 0) return pos.file + ": error: " + message;
  if (pos.column <= 0) return pos.file + ":" + std::to_string(pos.line) + ": error: " + message;
  return pos.file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) +
         ": error: " + message;
}

const Zone* Policy::find_zone(const std::string& zone_name) const {
  auto it = std::ranges::find(zones, zone_name, &Zone::name);
  return it == zones.end() ? nullptr : &*it;
}

const Workload* Policy::find_workload(const std::string& workload_name) const {
  auto it = std::ranges::find(workloads, workload_name, &Workload::name);
  return it == workloads.end() ? nullptr : &*it;
}

bool LabelExpression::matches(const std::map<std::string, std::string>& labels) const {
  const auto it = labels.find(key);
  const bool present = it != labels.end();
  const bool listed = present && std::ranges::find(values, it->second) != values.end();
  switch (op) {
    case Op::In:
      return listed;
    case Op::NotIn:
      return !listed;
    case Op::Exists:
      return present;
    case Op::DoesNotExist:
      return !present;
  }
  return false;
}

bool Zone::matches_labels(const std::map<std::string, std::string>& labels) const {
  for (const auto& [key, value] : match_labels) {
    const auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return std::ranges::all_of(match_expressions,
                             [&](const LabelExpression& e) { return e.matches(labels); });
}

bool Policy::uses_pod_selectors() const {
  return std::ranges::any_of(
             zones,
             [](const Zone& z) { return !z.namespaces.empty() || !z.match_expressions.empty(); }) ||
         std::ranges::any_of(workloads, [](const Workload& w) { return !w.pod.empty(); });
}

std::string Policy::effective_default_zone() const {
  if (!default_zone.empty()) return default_zone;
  return find_zone("agent-sandbox") ? "agent-sandbox" : "";
}

}  // namespace guardrail::policy
