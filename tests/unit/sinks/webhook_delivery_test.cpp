// WebhookSink against a tiny HTTP/1.1 server on 127.0.0.1: what is posted, retries, backoff,
// the bounded queue and shutdown.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "guardrail/sinks/webhook.hpp"
#include "testing/socket_server.hpp"

namespace guardrail {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;
using nlohmann::ordered_json;

struct Request {
  std::string line;                            // "POST /api/v2/alerts HTTP/1.1"
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  Clock::time_point at;
};

// Serves one connection at a time (keep-alive honoured), answering request i with statuses[i]
// (the last one repeating). With `hold`, requests wait unanswered until release().
class HttpServer {
 public:
  explicit HttpServer(std::vector<int> statuses, bool hold = false)
      : statuses_(std::move(statuses)), listen_fd_(test::listen_loopback(port_)), held_(hold) {
    thread_ = std::thread([this] { serve(); });
  }

  ~HttpServer() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    ::close(listen_fd_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void release() {
    {
      std::lock_guard lock(mutex_);
      held_ = false;
    }
    cv_.notify_all();
  }

  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
  }

  std::vector<Request> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  int connections() {
    std::lock_guard lock(mutex_);
    return connections_;
  }

 private:
  void serve() {
    test::accept_until(stop_, listen_fd_, [this](int fd) {
      answer(fd);
      ::close(fd);
    });
  }

  // Answers the requests of one (keep-alive) connection until it closes or the server stops.
  void answer(int fd) {
    {
      std::lock_guard lock(mutex_);
      ++connections_;
    }
    std::string buffer;
    Request request;
    while (read_request(fd, buffer, request)) {
      int status;
      {
        std::unique_lock lock(mutex_);
        requests_.push_back(request);
        status = statuses_[std::min(requests_.size(), statuses_.size()) - 1];
        cv_.notify_all();
        cv_.wait(lock, [&] { return !held_ || stop_.load(); });
      }
      const std::string body = status == 200 ? "" : "receiver failed\n";
      const std::string response =
          "HTTP/1.1 " + std::to_string(status) +
          (status == 200 ? " OK" : " Internal Server Error") +
          "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n\r\n" + body;
      ::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
    }
  }

  // One request from the connection; false when it closes or the server stops.
  bool read_request(int fd, std::string& buffer, Request& out) {
    for (;;) {
      if (const auto end = buffer.find("\r\n\r\n"); end != std::string::npos) {
        Request request;
        std::size_t pos = buffer.find("\r\n");
        request.line = buffer.substr(0, pos);
        while (pos < end) {
          const std::size_t next = buffer.find("\r\n", pos + 2);
          const std::string header = buffer.substr(pos + 2, next - pos - 2);
          const std::size_t colon = header.find(':');
          std::string name = header.substr(0, colon);
          std::transform(name.begin(), name.end(), name.begin(),
                         [](unsigned char c) { return char(std::tolower(c)); });
          std::string value = colon == std::string::npos ? "" : header.substr(colon + 1);
          value.erase(0, value.find_first_not_of(' '));
          request.headers[name] = value;
          pos = next;
        }
        const auto length = request.headers.find("content-length");
        const std::size_t size = length == request.headers.end() ? 0 : std::stoul(length->second);
        if (buffer.size() >= end + 4 + size) {
          request.body = buffer.substr(end + 4, size);
          buffer.erase(0, end + 4 + size);
          request.at = Clock::now();
          out = std::move(request);
          return true;
        }
      }
      const bool ready = test::readable_soon(fd);
      if (stop_) return false;
      if (!ready) continue;
      char chunk[4096];
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buffer.append(chunk, std::size_t(n));
    }
  }

  std::vector<int> statuses_;
  std::uint16_t port_ = 0;  // before listen_fd_: listen_loopback() sets it
  int listen_fd_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<bool> stop_ = false;
  bool held_;
  std::vector<Request> requests_;
  int connections_ = 0;
  std::thread thread_;
};

// A port nothing listens on: connecting is refused at once.
std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class Outcomes {
 public:
  WebhookSink::Observer observer() {
    return [this](const WebhookOutcome& outcome) {
      {
        std::lock_guard lock(mutex_);
        list_.push_back(outcome);
      }
      cv_.notify_all();
    };
  }

  // Waits until outcomes for `alerts` alerts in all are in.
  bool wait_for_alerts(std::uint64_t alerts, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return sum(&WebhookOutcome::alerts) >= alerts; });
  }

  std::vector<WebhookOutcome> list() {
    std::lock_guard lock(mutex_);
    return list_;
  }

 private:
  std::uint64_t sum(std::uint64_t WebhookOutcome::*field) const {
    std::uint64_t total = 0;
    for (const auto& outcome : list_) total += outcome.*field;
    return total;
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<WebhookOutcome> list_;
};

// The alerts and events a list of outcomes accounts for.
struct Totals {
  std::uint64_t alerts = 0, events = 0;
  bool operator==(const Totals&) const = default;
  friend std::ostream& operator<<(std::ostream& os, const Totals& t) {
    return os << t.alerts << " alerts, " << t.events << " events";
  }
};

