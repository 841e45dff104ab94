#include "guardrail/metrics/metrics.hpp"

#include <CivetServer.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <exception>

#include "guardrail/events/events.hpp"

namespace guardrail {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

prometheus::ClientMetric sample(double value, std::vector<prometheus::ClientMetric::Label> labels,
                                bool counter) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return m;
}

constexpr std::array kStages = {LossStage::Ringbuf, LossStage::Decode, LossStage::Queue,
                                LossStage::Webhook, LossStage::AlertsFile};

}  // namespace

std::string_view loss_stage_name(LossStage stage) {
  switch (stage) {
    case LossStage::Ringbuf:
      return "ringbuf";
    case LossStage::Decode:
      return "decode";
    case LossStage::Queue:
      return "queue";
    case LossStage::Webhook:
      return "webhook";
    case LossStage::AlertsFile:
      return "alerts_file";
  }
  return "unknown";
}

// The metrics whose values live in the kernel or in atomics: produced at scrape time.
class Metrics::KernelView : public prometheus::Collectable {
 public:
  explicit KernelView(const Metrics& metrics) : metrics_(metrics) {}
  void set_source(KernelSource source) {
    std::lock_guard lock(mutex_);
    source_ = std::move(source);
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard lock(mutex_);
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    auto read = [](const std::function<std::uint64_t()>& f) { return f ? double(f()) : 0.0; };

    prometheus::MetricFamily lost{"guardrail_events_lost_total",
                                  "Violation events lost, by the stage that lost them",
                                  MetricType::Counter,
                                  {}};
    for (LossStage stage : kStages)
      lost.metric.push_back(sample(
          stage == LossStage::Ringbuf ? read(source_.events_lost) : double(metrics_.lost(stage)),
          {{"stage", std::string(loss_stage_name(stage))}}, true));
    out.push_back(std::move(lost));
    out.push_back({"guardrail_events_total",
                   "Violation events the kernel queued for the agent",
                   MetricType::Counter,
                   {sample(read(source_.events_submitted), {}, true)}});
    out.push_back({"guardrail_ringbuf_size_bytes",
                   "Size of the events ring buffer",
                   MetricType::Gauge,
                   {sample(double(source_.ringbuf_size_bytes), {}, false)}});
    out.push_back({"guardrail_ringbuf_unread_bytes",
                   "Bytes of events in the ring buffer the agent has not read yet",
                   MetricType::Gauge,
                   {sample(read(source_.ringbuf_unread_bytes), {}, false)}});

    auto stats = source_.program_stats ? source_.program_stats() : std::vector<ProgramStats>{};
    if (!stats.empty()) {
      prometheus::MetricFamily runs{"guardrail_bpf_prog_runs_total",
                                    "Runs of each BPF program (while kernel.bpf_stats_enabled=1)",
                                    MetricType::Counter,
                                    {}};
      prometheus::MetricFamily time{"guardrail_bpf_prog_run_seconds_total",
                                    "Time spent in each BPF program (kernel.bpf_stats_enabled=1)",
                                    MetricType::Counter,
                                    {}};
      for (const auto& s : stats) {
        runs.metric.push_back(sample(double(s.runs), {{"program", s.program}}, true));
        time.metric.push_back(sample(double(s.run_time_ns) / 1e9, {{"program", s.program}}, true));
      }
      out.push_back(std::move(runs));
      out.push_back(std::move(time));
    }
    return out;
  }

