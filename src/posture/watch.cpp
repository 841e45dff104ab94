#include "guardrail/posture/watch.hpp"

#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>

#include "guardrail/events/events.hpp"

namespace guardrail::posture {

nlohmann::ordered_json posture_alert(const docker::Container& c, const Finding& f,
                                     const std::string& workload, const std::string& zone,
                                     const std::string& policy, const std::string& node,
                                     const std::string& time) {
  // The common fields of every alert, as far as they apply: the process is the container's init.
  return {
      {"time", time},
      {"kind", "posture"},
      {"verdict", "detected"},
      {"backend", "docker_api"},
      {"policy", policy},
      {"workload", workload},
      {"zone", zone},
      {"cgroup_id", 0},
      {"pid", c.pid},
      {"tid", 0},
      {"comm", ""},
      {"container_id", c.id},
      {"container", c.name},
      {"image", c.image},
      {"check", f.check},
      {"detail", f.detail},
      {"count", 1},
      {"first_time", time},
      {"last_time", time},
      {"exe", ""},
      {"ppid", 0},
      {"parent_exe", ""},
      {"node", node},
      {"labels", nlohmann::ordered_json::object()},
  };
}

PostureWatch::PostureWatch(const docker::Client& client, Metrics& metrics, Emit emit,
                           std::string policy, std::string node,
                           std::vector<std::string> quarantine_on)
    : client_(client),
      metrics_(metrics),
      emit_(std::move(emit)),
      policy_(std::move(policy)),
      node_(std::move(node)),
      apparmor_(host_has_apparmor()),
      quarantine_on_(std::move(quarantine_on)) {}

void PostureWatch::update(
    const std::vector<docker::Container>& running,
    const std::function<std::pair<std::string, std::string>(const docker::Container&)>&
        workload_and_zone) {
  std::set<std::string> now;
  for (const auto& c : running) {
    if (c.pid <= 0) continue;  // exited: nothing left to assess
    now.insert(c.id);
    if (assessed_.contains(c.id)) continue;
    auto inspect = client_.inspect(c.id);
    if (!inspect) {
      spdlog::warn("posture of container {}: {}", c.name, inspect.error().message);
      continue;  // assessed at the next scan
    }
    assessed_.insert(c.id);
    const ContainerPosture p = assess_container(*inspect, apparmor_);
    const auto [workload, zone] = workload_and_zone(c);
    const std::string time = events::WallClock(0).format([] {
      timespec ts{};
      clock_gettime(CLOCK_REALTIME, &ts);
      return std::uint64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    }());
    for (const auto& f : p.findings) {
      if (f.passed) continue;
      metrics_.count_posture(f.check);
      emit_(posture_alert(c, f, workload, zone, policy_, node_, time));
      if (std::ranges::find(quarantine_on_, f.check) != quarantine_on_.end()) {
        if (quarantined_.insert(c.id).second)
          spdlog::warn("container {} quarantined (no network but loopback): failed {}", c.name,
                       f.check);
      }
    }
    metrics_.set_container_compliant(c.name, p.compliant());
    spdlog::info("posture of container {}: {}", c.name,
                 p.compliant() ? "meets the baseline" : "falls short (see posture alerts)");
  }
  std::erase_if(assessed_, [&](const std::string& id) { return !now.contains(id); });
  std::erase_if(quarantined_, [&](const std::string& id) { return !now.contains(id); });
}

}  // namespace guardrail::posture
