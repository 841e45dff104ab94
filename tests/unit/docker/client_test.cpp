// docker::Client and docker::EventStream against a fake engine: an HTTP/1.1 server on a unix
// socket in a temporary directory, answering /version, /containers/json, /containers/{id}/json
// and streaming /events. Also container_from_inspect on full and null-ridden documents.
#include "guardrail/docker/client.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "testing/socket_server.hpp"

namespace guardrail::docker {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// A fresh directory under /tmp (short: unix socket paths are limited to 107 bytes), removed at
// the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/gr-docker-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// One accepted connection, as a handler sees it.
class Conn {
 public:
  Conn(int fd, const std::atomic<bool>& stopping) : fd_(fd), stopping_(stopping) {}
  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(std::size_t(n));
    }
    return true;
  }
  void respond(int status, const std::string& body) {
    send("HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body);
  }
  // A streaming answer, as dockerd sends /events: chunked, flushed per event.
  void start_stream() {
    send(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        "\r\n");
  }
  bool chunk(const std::string& data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return send(size + data + "\r\n");
  }
  void end_stream() { send("0\r\n\r\n"); }
  // Holds the connection open until the server stops or the peer closes.
  void hold() {
    while (!stopping_) {
      char buf[256];
      if (test::readable_soon(fd_) && ::recv(fd_, buf, sizeof buf, 0) <= 0) return;
    }
  }
  void sleep_unless_stopping(std::chrono::milliseconds d) {
    const auto until = Clock::now() + d;
    while (!stopping_ && Clock::now() < until) std::this_thread::sleep_for(10ms);
  }

 private:
  int fd_;
  const std::atomic<bool>& stopping_;
};

class FakeEngine {
 public:
  // Gets the request target ("/containers/json") and the connection number (0, 1, ...); the
  // connection is closed when it returns.
  using Handler = std::function<void(const std::string& target, int n, Conn& conn)>;

  FakeEngine(std::string path, Handler handler)
      : path_(std::move(path)), handler_(std::move(handler)), listen_fd_(test::listen_unix(path_)) {
    thread_ = std::thread([this] { serve(); });
  }

  ~FakeEngine() {
    stopping_ = true;
    thread_.join();
    for (auto& t : conn_threads_) t.join();
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }

  std::vector<std::string> targets() {
    std::lock_guard lock(mutex_);
    return targets_;
  }

 private:
  void serve() {
    test::accept_until(stopping_, listen_fd_, [this](int fd) {
      const int n = connections_++;
      conn_threads_.emplace_back([this, fd, n] {
        handle(fd, n);
        ::close(fd);
      });
    });
  }

  void handle(int fd, int n) {
    std::string request;
    const auto deadline = Clock::now() + 5s;
    while (request.find("\r\n\r\n") == std::string::npos && Clock::now() < deadline && !stopping_) {
      if (!test::readable_soon(fd)) continue;
      char buf[4096];
      const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
      if (got <= 0) return;
      request.append(buf, std::size_t(got));
    }
    // "GET /target HTTP/1.1"
    const auto sp1 = request.find(' ');
    const auto sp2 = request.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) return;
    const std::string target = request.substr(sp1 + 1, sp2 - sp1 - 1);
    {
      std::lock_guard lock(mutex_);
      targets_.push_back(target);
    }
    Conn conn(fd, stopping_);
    handler_(target, n, conn);
  }

  std::string path_;
  Handler handler_;
  int listen_fd_;
  std::atomic<bool> stopping_ = false;
  std::atomic<int> connections_ = 0;
  std::thread thread_;
  std::vector<std::thread> conn_threads_;  // accept thread only, joined after it
  std::mutex mutex_;
  std::vector<std::string> targets_;
};

const std::string kIdA(64, 'a');
const std::string kIdB(64, 'b');