 private:
  const Metrics& metrics_;
  mutable std::mutex mutex_;
  KernelSource source_;
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      violations_(BuildCounter()
                      .Name("guardrail_violations_total")
                      .Help("Policy violations by kind, verdict and the zone of the workload")
                      .Register(*registry_)),
      delivered_(BuildCounter()
                     .Name("guardrail_events_delivered_total")
                     .Help("Violation events delivered by each sink (an alert may fold several)")
                     .Register(*registry_)),
      alerts_(BuildCounter()
                  .Name("guardrail_alerts_total")
                  .Help("Alerts delivered by each sink")
                  .Register(*registry_)),
      suppressed_(BuildCounter()
                      .Name("guardrail_events_suppressed_total")
                      .Help("Violation events counted but not alerted, by reason and kind")
                      .Register(*registry_)),
      targets_overflow_(BuildCounter()
                            .Name("guardrail_alert_targets_overflow_total")
                            .Help("Alerts of a new target, by kind, that found the memory of "
                                  "targets full: they went through the rate limit like repeats")
                            .Register(*registry_)),
      deduplicated_(BuildCounter()
                        .Name("guardrail_events_deduplicated_total")
                        .Help("Violation events folded into another alert's count by dedup")
                        .Register(*registry_)
                        .Add({})),
      decode_errors_(BuildCounter()
                         .Name("guardrail_event_decode_errors_total")
                         .Help("Ring buffer records the agent could not decode")
                         .Register(*registry_)
                         .Add({})),
      latency_(
          BuildHistogram()
              .Name("guardrail_event_latency_seconds")
              .Help("Time from the kernel event to its alert being written")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                               0.25, 0.5, 1, 2.5, 5, 10, 30})),
      identify_(
          BuildHistogram()
              .Name("guardrail_container_identify_seconds")
              .Help("From a container's start event to its identity in the kernel's maps "
                    "(under the default zone's rules meanwhile)")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                               0.25, 0.5, 1, 2.5, 5})),
      posture_(BuildCounter()
                   .Name("guardrail_posture_violations_total")
                   .Help("Baseline checks containers failed, by check")
                   .Register(*registry_)),
      compliant_(BuildGauge()
                     .Name("guardrail_container_compliant")
                     .Help("1 when the container meets the hardening baseline, else 0")
                     .Register(*registry_)),
      policy_rules_(BuildGauge()
                        .Name("guardrail_policy_rules")
                        .Help("Flow and egress rules loaded into the kernel")
                        .Register(*registry_)),
      policy_generation_(BuildGauge()
                             .Name("guardrail_policy_generation")
                             .Help("How many times a policy was applied to the kernel")
                             .Register(*registry_)),
      workloads_(BuildGauge()
                     .Name("guardrail_workloads")
                     .Help("Workload cgroups under policy, per zone")
                     .Register(*registry_)),
      guard_backend_(BuildGauge()
                         .Name("guardrail_guard_backend")
                         .Help("1 for the backend each guard uses on this kernel")
                         .Register(*registry_)),
      guard_interruptible_(
          BuildGauge()
              .Name("guardrail_guard_interruptible")
              .Help("1 when a privileged workload can detach the guard's programs and so "
                    "interrupt it until the agent re-attaches them (no BPF-LSM to refuse bpf())")
              .Register(*registry_)),
      tamper_checks_(BuildCounter()
                         .Name("guardrail_tamper_checks_total")
                         .Help("Checks that every workload cgroup still carries the agent's "
                               "programs")
                         .Register(*registry_)
                         .Add({})),
      tamper_repairs_(BuildCounter()
                          .Name("guardrail_tamper_total")
                          .Help("Workload cgroups found without some of the agent's programs, by "
                                "what found it (a tamper event or the periodic check)")
                          .Register(*registry_)),
      reattach_(BuildCounter()
                    .Name("guardrail_reattach_total")
                    .Help("Programs the agent re-attached to a workload cgroup, by result")
                    .Register(*registry_)),
      tamper_window_(BuildHistogram()
                         .Name("guardrail_tamper_window_seconds")
                         .Help("From a tamper event (or the last clean check) to the programs "
                               "being attached again: how long enforcement was interrupted")
                         .Register(*registry_)),
      tamper_last_window_(BuildGauge()
                              .Name("guardrail_tamper_last_window_seconds")
                              .Help("The last measured tamper window")
                              .Register(*registry_)
                              .Add({})),
      pinned_(BuildGauge()
                  .Name("guardrail_pinned")
                  .Help("1 when the programs, links and maps are pinned under bpffs, so that "
                        "enforcement outlives the agent; 0 when it ends with the agent")
                  .Register(*registry_)),
      adopted_(BuildGauge()
                   .Name("guardrail_adopted")
                   .Help("What this agent found pinned by a previous one at start-up, by object "
                         "(map, program, link) and result (reused, created, kept, replaced, new, "
                         "removed)")
                   .Register(*registry_)),
      lost_unattended_(BuildGauge()
                           .Name("guardrail_events_lost_unattended")
                           .Help("Events the kernel dropped (ring buffer full) while no agent "
                                 "read it, found at start-up")
                           .Register(*registry_)),
      policy_reloads_(BuildCounter()
                          .Name("guardrail_policy_reload_total")
                          .Help("Policy reloads (SIGHUP or a change of the policy file) by result: "
                                "applied, rejected (the policy in force stays), unchanged")
                          .Register(*registry_)),
      signals_refused_(BuildCounter()
                           .Name("guardrail_agent_signals_from_workloads_total")
                           .Help("SIGTERM, SIGINT and SIGHUP that workloads sent the agent, by "
                                 "what it did: blocked or killed (ignored), audited (obeyed)")
                           .Register(*registry_)),
      policy_info_(BuildGauge()
                       .Name("guardrail_policy_info")
                       .Help("1 for the policy in force: its name and the SHA-256 of its file")
                       .Register(*registry_)),
      discovery_problems_(BuildCounter()
                              .Name("guardrail_discovery_problems_total")
                              .Help("Problems discovery found (an address claimed by two "
                                    "workloads, a vanished cgroup, a failed attach or source), "
                                    "by problem; enforcement went on, fail closed")
                              .Register(*registry_)),
      discovery_open_(BuildGauge()
                          .Name("guardrail_discovery_problems")
                          .Help("Discovery problems open now, by problem")
                          .Register(*registry_)),
      unix_socket_resolutions_(
          BuildCounter()
              .Name("guardrail_unix_socket_resolutions_total")
              .Help("Runtime sockets and allowed path sockets re-resolved to another inode "
                    "(made, re-made or removed at their path), by socket, change and trigger")
              .Register(*registry_)),
      kube_synced_(BuildGauge()
                       .Name("guardrail_kubernetes_watch_synced")
                       .Help("1 once a Kubernetes watch's first list arrived, by resource")
                       .Register(*registry_)),
      kube_objects_(BuildGauge()
                        .Name("guardrail_kubernetes_objects")
                        .Help("Objects a Kubernetes watch holds now, by resource")
                        .Register(*registry_)),
      kube_restarts_(BuildCounter()
                         .Name("guardrail_kubernetes_watch_restarts_total")
                         .Help("Kubernetes watches started again, by resource and reason "
                               "(relist: a fresh list, e.g. after 410 Gone; reconnect: the "
                               "watch resumed from its resourceVersion)")
                         .Register(*registry_)),
      kernel_(std::make_shared<KernelView>(*this)) {
  BuildGauge()
      .Name("guardrail_build_info")
      .Help("Guardrail build information")
      .Register(*registry_)
      .Add({{"version", GUARDRAIL_VERSION}})
      .Set(1);
  delivered_jsonl_ = &delivered_.Add({{"sink", "jsonl"}});
  alerts_jsonl_ = &alerts_.Add({{"sink", "jsonl"}});
  delivered_webhook_ = &delivered_.Add({{"sink", "webhook"}});
  alerts_webhook_ = &alerts_.Add({{"sink", "webhook"}});
  // Every kind's series from 0, so that increase() in the rules sees the first suppression.
  for (std::uint16_t type = 1; type < GR_EV_TYPE_MAX; type++) {
    const std::string kind(events::kind_name(type));
    if (kind == "unknown") continue;
    rate_limited_[kind] = &suppressed_.Add({{"reason", "rate_limit"}, {"kind", kind}});
    overflowed_[kind] = &targets_overflow_.Add({{"kind", kind}});
  }
  for (const char* by : {"event", "periodic_check"}) tamper_repairs_.Add({{"detected_by", by}});
  reattach_.Add({{"result", "ok"}});
  for (const char* result : {"applied", "rejected", "unchanged"})
    policy_reloads_.Add({{"result", result}});
  for (const char* p : {"address_conflict", "cgroup_vanished", "attach_failed", "source_failed",
                        "service_conflict"}) {
    discovery_problems_.Add({{"problem", p}});
    discovery_open_.Add({{"problem", p}});
  }
}

