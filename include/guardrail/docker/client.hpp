// The Docker Engine API over its unix socket, through libcurl (CURLOPT_UNIX_SOCKET_PATH): the
// containers, their inspect documents, and the events stream. No hand-written HTTP.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "guardrail/docker/defaults.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail::docker {

// What the agent needs to know of a container.
struct Container {
  std::string id;     // full 64-hex id
  std::string name;   // without the leading '/'
  std::string image;  // as the container was created with (Config.Image)
  std::map<std::string, std::string> labels;
  std::vector<std::string> addresses;  // IPv4 and IPv6 addresses on every network
  std::string state;                   // "running", "exited", ...
  int pid = 0;                         // init process on the host, 0 when not running
  std::string cgroup_parent;           // HostConfig.CgroupParent: "" for the daemon's own
};

// A container from its inspect document (GET /containers/{id}/json).
Container container_from_inspect(const nlohmann::json& inspect);

class Client {
 public:
  explicit Client(std::string socket_path = kDefaultSocket,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // GET /version: the engine answers. The error says whether the socket is absent, refuses,
  // or answers something else, and what to do.
  Result<nlohmann::json> version() const;
  // GET /info (CgroupDriver, CgroupVersion, ...).
  Result<nlohmann::json> info() const;
  // Running containers (GET /containers/json), each completed from its inspect document.
  Result<std::vector<Container>> containers() const;
  // GET /containers/{id}/json as it comes (the posture audit reads HostConfig and Config).
  Result<nlohmann::json> inspect(const std::string& id) const;

  const std::string& socket_path() const { return socket_path_; }

 private:
  Result<nlohmann::json> get(const std::string& path) const;
  std::string socket_path_;
  std::chrono::milliseconds timeout_;
};

// One container event from GET /events (type "container").
struct Event {
  std::string action;  // "start", "die", "destroy", ...
  std::string id;
  std::map<std::string, std::string> attributes;  // name, image, labels
};

// Follows GET /events?filters={"type":["container"]} on its own thread, reconnecting with
// backoff (0.5 s doubling to 30 s) when dockerd goes away. on_event runs on that thread;
// on_connection(true) after each (re)connect (callers re-list containers then: events may have
// been missed), on_connection(false, why) when the stream breaks.
class EventStream {
 public:
  using OnEvent = std::function<void(const Event&)>;
  using OnConnection = std::function<void(bool connected, const std::string& why)>;

  static std::unique_ptr<EventStream> start(std::string socket_path, OnEvent on_event,
                                            OnConnection on_connection);
  ~EventStream();  // stops the thread within about a second
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  struct Impl;
  explicit EventStream(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace guardrail::docker
