// The agent's view of the running containers: listed through the Docker API, listed again when
// the events stream reports a container starting or going away, or when the stream reconnects
// (events may have been missed). Each change wakes the agent to re-scan at once.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "guardrail/docker/client.hpp"

namespace guardrail::docker {

class ContainerWatch {
 public:
  using Clock = std::chrono::steady_clock;

  // wake: called (on the events thread) whenever the containers may have changed.
  ContainerWatch(std::string socket_path, std::function<void()> wake);
  ~ContainerWatch();
  ContainerWatch(const ContainerWatch&) = delete;
  ContainerWatch& operator=(const ContainerWatch&) = delete;

  // The running containers, listed again when something changed since the last call; nullopt
  // while the engine cannot be reached (the reason is logged once per outage).
  std::optional<std::vector<Container>> containers();
  bool connected() const;
  // Why the last listing failed ("" when it worked): the containers are the last known ones.
  std::string last_error() const;
  const Client& client() const { return client_; }
  // The cgroups new containers are created under, to be bound as placeholders of the default
  // zone before any container exists, as the daemon says (daemon_config.hpp): its driver and
  // --cgroup-parent ("/docker" by default with cgroupfs; "/docker" too until the engine first
  // answers). None where host services live as well (the systemd driver's default
  // system.slice: then a container is covered from its identification on), or while the socket
  // does not exist. Asked again after each reconnect of the events stream.
  std::vector<std::string> parent_cgroups();

  // Containers whose start event arrived since the last call, with when it arrived.
  std::map<std::string, Clock::time_point> take_started();

 private:
  Client client_;
  std::function<void()> wake_;
  mutable std::mutex mutex_;
  bool stale_ = true;
  bool connected_ = false;
  std::string last_error_;
  // Where the daemon creates containers ("" where host services live too); unknown until it
  // answers, and again after each reconnect.
  std::optional<std::string> parent_;
  std::optional<std::string> daemon_parent();  // asks the daemon; nullopt when it cannot
  std::optional<std::vector<Container>> cached_;
  std::map<std::string, Clock::time_point> started_;
  std::unique_ptr<EventStream> events_;
};

}  // namespace guardrail::docker
