// Prometheus metrics served on /metrics (prometheus-cpp). Counting happens before any alert is
// formatted, so the counters stay exact even when alert output falls behind.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "guardrail/probe.hpp"
#include "guardrail/result.hpp"

namespace guardrail {

class Metrics {
 public:
  // Reads a kernel-side counter at scrape time (so the value is never stale).
  using KernelCounter = std::function<std::uint64_t()>;

  Metrics();

  void count_violation(std::string_view kind, std::string_view verdict, const std::string& zone);
  void set_policy_rules(std::size_t rules);
  void set_workloads(const std::map<std::string, std::size_t>& per_zone);
  void set_guard_backends(const std::vector<probe::GuardBackend>& guards);
  // guardrail_events_lost_total and guardrail_events_total, read from the BPF stats map.
  void export_kernel_counters(KernelCounter lost, KernelCounter submitted);
  // Counts records the agent could not decode (a BPF object and agent of different builds).
  void count_decode_error();

  // Starts serving /metrics on "HOST:PORT". Fails with the address and the fix when the port is
  // taken or the address is not local.
  Result<void> serve(const std::string& address);

  prometheus::Registry& registry() { return *registry_; }
  // The text exposition of every metric, as a scrape would return it.
  std::string scrape() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& violations_;
  prometheus::Family<prometheus::Gauge>& policy_rules_;
  prometheus::Family<prometheus::Gauge>& workloads_;
  prometheus::Family<prometheus::Gauge>& guard_backend_;
  prometheus::Family<prometheus::Counter>& decode_errors_;
  std::shared_ptr<prometheus::Collectable> kernel_counters_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace guardrail
