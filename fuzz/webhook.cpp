// Fuzz target: the webhook sink. The bytes as the receiver's whole HTTP response to the alerts
// POST (status, body kept for the log, outcome), then as an alert for the Alertmanager payload.
#include "guardrail/sinks/webhook.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <span>
#include <string>

#include "canned_server.hpp"
#include "targets.hpp"

namespace guardrail::fuzz {

void webhook(Input data) {
  const std::string text(reinterpret_cast<const char*>(data.data()), data.size());
  const auto alert = nlohmann::ordered_json::parse(text, nullptr, false);
  if (alert.is_object()) {
    (void)alertmanager_payload(std::span(&alert, 1), "node", "http://127.0.0.1:9464/metrics")
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  static const auto server = [] {
    spdlog::set_level(spdlog::level::off);  // a warning per failed POST: noise, and slow
    return CannedServer::loopback_tcp();
  }();
  server->set_answer(text);
  WebhookOptions options;
  options.url = server->url();
  options.timeout = std::chrono::milliseconds(2000);
  options.retries = 0;
  auto sink = WebhookSink::start(options, [](const WebhookOutcome&) {});
  if (!sink) return;
  (*sink)->enqueue(nlohmann::ordered_json{
      {"kind", "net_connect"}, {"verdict", "blocked"}, {"zone", "agents"}, {"count", 1}});
  sink->reset();  // sends what is queued, then stops
}

}  // namespace guardrail::fuzz
