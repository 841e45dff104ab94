#include "guardrail/docker/watch.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>

#include "guardrail/docker/daemon_config.hpp"

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
          if (connected) parent_.reset();  // a (re)started daemon may have another parent
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
  std::optional<std::string> parent;
  {
    std::lock_guard lock(mutex_);
    parent = parent_;
  }
  if (!parent) {
    parent = daemon_parent();  // outside the lock: the events thread must not wait for it
    std::lock_guard lock(mutex_);
    parent_ = parent;
  }
  if (!parent) return {"/docker"};  // the engine's default until it answers
  if (parent->empty()) return {};
  return {*parent};
}

std::optional<std::string> ContainerWatch::daemon_parent() {
  auto info = client_.info();
  if (!info || !info->is_object()) return std::nullopt;
  const std::string driver = info->value("CgroupDriver", "cgroupfs");
  std::string configured;
  std::string daemon_cgroup = "/";
  if (auto pid = socket_owner_pid(client_.socket_path())) {
    const auto argv = process_argv(*pid);
    const std::string proc = "/proc/" + std::to_string(*pid);
    if (!argv.empty() && argv[0].ends_with("dockerd")) {
      configured = configured_cgroup_parent(argv, proc + "/root");
      std::ifstream in(proc + "/cgroup");
      for (std::string line; std::getline(in, line);)
        if (line.starts_with("0::")) daemon_cgroup = line.substr(3);
    } else {
      spdlog::warn(
          "Docker: {} is served by pid {} ({}), not dockerd: its --cgroup-parent is unknown, "
          "assuming the default",
          client_.socket_path(), *pid, argv.empty() ? "?" : argv[0]);
    }
  } else {
    spdlog::warn("Docker: cannot find the daemon behind {}: {}; assuming the default cgroup parent",
                 client_.socket_path(), pid.error().message);
  }
  std::string parent = containers_parent(driver, configured, daemon_cgroup);
  if (parent.ends_with(".slice")) {
    // Discovery binds it as a birth parent (never a placeholder: host units may live there).
    spdlog::info(
        "Docker ({} driver) creates containers under {}: a docker-<id>.scope made there is "
        "covered from its first instruction by the kernel (tp_btf/cgroup_mkdir, see `guardrail "
        "probe`); every other cgroup there stays the host's",
        driver, parent);
  } else if (!parent_holds_only_containers(parent)) {
    spdlog::info(
        "Docker ({} driver) creates containers under {}, where host services live too: a new "
        "container is covered from its identification, not from its first instruction (give "
        "dockerd a --cgroup-parent of its own to cover it from birth)",
        driver, parent.empty() ? "/" : parent);
    parent.clear();
  } else {
    spdlog::info(
        "Docker ({} driver{}{}) creates containers under {}: new ones are covered from "
        "their first instruction",
        driver, configured.empty() ? "" : ", --cgroup-parent ", configured, parent);
  }
  return parent;
}

std::string ContainerWatch::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
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