void Metrics::count_unix_socket_resolution(std::string_view socket, std::string_view change,
                                           std::string_view trigger) {
  unix_socket_resolutions_
      .Add({{"socket", std::string(socket)},
            {"change", std::string(change)},
            {"trigger", std::string(trigger)}})
      .Increment();
}

void Metrics::set_kubernetes_watch(const std::string& resource, bool synced, std::size_t objects,
                                   std::uint64_t lists, std::uint64_t reconnects) {
  kube_synced_.Add({{"resource", resource}}).Set(synced ? 1 : 0);
  kube_objects_.Add({{"resource", resource}}).Set(double(objects));
  auto& [seen_lists, seen_reconnects] = kube_seen_[resource];
  // The first list is no restart.
  const std::uint64_t relists = lists > 1 ? lists - 1 : 0;
  auto& relist = kube_restarts_.Add({{"resource", resource}, {"reason", "relist"}});
  auto& reconnect = kube_restarts_.Add({{"resource", resource}, {"reason", "reconnect"}});
  if (relists > seen_lists) relist.Increment(double(relists - seen_lists));
  if (reconnects > seen_reconnects) reconnect.Increment(double(reconnects - seen_reconnects));
  seen_lists = std::max(seen_lists, relists);
  seen_reconnects = std::max(seen_reconnects, reconnects);
}

