// The userspace half of an event's way: decode (done by the caller), enrich, dedup, rate limit,
// format, sinks. The ring buffer consumer hands events over through a bounded queue and never
// waits; the pipeline runs on a thread of its own. Every event is accounted for exactly once:
// delivered (in an alert's count), suppressed by the rate limit, or lost at a named stage.
// The rate limit never hides the first alert of a target (DistinctTargets), budgets are per
// workload and kind, and what it did suppress is reported by a periodic summary alert.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "guardrail/events/events.hpp"
#include "guardrail/metrics/metrics.hpp"
#include "guardrail/pipeline/alert.hpp"
#include "guardrail/pipeline/bounded_queue.hpp"
#include "guardrail/pipeline/dedup.hpp"
#include "guardrail/pipeline/distinct_targets.hpp"
#include "guardrail/pipeline/process_info.hpp"
#include "guardrail/pipeline/rate_limiter.hpp"
#include "guardrail/pipeline/suppression_summary.hpp"
#include "guardrail/sinks/json_lines.hpp"
#include "guardrail/sinks/webhook.hpp"

namespace guardrail::pipeline {

struct PipelineOptions {
  std::chrono::nanoseconds dedup_window = std::chrono::seconds(10);  // 0: no dedup
  double rate_limit = 50;  // alerts/s per workload and kind; 0: off
  double rate_burst = 100;
  std::map<std::uint16_t, KindBudget> kind_budgets;  // kinds whose budget differs from the above
  std::size_t queue_capacity = 65536;
  // A summary alert per workload that had alerts suppressed, at most this often.
  std::chrono::nanoseconds summary_interval = std::chrono::seconds(30);
  // Targets remembered per kind for "the first alert of a target is never suppressed", and how
  // long each is remembered.
  std::size_t distinct_targets = 4096;
  std::chrono::nanoseconds distinct_target_memory = std::chrono::minutes(10);
};

// The alert JSON: the event's fields (events::to_json) and what the pipeline adds: count,
// first_time, last_time, exe, ppid, parent_exe, node, labels.
nlohmann::ordered_json format_alert(const PendingAlert& alert, const events::NameTable& names,
                                    const events::WallClock& clock, const std::string& node);

class AlertPipeline {
 public:
  using Formatter = std::function<nlohmann::ordered_json(const PendingAlert&)>;
  using SummaryFormatter = std::function<nlohmann::ordered_json(const SuppressionSummary&)>;

  // `webhook` may be null. Sinks and metrics must outlive the pipeline.
  AlertPipeline(PipelineOptions options, Metrics& metrics, JsonLinesSink& jsonl,
                WebhookSink* webhook, Formatter format, SummaryFormatter format_summary);
  ~AlertPipeline();  // drains the queue, closes every dedup window, then stops
  AlertPipeline(const AlertPipeline&) = delete;
  AlertPipeline& operator=(const AlertPipeline&) = delete;

  // From the ring buffer consumer: never blocks; a full queue counts a loss.
  void submit(const events::Event& event);

 private:
  void run();
  void emit(PendingAlert alert, std::uint64_t now_ns);
  // Whether the rate limit lets `alert` out; counts it suppressed when not.
  bool admit(const PendingAlert& alert, std::uint64_t now_ns);
  void emit_summaries(std::vector<SuppressionSummary> summaries);
  // Writes the alerts deferred to the JSONL sink and counts them delivered (or lost).
  void flush_jsonl();

  PipelineOptions options_;
  Metrics& metrics_;
  JsonLinesSink& jsonl_;
  WebhookSink* webhook_;
  Formatter format_;
  SummaryFormatter format_summary_;
  BoundedQueue<events::Event> queue_;
  Deduplicator dedup_;
  RateLimiter limiter_;
  DistinctTargets targets_;
  SuppressionLedger ledger_;
  ProcessInfoCache processes_;
  // Alerts deferred to the JSONL sink since the last flush: their events, and each alert's last
  // event time (for the latency, measured when written).
  struct Unflushed {
    std::uint64_t events = 0;
    std::vector<std::uint64_t> last_ns;
  } unflushed_;
  std::thread thread_;
};

}  // namespace guardrail::pipeline