json inspect_doc(const std::string& id, const std::string& name, const std::string& ip, int pid) {
  return {
      {"Id", id},
      {"Name", "/" + name},
      {"Config",
       {{"Image", "gr-busybox:latest"},
        {"Labels", {{"guardrail.io/zone", "agent-sandbox"}, {"app", name}}}}},
      {"NetworkSettings",
       {{"Networks", {{"bridge", {{"IPAddress", ip}, {"GlobalIPv6Address", ""}}}}}}},
      {"State", {{"Status", "running"}, {"Pid", pid}}},
  };
}

// The usual engine: version, a list of three containers of which one is gone by inspect time.
void engine(const std::string& target, int, Conn& conn) {
  if (target == "/version") {
    conn.respond(200, R"({"ApiVersion":"1.41","Version":"20.10.24","MinAPIVersion":"1.12"})");
  } else if (target == "/containers/json") {
    conn.respond(200, json::array({{{"Id", kIdA}}, {{"Id", kIdB}}, {{"Id", "gone"}}}).dump());
  } else if (target == "/containers/" + kIdA + "/json") {
    conn.respond(200, inspect_doc(kIdA, "web", "198.18.0.2", 4242).dump());
  } else if (target == "/containers/" + kIdB + "/json") {
    conn.respond(200, inspect_doc(kIdB, "db", "198.18.0.3", 4343).dump());
  } else if (target.starts_with("/containers/")) {
    const std::string id = target.substr(12, target.size() - 12 - 5);
    conn.respond(404, json{{"message", "No such container: " + id}}.dump());
  } else {
    conn.respond(404, R"({"message":"page not found"})");
  }
}

// ---- container_from_inspect ---------------------------------------------------------------------

TEST(DockerInspect, ReadsTheFieldsTheAgentNeeds) {
  json doc = inspect_doc(kIdA, "web", "198.18.0.2", 4242);
  doc["NetworkSettings"]["Networks"]["backend"] = {{"IPAddress", "198.18.1.7"},
                                                   {"GlobalIPv6Address", "2001:db8::7"}};
  doc["NetworkSettings"]["Networks"]["again"] = {{"IPAddress", "198.18.0.2"}};  // listed once
  const Container c = container_from_inspect(doc);
  EXPECT_EQ(c.id, kIdA);
  EXPECT_EQ(c.name, "web");
  EXPECT_EQ(c.image, "gr-busybox:latest");
  EXPECT_EQ(c.labels, (std::map<std::string, std::string>{{"app", "web"},
                                                          {"guardrail.io/zone", "agent-sandbox"}}));
  EXPECT_EQ(c.addresses, (std::vector<std::string>{"198.18.0.2", "198.18.1.7", "2001:db8::7"}));
  EXPECT_EQ(c.state, "running");
  EXPECT_EQ(c.pid, 4242);
}

TEST(DockerInspect, NullsAndOddTypesGiveEmptyFields) {
  const json doc = json::parse(R"({
    "Id": "abc", "Name": "plain",
    "Config": {"Image": null, "Labels": null},
    "NetworkSettings": {"Networks": {"bridge": null, "other": {"IPAddress": 7}}},
    "State": {"Status": "exited", "Pid": 0}
  })");
  const Container c = container_from_inspect(doc);
  EXPECT_EQ(c.id, "abc");
  EXPECT_EQ(c.name, "plain");
  EXPECT_EQ(c.image, "");
  EXPECT_TRUE(c.labels.empty());
  EXPECT_TRUE(c.addresses.empty());
  EXPECT_EQ(c.state, "exited");
  EXPECT_EQ(c.pid, 0);

  for (const char* text :
       {R"({"Config": null, "NetworkSettings": null, "State": null})",
        R"({"NetworkSettings": {"Networks": null}, "State": {"Pid": -3}})", "null", "[]", "42"}) {
    const Container empty = container_from_inspect(json::parse(text));
    EXPECT_EQ(empty.id, "") << text;
    EXPECT_TRUE(empty.addresses.empty()) << text;
    EXPECT_EQ(empty.pid, 0) << text;
  }
}

