// What the rate limit suppressed, per workload, collected over an interval and reported as one
// summary alert per workload (kind "suppressed"): the suppressed events by kind, and the
// distinct targets whose first alert could not be guaranteed because their kind's memory of
// targets was full. Nothing suppressed in an interval, no summary.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "guardrail/events/events.hpp"

namespace guardrail::pipeline {

struct SuppressionSummary {
  std::uint32_t workload_id = 0;
  std::uint32_t zone_id = 0;
  std::uint64_t cgroup_id = 0;
  std::uint64_t first_ns = 0;  // kernel timestamps of the first and last event counted
  std::uint64_t last_ns = 0;
  std::map<std::uint16_t, std::uint64_t> suppressed;  // kind -> events
  std::map<std::uint16_t, std::uint64_t> overflow;    // kind -> alerts of new targets not tracked
  std::uint64_t suppressed_events() const;
};

class SuppressionLedger {
 public:
  // A zero interval still collects; take() then reports at every call.
  explicit SuppressionLedger(std::chrono::nanoseconds interval)
      : interval_ns_(std::uint64_t(interval.count())) {}

  void suppressed(const events::Event& event, std::uint64_t events);
  void overflowed(const events::Event& event);
  // The summaries of the interval that ended by now_ns (none before it ends, none when nothing
  // was counted); starts the next interval.
  std::vector<SuppressionSummary> take(std::uint64_t now_ns);
  // Whatever was counted, at shutdown.
  std::vector<SuppressionSummary> flush();
  std::chrono::nanoseconds interval() const { return std::chrono::nanoseconds(interval_ns_); }

 private:
  SuppressionSummary& of(const events::Event& event);

  std::uint64_t interval_ns_;
  std::uint64_t started_ns_ = 0;
  bool started_ = false;
  std::map<std::uint32_t, SuppressionSummary> workloads_;  // bounded by the workloads in force
};

// The summary alert JSON: the common alert fields (kind "suppressed", verdict "suppressed",
// backend "pipeline", pid 0, ...) and suppressed_events, suppressed (kind -> events),
// targets_overflow (kind -> targets), interval_seconds.
nlohmann::ordered_json format_summary(const SuppressionSummary& summary,
                                      const events::NameTable& names,
                                      const events::WallClock& clock, const std::string& node,
                                      std::chrono::nanoseconds interval);

}  // namespace guardrail::pipeline
