#include "guardrail/docker/watch.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

namespace guardrail::docker {

ContainerWatch::ContainerWatch(std::string socket_path, std::function<void()> wake)
    : client_(socket_path), wake_(std::move(wake)) {
  events_ = EventStream::start(
      std::move(socket_path),
      [this](const Event& e) {
        if (e.action != "start" && e.action != "die" && e.action != "destroy") return;
        {
          std::lock_guard lock(mutex_);
          stale_ = true;
          if (e.action == "start") started_[e.id] = Clock::now();
        }
        wake_();
      },
      [this](bool connected, const std::string& why) {
        {
          std::lock_guard lock(mutex_);
          stale_ = true;
          if (connected != connected_)
            connected ? spdlog::info("Docker events: connected to {}", client_.socket_path())
                      : spdlog::warn("Docker events: {}; reconnecting with backoff", why);
          connected_ = connected;
        }
        wake_();
      });
}

ContainerWatch::~ContainerWatch() = default;

std::optional<std::vector<Container>> ContainerWatch::containers() {
  {
    std::lock_guard lock(mutex_);
    if (!stale_) return cached_;
    stale_ = false;
  }
  auto listed = client_.containers();
  std::lock_guard lock(mutex_);
  if (listed) {
    cached_ = std::move(*listed);
    last_error_.clear();
  } else {
    // Keep the last list: the containers' cgroups outlive a dockerd restart (live-restore), and
    // forgetting them would move every container to the default zone until the engine is back.
    // Bindings whose cgroup is gone are dropped by discovery anyway.
    if (listed.error().message != last_error_)
      spdlog::warn("Docker discovery: {}{}", listed.error().message,
                   cached_ ? "; keeping the last known containers" : "");
    last_error_ = listed.error().message;
    stale_ = true;  // try again at the next scan
  }
  return cached_;
}

std::vector<std::string> ContainerWatch::parent_cgroups() {
  // No socket, no engine on this host (yet): nothing to prepare for. When one appears, the
  // events stream connects and the next scan binds the parent.
  struct stat st {};
  if (::stat(client_.socket_path().c_str(), &st) != 0) return {};
  {
    std::lock_guard lock(mutex_);
    if (!cgroup_driver_ && connected_) {
      if (auto info = client_.info(); info && info->contains("CgroupDriver"))
        cgroup_driver_ = info->value("CgroupDriver", "");
    }
    if (cgroup_driver_ && *cgroup_driver_ == "systemd") return {};
  }
  return {"/docker"};
}

bool ContainerWatch::connected() const {
  std::lock_guard lock(mutex_);
  return connected_;
}

std::map<std::string, ContainerWatch::Clock::time_point> ContainerWatch::take_started() {
  std::lock_guard lock(mutex_);
  return std::exchange(started_, {});
}

}  // namespace guardrail::docker