TEST(DockerInspect, NonStringLabelValuesBecomeTheirJsonText) {
  const Container c = container_from_inspect(
      json{{"Config", {{"Labels", {{"n", 3}, {"s", "x"}, {"z", nullptr}}}}}});
  EXPECT_EQ(c.labels, (std::map<std::string, std::string>{{"n", "3"}, {"s", "x"}}));
}

// ---- Client -------------------------------------------------------------------------------------

TEST(DockerClient, AbsentSocketSaysWhatToDo) {
  TempDir dir;
  const std::string path = dir.file("nope.sock");
  auto v = Client(path).version();
  ASSERT_FALSE(v);
  EXPECT_EQ(
      v.error().message,
      "Docker socket " + path + " does not exist: is dockerd running? (or pass --docker-socket)");
  EXPECT_FALSE(Client(path).containers());
  EXPECT_FALSE(Client(path).inspect(kIdA));
}

TEST(DockerClient, RefusedConnectionSaysSo) {
  TempDir dir;
  const std::string path = dir.file("stale.sock");
  // A socket file nobody listens on, as a dockerd that died leaves behind.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  auto v = Client(path).version();
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("Docker socket " + path + " refuses connections"),
            std::string::npos)
      << v.error().message;
  EXPECT_NE(v.error().message.find("connection refused"), std::string::npos);
}

TEST(DockerClient, RegularFileIsNotASocket) {
  TempDir dir;
  const std::string path = dir.file("file");
  std::fclose(std::fopen(path.c_str(), "w"));
  auto v = Client(path).version();
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message, "Docker socket " + path +
                                   " is not a unix socket: give the path of dockerd's API socket "
                                   "(--docker-socket)");
}

TEST(DockerClient, Version) {
  TempDir dir;
  FakeEngine fake(dir.file("d.sock"), engine);
  Client client(dir.file("d.sock"));
  EXPECT_EQ(client.socket_path(), dir.file("d.sock"));
  auto v = client.version();
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ((*v)["ApiVersion"], "1.41");
  EXPECT_EQ(fake.targets(), std::vector<std::string>{"/version"});
}

TEST(DockerClient, ContainersAreCompletedFromInspectAndVanishedOnesSkipped) {
  TempDir dir;
  FakeEngine fake(dir.file("d.sock"), engine);
  auto list = Client(dir.file("d.sock")).containers();
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, kIdA);
  EXPECT_EQ((*list)[0].name, "web");
  EXPECT_EQ((*list)[0].addresses, std::vector<std::string>{"198.18.0.2"});
  EXPECT_EQ((*list)[0].labels.at("guardrail.io/zone"), "agent-sandbox");
  EXPECT_EQ((*list)[0].pid, 4242);
  EXPECT_EQ((*list)[1].id, kIdB);
  EXPECT_EQ((*list)[1].name, "db");
  const auto targets = fake.targets();
  ASSERT_EQ(targets.size(), 4u);
  EXPECT_EQ(targets[0], "/containers/json");
  EXPECT_EQ(targets[3], "/containers/gone/json");
}

TEST(DockerClient, HttpErrorNamesStatusAndEngineMessage) {
  TempDir dir;
  FakeEngine fake(dir.file("d.sock"), engine);
  auto doc = Client(dir.file("d.sock")).inspect("nope");
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().message,
            "Docker GET /containers/nope/json: HTTP 404: No such container: nope");
}

TEST(DockerClient, InspectEscapesTheId) {
  TempDir dir;
  FakeEngine fake(dir.file("d.sock"), engine);
  EXPECT_FALSE(Client(dir.file("d.sock")).inspect("a b/../c"));
  EXPECT_EQ(fake.targets(), std::vector<std::string>{"/containers/a%20b%2F..%2Fc/json"});
  EXPECT_FALSE(Client(dir.file("d.sock")).inspect(""));
}

