// The agent's health, as kubelet probes ask for it: /healthz (liveness: the agent's loops still
// turn) and /readyz (readiness: the programs are attached and a policy is applied, with its
// generation and hash), JSON, served on the metrics address next to /metrics.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

struct mg_connection;

namespace guardrail {

// What the agent tells the endpoints. Thread-safe: the agent's threads set it, the web server's
// threads read it.
class HealthState {
 public:
  // A loop that has not beaten for `stale_after_ns` is reported stuck, and /healthz fails.
  explicit HealthState(std::uint64_t stale_after_ns) : stale_after_ns_(stale_after_ns) {}

  // One turn of `loop` at `now_ns` (CLOCK_BOOTTIME, as the agent counts).
  void beat(std::string_view loop, std::uint64_t now_ns);
  // The maps enforce generation `generation` (re-scans that change the workloads count too, as
  // guardrail_policy_generation does).
  void set_generation(std::uint64_t generation);
  // The policy file in force: its name and sha256.
  void set_policy(std::string name, std::string sha256);
  // The programs are attached and the first policy is applied: ready from now on.
  void set_ready();

  struct Answer {
    int status = 200;  // HTTP status: 200, or 503 when not live / not ready
    std::string body;  // JSON
  };
  Answer liveness(std::uint64_t now_ns) const;
  Answer readiness() const;

 private:
  const std::uint64_t stale_after_ns_;
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t, std::less<>> beats_;  // loop -> last beat
  std::uint64_t generation_ = 0;
  std::string policy_;
  std::string sha256_;
  bool ready_ = false;
};

// civetweb's begin_request hook for prometheus-cpp's Exposer, which owns its web server and
// takes no handlers of ours: it answers GET /healthz and /readyz from the HealthState registered
// for the port the request came in on, and leaves every other request to the Exposer.
int answer_health_request(mg_connection* conn);

// While alive, `state` answers the health requests arriving on `ports`; the registration goes
// with the object (before the state it points to may).
class HealthRoutes {
 public:
  HealthRoutes(const HealthState& state, std::vector<int> ports);
  ~HealthRoutes();
  HealthRoutes(const HealthRoutes&) = delete;
  HealthRoutes& operator=(const HealthRoutes&) = delete;

 private:
  std::vector<int> ports_;
};

}  // namespace guardrail
