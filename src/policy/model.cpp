// The small methods of the policy model: diagnostics' text and name lookups.
#include "guardrail/policy/model.hpp"

#include <algorithm>
#include <string>

#include "guardrail/policy/compile.hpp"

namespace guardrail::policy {

std::string Diagnostic::format() const {
  if (pos.line <= 0) return pos.file + ": error: " + message;
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

std::string Policy::effective_default_zone() const {
  if (!default_zone.empty()) return default_zone;
  return find_zone("agent-sandbox") ? "agent-sandbox" : "";
}

}  // namespace guardrail::policy