TEST(DockerClient, PlainTextErrorsAndNonJsonAnswers) {
  TempDir dir;
  FakeEngine fake(dir.file("d.sock"), [](const std::string& target, int, Conn& conn) {
    if (target == "/version") conn.respond(500, "boom\n");
    if (target == "/containers/json") conn.respond(200, R"({"not": "a list"})");
    if (target.ends_with("/json") && target != "/containers/json") conn.respond(200, "<html>");
  });
  Client client(dir.file("d.sock"));
  auto v = client.version();
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message, "Docker GET /version: HTTP 500: boom");
  auto list = client.containers();
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().message, "Docker GET /containers/json: expected a JSON array, got object");
  auto doc = client.inspect("x");
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message.find("the answer is not JSON"), std::string::npos)
      << doc.error().message;
}

TEST(DockerClient, SilentEngineTimesOut) {
  TempDir dir;
  FakeEngine fake(dir.file("d.sock"), [](const std::string&, int, Conn& conn) { conn.hold(); });
  const auto t0 = Clock::now();
  auto v = Client(dir.file("d.sock"), 300ms).version();
  const auto took = Clock::now() - t0;
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("did not answer within 300 ms"), std::string::npos)
      << v.error().message;
  EXPECT_LT(took, 2s);
}

// ---- EventStream --------------------------------------------------------------------------------

// What the callbacks saw, in order: "up", "down: why", "event ACTION ID".
class Recorder {
 public:
  EventStream::OnEvent on_event() {
    return [this](const Event& e) {
      std::string line = "event " + e.action + " " + e.id;
      if (auto it = e.attributes.find("name"); it != e.attributes.end()) line += " " + it->second;
      push(line);
    };
  }
  EventStream::OnConnection on_connection() {
    return [this](bool up, const std::string& why) { push(up ? "up" : "down: " + why); };
  }
  // An EventStream on `socket_path` that reports to this recorder.
  std::unique_ptr<EventStream> follow(const std::string& socket_path) {
    return EventStream::start(socket_path, on_event(), on_connection());
  }
  // Waits until `n` records are in, up to `timeout`; returns them.
  std::vector<std::string> wait_for(std::size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return seen_.size() >= n; });
    return seen_;
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  Clock::time_point at(std::size_t i) {
    std::lock_guard lock(mutex_);
    return times_.at(i);
  }

 private:
  void push(std::string s) {
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(std::move(s));
      times_.push_back(Clock::now());
    }
    cv_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> seen_;
  std::vector<Clock::time_point> times_;
};

json event_json(const std::string& action, const std::string& id, const std::string& name) {
  return {{"status", action},
          {"id", id},
          {"from", "gr-busybox:latest"},
          {"Type", "container"},
          {"Action", action},
          {"Actor",
           {{"ID", id},
            {"Attributes",
             {{"name", name}, {"image", "gr-busybox:latest"}, {"guardrail.io/zone", "x"}}}}},
          {"scope", "local"},
          {"time", 1700000000}};
}

// An engine whose /events stream stays open and silent.
void stream_and_hold(const std::string&, int, Conn& conn) {
  conn.start_stream();
  conn.hold();
}

TEST(DockerEvents, DeliversEventsAndReconnectsAfterTheEngineCloses) {
  TempDir dir;
  FakeEngine fake(dir.file("d.sock"), [](const std::string& target, int n, Conn& conn) {
    if (!target.starts_with("/events")) return conn.respond(404, "{}");
    conn.start_stream();
    if (n > 0) return conn.hold();  // the second connection stays open
    conn.sleep_unless_stopping(50ms);
    conn.chunk(event_json("start", kIdA, "web").dump() + "\n");
    // A network event (filtered out), a line that is no JSON, then "die" split across chunks.
    conn.chunk(R"({"Type":"network","Action":"connect","Actor":{"ID":"n1"}})"
               "\n");
    conn.chunk("this is not json\n");
    const std::string die = event_json("die", kIdA, "web").dump() + "\n";
    conn.chunk(die.substr(0, 40));
    conn.sleep_unless_stopping(50ms);
    conn.chunk(die.substr(40));
    conn.end_stream();
  });
  Recorder rec;
  auto stream = rec.follow(dir.file("d.sock"));
  const auto seen = rec.wait_for(5);
  ASSERT_EQ(seen.size(), 5u) << ::testing::PrintToString(seen);
  EXPECT_EQ(seen[0], "up");
  EXPECT_EQ(seen[1], "event start " + kIdA + " web");
  EXPECT_EQ(seen[2], "event die " + kIdA + " web");
  EXPECT_EQ(seen[3], "down: dockerd closed the events stream on " + dir.file("d.sock"));
  EXPECT_EQ(seen[4], "up");
  const auto gap = rec.at(4) - rec.at(3);
  EXPECT_GE(gap, 450ms);  // the first backoff step is 0.5 s
  EXPECT_LT(gap, 1500ms);
  const auto targets = fake.targets();
  ASSERT_GE(targets.size(), 2u);
  EXPECT_EQ(targets[0], "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D");
}

