#include "guardrail/pipeline/alert_pipeline.hpp"

#include <time.h>

#include <vector>

namespace guardrail::pipeline {
namespace {

std::uint64_t boot_ns() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// How long the pipeline waits for an event before it looks at closing dedup windows.
constexpr std::chrono::milliseconds kTick{50};
// Alerts deferred to the JSONL sink before they are written out together.
constexpr std::size_t kFlushAlerts = 256;

}  // namespace

nlohmann::ordered_json format_alert(const PendingAlert& alert, const events::NameTable& names,
                                    const events::WallClock& clock, const std::string& node) {
  auto j = events::to_json(alert.event, names, clock);
  j["count"] = alert.count;
  j["first_time"] = clock.format(alert.first_ns);
  j["last_time"] = clock.format(alert.last_ns);
  j["exe"] = alert.process.exe;
  j["ppid"] = alert.process.ppid;
  j["parent_exe"] = alert.process.parent_exe;
  j["node"] = node;
  j["labels"] = nlohmann::ordered_json::object();
  return j;
}

AlertPipeline::AlertPipeline(PipelineOptions options, Metrics& metrics, JsonLinesSink& jsonl,
                             WebhookSink* webhook, Formatter format,
                             SummaryFormatter format_summary)
    : options_(options),
      metrics_(metrics),
      jsonl_(jsonl),
      webhook_(webhook),
      format_(std::move(format)),
      format_summary_(std::move(format_summary)),
      queue_(options.queue_capacity),
      dedup_(options.dedup_window),
      limiter_(KindBudget{options.rate_limit, options.rate_burst}, options.kind_budgets),
      targets_(options.distinct_targets, options.distinct_target_memory),
      ledger_(options.summary_interval),
      thread_([this] { run(); }) {}

AlertPipeline::~AlertPipeline() {
  queue_.close();
  if (thread_.joinable()) thread_.join();
}

void AlertPipeline::submit(const events::Event& event) {
  if (!queue_.try_push(event)) metrics_.count_lost(LossStage::Queue, 1);
}

void AlertPipeline::run() {
  std::vector<events::Event> batch;  // reused: swapped with the queue's storage
  for (;;) {
    queue_.pop_all_for(batch, kTick);
    std::uint64_t now = boot_ns();
    for (auto& folded : dedup_.expire(now)) emit(std::move(folded), now);
    emit_summaries(ledger_.take(now));
    for (const auto& event : batch) {
      now = boot_ns();
      PendingAlert alert = PendingAlert::of(event);
      alert.process = processes_.lookup(static_cast<pid_t>(events::pid(event)), now);
      if (auto first = dedup_.offer(std::move(alert), now)) emit(std::move(*first), now);
    }
    flush_jsonl();
    if (batch.empty() && queue_.drained()) break;
  }
  for (auto& folded : dedup_.flush()) emit(std::move(folded), boot_ns());
  emit_summaries(ledger_.flush());
  flush_jsonl();
}

void AlertPipeline::flush_jsonl() {
  if (unflushed_.last_ns.empty()) return;
  if (jsonl_.flush()) {
    metrics_.count_delivered("jsonl", unflushed_.events, unflushed_.last_ns.size());
    const std::uint64_t now = boot_ns();
    for (auto last : unflushed_.last_ns)
      metrics_.observe_latency(now > last ? double(now - last) / 1e9 : 0);
  } else {
    metrics_.count_lost(LossStage::AlertsFile, unflushed_.events);
  }
  unflushed_.events = 0;
  unflushed_.last_ns.clear();
}

bool AlertPipeline::admit(const PendingAlert& alert, std::uint64_t now_ns) {
  const std::uint16_t kind = events::header(alert.event).type;
  if (!limiter_.limits(kind)) return true;
  // Asked before the bucket, so that a first alert still spends a token when there is one.
  const auto seen = targets_.offer(kind, dedup_key(alert.event), now_ns);
  if (seen == DistinctTargets::Seen::Full) {
    metrics_.count_targets_overflow(events::kind_name(kind));
    ledger_.overflowed(alert.event);
  }
  const bool token = limiter_.allow(events::workload_id(alert.event), kind, now_ns);
  if (token || seen == DistinctTargets::Seen::New) return true;
  metrics_.count_suppressed("rate_limit", events::kind_name(kind), alert.count);
  ledger_.suppressed(alert.event, alert.count);
  return false;
}

void AlertPipeline::emit_summaries(std::vector<SuppressionSummary> summaries) {
  for (const auto& summary : summaries) {
    if (summary.suppressed.empty() && summary.overflow.empty()) continue;
    auto json = format_summary_(summary);
    // A summary stands for no delivered event: it counts as an alert, outside the identity.
    if (jsonl_.write(json)) metrics_.count_delivered("jsonl", 0, 1);
    if (webhook_) webhook_->enqueue(std::move(json));
  }
}

void AlertPipeline::emit(PendingAlert alert, std::uint64_t now_ns) {
  if (alert.count > 1) metrics_.count_deduplicated(alert.count);
  if (!admit(alert, now_ns)) return;
  // Only what leaves dedup and the rate limit is formatted.
  auto json = format_(alert);
  // Written with the batch (flush_jsonl), counted delivered or lost then.
  if (jsonl_.defer(json)) {
    unflushed_.events += alert.count;
    unflushed_.last_ns.push_back(alert.last_ns);
    // A batch can hold the whole queue: its alerts go out (and are counted) in pieces, so that
    // neither the file nor the metrics stall behind it.
    if (unflushed_.last_ns.size() >= kFlushAlerts) flush_jsonl();
  } else {
    metrics_.count_lost(LossStage::AlertsFile, alert.count);
  }
  if (webhook_ && !webhook_->enqueue(std::move(json)))
    metrics_.count_lost(LossStage::Webhook, alert.count);
}

}  // namespace guardrail::pipeline
