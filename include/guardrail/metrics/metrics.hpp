// Prometheus metrics served on /metrics (prometheus-cpp). Counting happens before any alert is
// formatted, so the counters stay exact even when alert output falls behind. Label values are
// bounded: kinds, verdicts, zones, guards, sinks and stages, never pids or addresses.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "guardrail/loader/program_stats.hpp"
#include "guardrail/metrics/health.hpp"
#include "guardrail/probe/probe.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail {

// Where an event can be lost on its way from the kernel to a sink.
enum class LossStage { Ringbuf, Decode, Queue, Webhook, AlertsFile };
std::string_view loss_stage_name(LossStage stage);

// What the kernel side knows, read at scrape time so a scrape is never stale.
struct KernelSource {
  std::function<std::uint64_t()> events_submitted;
  std::function<std::uint64_t()> events_lost;  // ring buffer reservations that failed
  std::function<std::uint64_t()> ringbuf_unread_bytes;
  std::uint64_t ringbuf_size_bytes = 0;
  std::function<std::vector<ProgramStats>()> program_stats;  // empty while stats are off
};

class Metrics {
 public:
  Metrics();

  void count_violation(std::string_view kind, std::string_view verdict, const std::string& zone);
  // The series count_violation() increments (per event, ViolationCounters keeps it).
  prometheus::Counter& violation_counter(std::string_view kind, std::string_view verdict,
                                         const std::string& zone);
  void count_lost(LossStage stage, std::uint64_t events);
  // `alerts` alerts holding `events` events in all reached the sink.
  void count_delivered(std::string_view sink, std::uint64_t events, std::uint64_t alerts = 1);
  void count_deduplicated(std::uint64_t events);
  // Events of `kind` not alerted for `reason` (rate_limit).
  void count_suppressed(std::string_view reason, std::string_view kind, std::uint64_t events);
  // A distinct target of `kind` found the pipeline's memory of targets full: its first alert was
  // not guaranteed.
  void count_targets_overflow(std::string_view kind);
  void observe_latency(double seconds);
  // From a container's start event to its identity in the maps.
  void observe_identify(double seconds);
  // Continuous posture: a container failed `check`; whether a container meets the baseline.
  void count_posture(const std::string& check);
  void set_container_compliant(const std::string& container, bool compliant);
  void count_decode_error();

  void set_policy_rules(std::size_t rules);
  void set_policy_generation(std::uint64_t generation);
  void set_workloads(const std::map<std::string, std::size_t>& per_zone);
  void set_guard_backends(const std::vector<probe::GuardBackend>& guards);
  // Whether a privileged workload can interrupt `guard` (detach its programs) until the agent
  // re-attaches them: 1 where BPF-LSM cannot refuse bpf() to workloads.
  void set_guard_interruptible(std::string_view guard, bool interruptible);
  // The tamper check: one run; one cgroup found missing programs, re-attached after `window`
  // seconds (an upper bound when the periodic check found it); `programs` re-attached, `failed`
  // not.
  void count_tamper_check();
  void count_tamper_repair(std::string_view detected_by, double window_seconds,
                           std::size_t programs, std::size_t failed);
  void export_kernel(KernelSource source);
  // Pinning, set once at start-up: whether enforcement outlives the agent (pinned under bpffs),
  // what was adopted from a previous agent ({object, result} -> count, e.g. {"link","kept"}),
  // and how many events the kernel lost while no agent read the ring buffer.
  void set_pinning(
      bool pinned,
      const std::vector<std::pair<std::pair<std::string, std::string>, std::size_t>>& adopted,
      std::uint64_t lost_unattended);

  // A policy reload (SIGHUP or a change of the file) ended `result`: applied, rejected or
  // unchanged (same file hash: nothing swapped).
  void count_policy_reload(std::string_view result);
  // A workload sent the agent SIGTERM, SIGINT or SIGHUP: `verdict` blocked or killed (ignored),
  // audited (obeyed).
  void count_signal_from_workload(std::string_view signal, std::string_view verdict,
                                  const std::string& zone);
  // The policy file in force: guardrail_policy_info{name,sha256} 1, one series at a time.
  void set_policy_info(const std::string& name, const std::string& sha256);
  // After a reload: the backend series of `before` go, those of `after` are set.
  void replace_guard_backends(const std::vector<probe::GuardBackend>& before,
                              const std::vector<probe::GuardBackend>& after);
  // Discovery problems (policy::DiscoveryProblem): one found (counted once until it goes away),
  // and how many of each are open now.
  // One Kubernetes watch's state: whether its first list arrived, the objects it holds, and its
  // lists (1 + relists) and reconnects so far (totals: the counters grow by the difference).
  void set_kubernetes_watch(const std::string& resource, bool synced, std::size_t objects,
                            std::uint64_t lists, std::uint64_t reconnects);
  void count_discovery_problem(const std::string& problem);
  void set_discovery_problems(const std::map<std::string, std::size_t>& open);
  // A followed unix socket re-resolved to another inode: `socket` runtime or allowed, `change`
  // appeared, replaced or gone, `trigger` inotify, rescan or apply.
  void count_unix_socket_resolution(std::string_view socket, std::string_view change,
                                    std::string_view trigger);