void Metrics::count_discovery_problem(const std::string& problem) {
  discovery_problems_.Add({{"problem", problem}}).Increment();
}

void Metrics::set_discovery_problems(const std::map<std::string, std::size_t>& open) {
  for (const char* p : {"address_conflict", "cgroup_vanished", "attach_failed", "source_failed",
                        "service_conflict"})
    discovery_open_.Add({{"problem", p}}).Set(0);
  for (const auto& [problem, count] : open)
    discovery_open_.Add({{"problem", problem}}).Set(double(count));
}

void Metrics::count_violation(std::string_view kind, std::string_view verdict,
                              const std::string& zone) {
  violation_counter(kind, verdict, zone).Increment();
}

prometheus::Counter& Metrics::violation_counter(std::string_view kind, std::string_view verdict,
                                                const std::string& zone) {
  return violations_.Add(
      {{"kind", std::string(kind)}, {"verdict", std::string(verdict)}, {"zone", zone}});
}

void Metrics::count_lost(LossStage stage, std::uint64_t events) {
  lost_[static_cast<std::size_t>(stage)] += events;
}

std::uint64_t Metrics::lost(LossStage stage) const {
  return lost_[static_cast<std::size_t>(stage)].load();
}

void Metrics::count_delivered(std::string_view sink, std::uint64_t events, std::uint64_t alerts) {
  prometheus::Counter* delivered = nullptr;
  prometheus::Counter* counted = nullptr;
  if (sink == "jsonl") {
    delivered = delivered_jsonl_;
    counted = alerts_jsonl_;
  } else if (sink == "webhook") {
    delivered = delivered_webhook_;
    counted = alerts_webhook_;
  } else {
    delivered = &delivered_.Add({{"sink", std::string(sink)}});
    counted = &alerts_.Add({{"sink", std::string(sink)}});
  }
  delivered->Increment(double(events));
  counted->Increment(double(alerts));
}

void Metrics::count_deduplicated(std::uint64_t events) { deduplicated_.Increment(double(events)); }

void Metrics::count_suppressed(std::string_view reason, std::string_view kind,
                               std::uint64_t events) {
  if (auto it = rate_limited_.find(kind); reason == "rate_limit" && it != rate_limited_.end()) {
    it->second->Increment(double(events));
    return;
  }
  suppressed_.Add({{"reason", std::string(reason)}, {"kind", std::string(kind)}})
      .Increment(double(events));
}

void Metrics::count_targets_overflow(std::string_view kind) {
  if (auto it = overflowed_.find(kind); it != overflowed_.end()) {
    it->second->Increment();
    return;
  }
  targets_overflow_.Add({{"kind", std::string(kind)}}).Increment();
}

void Metrics::observe_latency(double seconds) { latency_.Observe(seconds); }

void Metrics::observe_identify(double seconds) { identify_.Observe(seconds); }

void Metrics::count_posture(const std::string& check) {
  posture_.Add({{"check", check}}).Increment();
}

void Metrics::set_container_compliant(const std::string& container, bool compliant) {
  compliant_.Add({{"container", container}}).Set(compliant ? 1 : 0);
}

void Metrics::count_decode_error() {
  decode_errors_.Increment();
  count_lost(LossStage::Decode, 1);
}

void Metrics::set_policy_rules(std::size_t rules) {
  policy_rules_.Add({}).Set(static_cast<double>(rules));
}