// Sums the outcomes, expecting each one to be `delivered` (or not).
Totals totals(const std::vector<WebhookOutcome>& list, bool delivered) {
  Totals sum;
  for (const auto& o : list) {
    EXPECT_EQ(o.delivered, delivered);
    sum.alerts += o.alerts;
    sum.events += o.events;
  }
  return sum;
}

ordered_json alert(int n, int count) {
  return {
      {"time", "2024-05-01T10:00:0" + std::to_string(n) + ".000000000Z"},
      {"kind", "net_connect"},
      {"verdict", "blocked"},
      {"workload", "/x/a"},
      {"zone", "agent-sandbox"},
      {"direction", "egress"},
      {"protocol", "tcp"},
      {"src", "198.18.0.3"},
      {"dst", "198.18.0.4"},
      {"dport", 8000 + n},
      {"count", count},
  };
}

WebhookOptions options_for(const std::string& url) {
  return {.url = url,
          .timeout = 2000ms,
          .retries = 3,
          .backoff = 20ms,
          .node = "host-1",
          .generator_url = "http://host-1:9101/metrics"};
}

TEST(WebhookDelivery, PostsTheAlertmanagerPayloadAsJson) {
  HttpServer server({200});
  Outcomes outcomes;
  const std::vector<ordered_json> alerts{alert(1, 3), alert(2, 1), alert(3, 2)};
  {
    auto sink = WebhookSink::start(options_for(server.url() + "/am/"), outcomes.observer());
    ASSERT_TRUE(sink) << sink.error().message;
    for (const auto& a : alerts) EXPECT_TRUE((*sink)->enqueue(a));
    ASSERT_TRUE(outcomes.wait_for_alerts(3, 5s));
  }
  // However the sender split them into batches, the bodies are the payload of the alerts in order.
  json posted = json::array();
  const auto requests = server.requests();
  ASSERT_FALSE(requests.empty());
  for (const Request& r : requests) {
    EXPECT_EQ(r.line, "POST /am/api/v2/alerts HTTP/1.1");
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    const json body = json::parse(r.body);
    ASSERT_TRUE(body.is_array());
    for (const auto& entry : body) posted.push_back(entry);
  }
  EXPECT_EQ(posted, alertmanager_payload(alerts, "host-1", "http://host-1:9101/metrics"));
  EXPECT_EQ(server.connections(), 1);  // one handle, the connection kept alive

  const auto list = outcomes.list();
  ASSERT_EQ(list.size(), requests.size());
  EXPECT_EQ(totals(list, /*delivered=*/true), (Totals{3, 6}));
}

TEST(WebhookDelivery, BatchesAtMostBatchMaxAlerts) {
  HttpServer server({200}, /*hold=*/true);
  Outcomes outcomes;
  WebhookOptions options = options_for(server.url());
  options.batch_max = 2;
  {
    auto sink = WebhookSink::start(options, outcomes.observer());
    ASSERT_TRUE(sink) << sink.error().message;
    ASSERT_TRUE((*sink)->enqueue(alert(0, 1)));
    ASSERT_TRUE(server.wait_for_requests(1, 5s));  // the sender is busy with alert 0
    for (int i = 1; i <= 5; ++i) ASSERT_TRUE((*sink)->enqueue(alert(i, i)));
    server.release();
    ASSERT_TRUE(outcomes.wait_for_alerts(6, 5s));
  }
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4u);
  const std::vector<std::size_t> sizes{1, 2, 2, 1};
  for (std::size_t i = 0; i < sizes.size(); ++i)
    EXPECT_EQ(json::parse(requests[i].body).size(), sizes[i]) << i;
  const auto list = outcomes.list();
  ASSERT_EQ(list.size(), 4u);
  const std::vector<std::uint64_t> events{1, 1 + 2, 3 + 4, 5};
  for (std::size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(list[i].alerts, sizes[i]) << i;
    EXPECT_EQ(list[i].events, events[i]) << i;
    EXPECT_TRUE(list[i].delivered) << i;
  }
}

TEST(WebhookDelivery, RetriesServerErrorsWithExponentialBackoff) {
  HttpServer server({500, 500, 200});
  Outcomes outcomes;
  WebhookOptions options = options_for(server.url());
  options.backoff = 100ms;
  {
    auto sink = WebhookSink::start(options, outcomes.observer());
    ASSERT_TRUE(sink) << sink.error().message;
    ASSERT_TRUE((*sink)->enqueue(alert(1, 4)));
    ASSERT_TRUE(outcomes.wait_for_alerts(1, 5s));
  }
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].body, requests[0].body);
  EXPECT_EQ(requests[2].body, requests[0].body);
  const auto first_wait = requests[1].at - requests[0].at;
  const auto second_wait = requests[2].at - requests[1].at;
  EXPECT_GE(first_wait, 95ms);
  EXPECT_LT(first_wait, 1000ms);
  EXPECT_GE(second_wait, 195ms);  // doubled
  EXPECT_LT(second_wait, 1100ms);
  const auto list = outcomes.list();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(totals(list, /*delivered=*/true), (Totals{1, 4}));
}