  // Starts serving /metrics on "HOST:PORT", and /healthz and /readyz from `health` when given (it
  // must outlive the serving). Fails with the address and the fix when the port is taken or the
  // address is not local.
  Result<void> serve(const std::string& address, const HealthState* health = nullptr);
  // Stops serving /metrics (a no-op when not serving): before what a scrape reads goes away.
  void stop_serving() {
    health_routes_.reset();
    exposer_.reset();
  }

  // The text exposition of every metric, as a scrape would return it.
  std::string scrape() const;

  std::uint64_t lost(LossStage stage) const;

 private:
  class KernelView;

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& violations_;
  prometheus::Family<prometheus::Counter>& delivered_;
  prometheus::Family<prometheus::Counter>& alerts_;
  // The series of the sinks, made at construction: count_delivered() runs per alert.
  prometheus::Counter* delivered_jsonl_ = nullptr;
  prometheus::Counter* alerts_jsonl_ = nullptr;
  prometheus::Counter* delivered_webhook_ = nullptr;
  prometheus::Counter* alerts_webhook_ = nullptr;
  prometheus::Family<prometheus::Counter>& suppressed_;
  prometheus::Family<prometheus::Counter>& targets_overflow_;
  // The series of every kind, made at construction (read-only after): under a flood the rate
  // limit suppresses nearly every event, each counted here.
  std::map<std::string, prometheus::Counter*, std::less<>> rate_limited_;
  std::map<std::string, prometheus::Counter*, std::less<>> overflowed_;
  prometheus::Counter& deduplicated_;
  prometheus::Counter& decode_errors_;
  prometheus::Histogram& latency_;
  prometheus::Histogram& identify_;
  prometheus::Family<prometheus::Counter>& posture_;
  prometheus::Family<prometheus::Gauge>& compliant_;
  prometheus::Family<prometheus::Gauge>& policy_rules_;
  prometheus::Family<prometheus::Gauge>& policy_generation_;
  prometheus::Family<prometheus::Gauge>& workloads_;
  prometheus::Family<prometheus::Gauge>& guard_backend_;
  prometheus::Family<prometheus::Gauge>& guard_interruptible_;
  prometheus::Counter& tamper_checks_;
  prometheus::Family<prometheus::Counter>& tamper_repairs_;
  prometheus::Family<prometheus::Counter>& reattach_;
  prometheus::Family<prometheus::Histogram>& tamper_window_;
  prometheus::Gauge& tamper_last_window_;
  prometheus::Family<prometheus::Gauge>& pinned_;
  prometheus::Family<prometheus::Gauge>& adopted_;
  prometheus::Family<prometheus::Gauge>& lost_unattended_;
  prometheus::Family<prometheus::Counter>& policy_reloads_;
  prometheus::Family<prometheus::Counter>& signals_refused_;
  prometheus::Family<prometheus::Gauge>& policy_info_;
  prometheus::Gauge* policy_info_current_ = nullptr;
  prometheus::Family<prometheus::Counter>& discovery_problems_;
  prometheus::Family<prometheus::Gauge>& discovery_open_;
  prometheus::Family<prometheus::Counter>& unix_socket_resolutions_;
  prometheus::Family<prometheus::Gauge>& kube_synced_;
  prometheus::Family<prometheus::Gauge>& kube_objects_;
  prometheus::Family<prometheus::Counter>& kube_restarts_;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> kube_seen_;  // lists, reconnects
  std::array<std::atomic<std::uint64_t>, 5> lost_{};  // by LossStage, userspace stages
  std::shared_ptr<KernelView> kernel_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<HealthRoutes> health_routes_;  // goes before the Exposer does
};

}  // namespace guardrail
