#include "guardrail/pipeline/suppression_summary.hpp"

#include <algorithm>

namespace guardrail::pipeline {

std::uint64_t SuppressionSummary::suppressed_events() const {
  std::uint64_t n = 0;
  for (const auto& [kind, events] : suppressed) n += events;
  return n;
}

SuppressionSummary& SuppressionLedger::of(const events::Event& event) {
  const auto wid = events::workload_id(event);
  const std::uint64_t ts = events::header(event).ts_ns;
  auto [it, fresh] = workloads_.try_emplace(wid);
  SuppressionSummary& s = it->second;
  if (fresh) {
    s.workload_id = wid;
    s.first_ns = ts;
  }
  s.zone_id = events::zone_id(event);
  s.cgroup_id = std::visit([](const auto& ev) { return std::uint64_t(ev.cgroup_id); }, event);
  s.first_ns = std::min(s.first_ns, ts);
  s.last_ns = std::max(s.last_ns, ts);
  return s;
}

void SuppressionLedger::suppressed(const events::Event& event, std::uint64_t events) {
  of(event).suppressed[events::header(event).type] += events;
}

void SuppressionLedger::overflowed(const events::Event& event) {
  of(event).overflow[events::header(event).type] += 1;
}

std::vector<SuppressionSummary> SuppressionLedger::take(std::uint64_t now_ns) {
  if (!started_) {
    started_ = true;
    started_ns_ = now_ns;
  }
  if (now_ns - started_ns_ < interval_ns_) return {};
  started_ns_ = now_ns;
  return flush();
}

std::vector<SuppressionSummary> SuppressionLedger::flush() {
  std::vector<SuppressionSummary> out;
  out.reserve(workloads_.size());
  for (auto& [wid, s] : workloads_) out.push_back(std::move(s));
  workloads_.clear();
  return out;
}

nlohmann::ordered_json format_summary(const SuppressionSummary& s, const events::NameTable& names,
                                      const events::WallClock& clock, const std::string& node,
                                      std::chrono::nanoseconds interval) {
  auto by_kind = [](const std::map<std::uint16_t, std::uint64_t>& counts) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (const auto& [kind, n] : counts) j[std::string(events::kind_name(kind))] = n;
    return j;
  };
  nlohmann::ordered_json j;
  j["time"] = clock.format(s.last_ns);
  j["first_time"] = clock.format(s.first_ns);
  j["last_time"] = clock.format(s.last_ns);
  j["count"] = 1;  // one summary; the events it reports are in suppressed_events
  j["kind"] = "suppressed";
  j["verdict"] = "suppressed";
  j["backend"] = "pipeline";
  j["policy"] = names.policy;
  const std::string workload = names.workload(s.workload_id);
  j["workload"] = workload.empty() ? "unknown" : workload;
  j["zone"] = names.zone(s.zone_id);
  j["cgroup_id"] = s.cgroup_id;
  j["pid"] = 0;
  j["tid"] = 0;
  j["ppid"] = 0;
  j["comm"] = "";
  j["exe"] = "";
  j["parent_exe"] = "";
  j["node"] = node;
  j["labels"] = nlohmann::ordered_json::object();
  j["suppressed_events"] = s.suppressed_events();
  j["suppressed"] = by_kind(s.suppressed);
  j["targets_overflow"] = by_kind(s.overflow);
  j["interval_seconds"] = double(interval.count()) / 1e9;
  return j;
}

}  // namespace guardrail::pipeline
