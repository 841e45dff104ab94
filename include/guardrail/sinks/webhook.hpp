// Alerts to an HTTP webhook in Alertmanager's v2 API format (POST /api/v2/alerts), through
// libcurl, on a thread of its own behind a bounded queue: a slow or dead receiver never blocks
// the pipeline, and every alert it cannot deliver is counted.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "guardrail/util/result.hpp"

namespace guardrail {

struct WebhookOptions {
  // Alertmanager's base URL ("http://127.0.0.1:9093") or the full alerts endpoint; the sink
  // posts to URL + "/api/v2/alerts" unless the URL already ends with "/api/v2/alerts".
  std::string url;
  std::chrono::milliseconds timeout{2000};  // per request, connect included
  int retries = 3;                          // further attempts after the first failure
  std::chrono::milliseconds backoff{200};   // doubles after each failed attempt
  std::string ca_file;                      // TLS: CA bundle to verify the receiver with
  bool insecure = false;                    // TLS: skip verification (testing only)
  std::size_t queue_capacity = 4096;        // alerts waiting to be sent
  std::size_t batch_max = 64;               // alerts per POST
  std::string node;                         // this host's name, a label on every alert
  std::string generator_url;                // where the alert came from (the /metrics URL)
};

// What happened to alerts handed to the sink; `events` sums the alerts' "count" fields.
struct WebhookOutcome {
  std::uint64_t alerts = 0;
  std::uint64_t events = 0;
  bool delivered = false;  // false: dropped after the last retry, or at shutdown
};

class WebhookSink {
 public:
  using Observer = std::function<void(const WebhookOutcome&)>;

  // Validates the URL (http or https), starts the sender thread. The observer runs on that thread.
  static Result<std::unique_ptr<WebhookSink>> start(WebhookOptions options, Observer observer);
  ~WebhookSink();  // sends what is queued (bounded by one timeout per batch), then stops
  WebhookSink(const WebhookSink&) = delete;
  WebhookSink& operator=(const WebhookSink&) = delete;

  // Queues one alert (a JSON-lines alert object, with its "count"). Returns false when the queue
  // is full: the caller counts that loss.
  bool enqueue(nlohmann::ordered_json alert);

  const std::string& endpoint() const;

  struct Impl;
  explicit WebhookSink(std::unique_ptr<Impl> impl);  // through start()

 private:
  std::unique_ptr<Impl> impl_;
};

// The Alertmanager v2 body for a batch of alerts: a JSON array of
// {"labels": {...}, "annotations": {...}, "startsAt": ..., "generatorURL": ...}. Labels:
// alertname="GuardrailViolation", kind, verdict, zone, workload, severity ("critical" for
// east_west_bypass and blocked/killed, "warning" for audited/detected), node, and target
// ("tcp/198.18.0.4:8080"-style, from protocol, dst/dport for egress or src for ingress).
// Annotations: summary (one readable sentence), description (the alert JSON line), count.
nlohmann::json alertmanager_payload(std::span<const nlohmann::ordered_json> alerts,
                                    const std::string& node, const std::string& generator_url);

}  // namespace guardrail