TEST(WebhookDelivery, ReportsUndeliveredAfterTheLastRetry) {
  HttpServer server({500});
  Outcomes outcomes;
  WebhookOptions options = options_for(server.url());
  options.retries = 2;
  {
    auto sink = WebhookSink::start(options, outcomes.observer());
    ASSERT_TRUE(sink) << sink.error().message;
    ASSERT_TRUE((*sink)->enqueue(alert(1, 5)));
    ASSERT_TRUE(outcomes.wait_for_alerts(1, 5s));
  }
  EXPECT_EQ(server.requests().size(), 3u);  // the first attempt and 2 retries
  const auto list = outcomes.list();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(totals(list, /*delivered=*/false), (Totals{1, 5}));
}

TEST(WebhookDelivery, EnqueueFailsWhenTheQueueIsFull) {
  HttpServer server({200}, /*hold=*/true);
  Outcomes outcomes;
  WebhookOptions options = options_for(server.url());
  options.queue_capacity = 3;
  options.batch_max = 1;
  options.timeout = 5000ms;
  {
    auto sink = WebhookSink::start(options, outcomes.observer());
    ASSERT_TRUE(sink) << sink.error().message;
    ASSERT_TRUE((*sink)->enqueue(alert(0, 1)));
    ASSERT_TRUE(server.wait_for_requests(1, 5s));  // alert 0 is out of the queue, in flight
    const auto before = Clock::now();
    EXPECT_TRUE((*sink)->enqueue(alert(1, 1)));
    EXPECT_TRUE((*sink)->enqueue(alert(2, 1)));
    EXPECT_TRUE((*sink)->enqueue(alert(3, 1)));
    EXPECT_FALSE((*sink)->enqueue(alert(4, 1)));  // full: refused, not blocked
    EXPECT_FALSE((*sink)->enqueue(alert(5, 1)));
    // Refused at once: a blocking enqueue would wait for the held request, or its 5 s timeout
    // (the bound is far above any machine's stall, far below that timeout).
    EXPECT_LT(Clock::now() - before, 2s);
    server.release();
    ASSERT_TRUE(outcomes.wait_for_alerts(4, 5s));
  }
  EXPECT_EQ(server.requests().size(), 4u);
  const auto list = outcomes.list();
  ASSERT_EQ(list.size(), 4u);
  for (const auto& o : list) EXPECT_TRUE(o.delivered);
}

TEST(WebhookDelivery, DestructorSendsWhatIsQueued) {
  HttpServer server({200});
  Outcomes outcomes;
  WebhookOptions options = options_for(server.url());
  options.batch_max = 1;
  {
    auto sink = WebhookSink::start(options, outcomes.observer());
    ASSERT_TRUE(sink) << sink.error().message;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*sink)->enqueue(alert(i, 2)));
  }  // no wait: the destructor delivers
  EXPECT_EQ(server.requests().size(), 3u);
  const auto list = outcomes.list();
  ASSERT_EQ(list.size(), 3u);
  for (const auto& o : list) {
    EXPECT_EQ(o.alerts, 1u);
    EXPECT_EQ(o.events, 2u);
    EXPECT_TRUE(o.delivered);
  }
}

TEST(WebhookDelivery, DestructorWithADeadEndpointIsQuick) {
  Outcomes outcomes;
  WebhookOptions options = options_for("http://127.0.0.1:" + std::to_string(closed_port()));
  options.backoff = 60s;  // a destructor that waited out one backoff would take a minute
  options.batch_max = 2;
  auto sink = WebhookSink::start(options, outcomes.observer());
  ASSERT_TRUE(sink) << sink.error().message;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*sink)->enqueue(alert(i, 3)));
  const auto before = Clock::now();
  sink->reset();
  EXPECT_LT(Clock::now() - before, 30s);
  EXPECT_EQ(totals(outcomes.list(), /*delivered=*/false), (Totals{5, 15}));
}

TEST(WebhookDelivery, ShutdownInterruptsTheBackoff) {
  HttpServer server({500});
  Outcomes outcomes;
  WebhookOptions options = options_for(server.url());
  options.retries = 5;
  options.backoff = 60s;  // waited out, the shutdown would take a minute
  auto sink = WebhookSink::start(options, outcomes.observer());
  ASSERT_TRUE(sink) << sink.error().message;
  ASSERT_TRUE((*sink)->enqueue(alert(1, 1)));
  ASSERT_TRUE(server.wait_for_requests(1, 5s));
  std::this_thread::sleep_for(300ms);  // the answer is in: the sender waits out its backoff
  const auto before = Clock::now();
  sink->reset();
  EXPECT_LT(Clock::now() - before, 30s);
  EXPECT_EQ(server.requests().size(), 2u);  // the first attempt, then one during shutdown
  const auto list = outcomes.list();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_FALSE(list[0].delivered);
}

}  // namespace
}  // namespace guardrail
