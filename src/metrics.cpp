#include "guardrail/metrics.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <exception>

namespace guardrail {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

class KernelCounters : public prometheus::Collectable {
 public:
  KernelCounters(Metrics::KernelCounter lost, Metrics::KernelCounter submitted)
      : lost_(std::move(lost)), submitted_(std::move(submitted)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    return {family("guardrail_events_lost_total",
                   "Violation events the kernel could not queue because the ring buffer was full",
                   lost_()),
            family("guardrail_events_total", "Violation events the kernel queued for the agent",
                   submitted_())};
  }

 private:
  static prometheus::MetricFamily family(std::string name, std::string help, std::uint64_t value) {
    prometheus::ClientMetric metric;
    metric.counter.value = static_cast<double>(value);
    return {std::move(name), std::move(help), prometheus::MetricType::Counter, {metric}};
  }

  Metrics::KernelCounter lost_;
  Metrics::KernelCounter submitted_;
};

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      violations_(BuildCounter()
                      .Name("guardrail_violations_total")
                      .Help("Policy violations by kind, verdict and the zone of the workload")
                      .Register(*registry_)),
      policy_rules_(BuildGauge()
                        .Name("guardrail_policy_rules")
                        .Help("Flow and egress rules loaded into the kernel")
                        .Register(*registry_)),
      workloads_(BuildGauge()
                     .Name("guardrail_workloads")
                     .Help("Workload cgroups under policy, per zone")
                     .Register(*registry_)),
      guard_backend_(BuildGauge()
                         .Name("guardrail_guard_backend")
                         .Help("1 for the backend each guard uses on this kernel")
                         .Register(*registry_)),
      decode_errors_(BuildCounter()
                         .Name("guardrail_event_decode_errors_total")
                         .Help("Ring buffer records the agent could not decode")
                         .Register(*registry_)) {
  BuildGauge()
      .Name("guardrail_build_info")
      .Help("Guardrail build information")
      .Register(*registry_)
      .Add({{"version", GUARDRAIL_VERSION}})
      .Set(1);
  decode_errors_.Add({});
}

void Metrics::count_violation(std::string_view kind, std::string_view verdict,
                              const std::string& zone) {
  violations_.Add({{"kind", std::string(kind)}, {"verdict", std::string(verdict)}, {"zone", zone}})
      .Increment();
}

void Metrics::set_policy_rules(std::size_t rules) {
  policy_rules_.Add({}).Set(static_cast<double>(rules));
}

void Metrics::set_workloads(const std::map<std::string, std::size_t>& per_zone) {
  for (const auto& [zone, count] : per_zone)
    workloads_.Add({{"zone", zone}}).Set(static_cast<double>(count));
}

void Metrics::set_guard_backends(const std::vector<probe::GuardBackend>& guards) {
  for (const auto& g : guards)
    guard_backend_.Add({{"guard", g.guard}, {"backend", g.backend}}).Set(1);
}

void Metrics::export_kernel_counters(KernelCounter lost, KernelCounter submitted) {
  kernel_counters_ = std::make_shared<KernelCounters>(std::move(lost), std::move(submitted));
  if (exposer_) exposer_->RegisterCollectable(kernel_counters_);
}

void Metrics::count_decode_error() { decode_errors_.Add({}).Increment(); }

Result<void> Metrics::serve(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    return fail("cannot serve /metrics on " + address + " (" + e.what() +
                "): is the port taken? choose another with --metrics-address HOST:PORT");
  }
  exposer_->RegisterCollectable(registry_);
  if (kernel_counters_) exposer_->RegisterCollectable(kernel_counters_);
  return {};
}

std::string Metrics::scrape() const {
  auto families = registry_->Collect();
  if (kernel_counters_) {
    auto more = kernel_counters_->Collect();
    families.insert(families.end(), more.begin(), more.end());
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace guardrail