void Metrics::set_policy_generation(std::uint64_t generation) {
  policy_generation_.Add({}).Set(static_cast<double>(generation));
}

void Metrics::set_workloads(const std::map<std::string, std::size_t>& per_zone) {
  for (const auto& [zone, count] : per_zone)
    workloads_.Add({{"zone", zone}}).Set(static_cast<double>(count));
}

void Metrics::set_guard_backends(const std::vector<probe::GuardBackend>& guards) {
  for (const auto& g : guards)
    guard_backend_
        .Add({{"guard", std::string(guard_name(g.guard))},
              {"backend", std::string(backend_name(g.backend))}})
        .Set(1);
}

void Metrics::set_guard_interruptible(std::string_view guard, bool interruptible) {
  guard_interruptible_.Add({{"guard", std::string(guard)}}).Set(interruptible ? 1 : 0);
}

void Metrics::count_tamper_check() { tamper_checks_.Increment(); }

void Metrics::set_pinning(
    bool pinned,
    const std::vector<std::pair<std::pair<std::string, std::string>, std::size_t>>& adopted,
    std::uint64_t lost_unattended) {
  pinned_.Add({}).Set(pinned ? 1 : 0);
  for (const auto& [what, count] : adopted)
    adopted_.Add({{"object", what.first}, {"result", what.second}}).Set(static_cast<double>(count));
  lost_unattended_.Add({}).Set(static_cast<double>(lost_unattended));
}

void Metrics::count_tamper_repair(std::string_view detected_by, double window_seconds,
                                  std::size_t programs, std::size_t failed) {
  const std::string by(detected_by);
  tamper_repairs_.Add({{"detected_by", by}}).Increment();
  reattach_.Add({{"result", "ok"}}).Increment(double(programs));
  if (failed) reattach_.Add({{"result", "failed"}}).Increment(double(failed));
  tamper_window_
      .Add({{"detected_by", by}},
           prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                   0.25, 0.5, 1, 2.5, 5})
      .Observe(window_seconds);
  tamper_last_window_.Set(window_seconds);
}

void Metrics::count_signal_from_workload(std::string_view signal, std::string_view verdict,
                                         const std::string& zone) {
  signals_refused_
      .Add({{"signal", std::string(signal)}, {"verdict", std::string(verdict)}, {"zone", zone}})
      .Increment();
}

void Metrics::count_policy_reload(std::string_view result) {
  policy_reloads_.Add({{"result", std::string(result)}}).Increment();
}

void Metrics::set_policy_info(const std::string& name, const std::string& sha256) {
  auto& now = policy_info_.Add({{"name", name}, {"sha256", sha256}});
  if (policy_info_current_ && policy_info_current_ != &now)
    policy_info_.Remove(policy_info_current_);
  now.Set(1);
  policy_info_current_ = &now;
}

void Metrics::replace_guard_backends(const std::vector<probe::GuardBackend>& before,
                                     const std::vector<probe::GuardBackend>& after) {
  auto labels = [](const probe::GuardBackend& g) -> std::map<std::string, std::string> {
    return {{"guard", std::string(guard_name(g.guard))},
            {"backend", std::string(backend_name(g.backend))}};
  };
  for (const auto& g : before) guard_backend_.Remove(&guard_backend_.Add(labels(g)));
  set_guard_backends(after);
}

void Metrics::export_kernel(KernelSource source) { kernel_->set_source(std::move(source)); }

Result<void> Metrics::serve(const std::string& address, const HealthState* health) {
  static const CivetCallbacks callbacks = [] {
    CivetCallbacks c;
    c.begin_request = answer_health_request;
    return c;
  }();
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, 2, health ? &callbacks : nullptr);
  } catch (const std::exception& e) {
    return fail("cannot serve /metrics on " + address + " (" + e.what() +
                "): is the port taken? choose another with --metrics-address HOST:PORT");
  }
  exposer_->RegisterCollectable(registry_);
  exposer_->RegisterCollectable(kernel_);
  if (health)
    health_routes_ = std::make_unique<HealthRoutes>(*health, exposer_->GetListeningPorts());
  return {};
}

std::string Metrics::scrape() const {
  auto families = registry_->Collect();
  auto more = kernel_->Collect();
  families.insert(families.end(), more.begin(), more.end());
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace guardrail
