#include "guardrail/metrics/health.hpp"

#include <civetweb.h>
#include <time.h>

#include <nlohmann/json.hpp>
#include <string>

namespace guardrail {
namespace {

std::uint64_t boot_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000 + std::uint64_t(ts.tv_nsec);
}

// The Exposer owns civetweb's server and its user data, so the hook finds its state here, by
// the port the request arrived on (one agent, or one test, per port).
struct Routes {
  std::mutex mutex;
  std::map<int, const HealthState*> by_port;
};

Routes& routes() {
  static Routes r;
  return r;
}

void send(mg_connection* conn, const HealthState::Answer& answer, bool head) {
  const char* reason = answer.status == 200 ? "OK" : "Service Unavailable";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
            answer.status, reason, answer.body.size());
  if (!head) mg_write(conn, answer.body.data(), answer.body.size());
}

}  // namespace

void HealthState::beat(std::string_view loop, std::uint64_t now_ns) {
  std::lock_guard lock(mutex_);
  if (auto it = beats_.find(loop); it != beats_.end())
    it->second = now_ns;
  else
    beats_.emplace(std::string(loop), now_ns);
}

void HealthState::set_generation(std::uint64_t generation) {
  std::lock_guard lock(mutex_);
  generation_ = generation;
}

void HealthState::set_policy(std::string name, std::string sha256) {
  std::lock_guard lock(mutex_);
  policy_ = std::move(name);
  sha256_ = std::move(sha256);
}

void HealthState::set_ready() {
  std::lock_guard lock(mutex_);
  ready_ = true;
}

HealthState::Answer HealthState::liveness(std::uint64_t now_ns) const {
  std::lock_guard lock(mutex_);
  nlohmann::ordered_json loops = nlohmann::ordered_json::object();
  std::string stuck;
  for (const auto& [loop, last] : beats_) {
    const std::uint64_t ago = now_ns > last ? now_ns - last : 0;
    const bool live = ago <= stale_after_ns_;
    loops[loop] = {{"live", live}, {"seconds_since_beat", double(ago) / 1e9}};
    if (!live) stuck += (stuck.empty() ? "" : ", ") + loop;
  }
  // Before the first beat nothing is stuck yet: start-up is readiness's business.
  nlohmann::ordered_json body = {{"status", stuck.empty() ? "ok" : "stuck"},
                                 {"stale_after_seconds", double(stale_after_ns_) / 1e9},
                                 {"loops", loops}};
  if (!stuck.empty())
    body["message"] = "the agent's " + stuck + " loop has not turned for longer than " +
                      std::to_string(stale_after_ns_ / 1'000'000'000) +
                      " s: it is stuck; restart the agent (the pinned programs keep enforcing)";
  return {stuck.empty() ? 200 : 503, body.dump()};
}

HealthState::Answer HealthState::readiness() const {
  std::lock_guard lock(mutex_);
  nlohmann::ordered_json body = {{"status", ready_ ? "ready" : "starting"},
                                 {"programs_attached", ready_},
                                 {"policy_applied", ready_},
                                 {"policy", policy_},
                                 {"generation", generation_},
                                 {"sha256", sha256_}};
  return {ready_ ? 200 : 503, body.dump()};
}

int answer_health_request(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  if (!info || !info->local_uri || !info->request_method) return 0;
  const std::string_view uri = info->local_uri;
  const std::string_view method = info->request_method;
  if (uri != "/healthz" && uri != "/readyz") return 0;
  if (method != "GET" && method != "HEAD") return 0;
  auto& r = routes();
  std::lock_guard lock(r.mutex);  // held while answering: a route goes only after its answers
  const auto it = r.by_port.find(info->server_port);
  if (it == r.by_port.end()) return 0;  // not ours: the Exposer answers 404
  const auto answer = uri == "/healthz" ? it->second->liveness(boot_ns()) : it->second->readiness();
  send(conn, answer, method == "HEAD");
  return answer.status;  // civetweb: handled, with this status for its log
}

HealthRoutes::HealthRoutes(const HealthState& state, std::vector<int> ports)
    : ports_(std::move(ports)) {
  auto& r = routes();
  std::lock_guard lock(r.mutex);
  for (int port : ports_) r.by_port[port] = &state;
}

HealthRoutes::~HealthRoutes() {
  auto& r = routes();
  std::lock_guard lock(r.mutex);
  for (int port : ports_) r.by_port.erase(port);
}

}  // namespace guardrail