TEST(DockerEvents, StopsPromptlyWhileStreaming) {
  TempDir dir;
  FakeEngine fake(dir.file("d.sock"), stream_and_hold);
  Recorder rec;
  auto stream = rec.follow(dir.file("d.sock"));
  ASSERT_EQ(rec.wait_for(1), std::vector<std::string>{"up"});
  std::this_thread::sleep_for(1200ms);  // well inside curl_multi_poll's wait
  const auto t0 = Clock::now();
  stream.reset();
  EXPECT_LT(Clock::now() - t0, 300ms);
  EXPECT_EQ(rec.seen(), std::vector<std::string>{"up"});  // no "down" for a requested stop
}

TEST(DockerEvents, AbsentSocketIsReportedOnceThenFoundWhenTheEngineStarts) {
  TempDir dir;
  const std::string path = dir.file("d.sock");
  Recorder rec;
  auto stream = rec.follow(path);
  ASSERT_EQ(rec.wait_for(1).size(), 1u);
  // Retries at 0.5 s and 1.5 s fail the same way: still one report.
  std::this_thread::sleep_for(1700ms);
  EXPECT_EQ(rec.seen(), std::vector<std::string>{"down: Docker socket " + path +
                                                 " does not exist: is dockerd running? (or pass "
                                                 "--docker-socket)"});
  FakeEngine fake(path, stream_and_hold);
  const auto seen = rec.wait_for(2, 4s);  // the next retry is 2 s after the last
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], "up");
  stream.reset();
}

TEST(DockerEvents, StopsPromptlyDuringBackoff) {
  TempDir dir;
  Recorder rec;
  auto stream = rec.follow(dir.file("absent.sock"));
  ASSERT_EQ(rec.wait_for(1).size(), 1u);
  std::this_thread::sleep_for(100ms);
  const auto t0 = Clock::now();
  stream.reset();
  EXPECT_LT(Clock::now() - t0, 300ms);
}

TEST(DockerEvents, HttpErrorIsReported) {
  TempDir dir;
  FakeEngine fake(dir.file("d.sock"), [](const std::string&, int, Conn& conn) {
    conn.respond(500, R"({"message":"events are broken"})");
  });
  Recorder rec;
  auto stream = rec.follow(dir.file("d.sock"));
  const auto seen = rec.wait_for(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "down: Docker GET /events: HTTP 500: events are broken");
}

TEST(DockerEvents, ThrowingCallbacksDoNotStopTheStream) {
  TempDir dir;
  FakeEngine fake(dir.file("d.sock"), [](const std::string&, int, Conn& conn) {
    conn.start_stream();
    conn.chunk(event_json("start", kIdA, "a").dump() + "\n" +
               event_json("start", kIdB, "b").dump() + "\n");
    conn.hold();
  });
  std::atomic<int> events = 0;
  auto stream = EventStream::start(
      dir.file("d.sock"),
      [&](const Event&) {
        ++events;
        throw std::runtime_error("callback bug");
      },
      [](bool, const std::string&) { throw std::runtime_error("callback bug"); });
  const auto deadline = Clock::now() + 5s;
  while (events < 2 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(events, 2);
}

}  // namespace
}  // namespace guardrail::docker
