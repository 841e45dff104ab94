#include "guardrail/metrics/health.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "guardrail/metrics/metrics.hpp"

namespace guardrail {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;

nlohmann::json body(const HealthState::Answer& a) { return nlohmann::json::parse(a.body); }

TEST(HealthState, NotReadyUntilTheFirstPolicyIsApplied) {
  HealthState h(30 * kSecond);
  auto a = h.readiness();
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(body(a)["status"], "starting");
  EXPECT_EQ(body(a)["policy_applied"], false);
  h.set_generation(1);
  h.set_policy("default", "abc123");
  h.set_ready();
  a = h.readiness();
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(body(a)["status"], "ready");
  EXPECT_EQ(body(a)["programs_attached"], true);
  EXPECT_EQ(body(a)["generation"], 1);
  EXPECT_EQ(body(a)["policy"], "default");
  EXPECT_EQ(body(a)["sha256"], "abc123");
}

TEST(HealthState, ReadinessFollowsTheGeneration) {
  HealthState h(30 * kSecond);
  h.set_ready();
  h.set_generation(3);
  h.set_policy("next", "def456");
  const auto b = body(h.readiness());
  EXPECT_EQ(b["generation"], 3);
  EXPECT_EQ(b["policy"], "next");
  EXPECT_EQ(b["sha256"], "def456");
}

TEST(HealthState, LiveWhileEveryLoopBeats) {
  HealthState h(30 * kSecond);
  EXPECT_EQ(h.liveness(0).status, 200);  // nothing has started beating: not stuck
  h.beat("main", 100 * kSecond);
  h.beat("consumer", 110 * kSecond);
  auto a = h.liveness(125 * kSecond);
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(body(a)["status"], "ok");
  EXPECT_EQ(body(a)["loops"]["main"]["live"], true);
  EXPECT_DOUBLE_EQ(body(a)["loops"]["main"]["seconds_since_beat"].get<double>(), 25.0);
}

TEST(HealthState, AStuckLoopFailsLivenessAndIsNamed) {
  HealthState h(30 * kSecond);
  h.beat("main", 100 * kSecond);
  h.beat("consumer", 129 * kSecond);
  const auto a = h.liveness(131 * kSecond);
  EXPECT_EQ(a.status, 503);
  const auto b = body(a);
  EXPECT_EQ(b["status"], "stuck");
  EXPECT_EQ(b["loops"]["main"]["live"], false);
  EXPECT_EQ(b["loops"]["consumer"]["live"], true);
  EXPECT_NE(b["message"].get<std::string>().find("main loop"), std::string::npos) << b;
  h.beat("main", 131 * kSecond);  // it turns again: live again
  EXPECT_EQ(h.liveness(132 * kSecond).status, 200);
}

// A GET over loopback, as kubelet's probe sends it: the status line and the body.
std::pair<int, std::string> get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {-1, "socket failed"};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {-1, "connect failed"};
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::write(fd, request.data(), request.size()) != ssize_t(request.size())) {
    ::close(fd);
    return {-1, "write failed"};
  }
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) response.append(buf, std::size_t(n));
  ::close(fd);
  std::smatch m;
  if (!std::regex_search(response, m, std::regex(R"(^HTTP/1\.[01] (\d{3}))")))
    return {-1, response};
  const auto split = response.find("\r\n\r\n");
  return {std::stoi(m[1]), split == std::string::npos ? "" : response.substr(split + 4)};
}

int port_of(const std::string& scrape_address) {
  return std::stoi(scrape_address.substr(scrape_address.rfind(':') + 1));
}

// A free loopback port: bind to 0 and read it back (the Exposer then binds it).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(HealthEndpoint, ServedNextToMetricsOnTheSamePort) {
  HealthState h(30 * kSecond);
  Metrics m;
  const std::string address = "127.0.0.1:" + std::to_string(free_port());
  ASSERT_TRUE(m.serve(address, &h));
  const int port = port_of(address);

  auto [status, text] = get(port, "/readyz");
  EXPECT_EQ(status, 503) << text;
  EXPECT_EQ(nlohmann::json::parse(text)["status"], "starting");

  h.set_generation(2);
  h.set_policy("default", "0123");
  h.set_ready();
  std::tie(status, text) = get(port, "/readyz");
  ASSERT_EQ(status, 200) << text;
  EXPECT_EQ(nlohmann::json::parse(text)["generation"], 2);

  std::tie(status, text) = get(port, "/healthz");
  EXPECT_EQ(status, 200) << text;
  EXPECT_EQ(nlohmann::json::parse(text)["status"], "ok");

  std::tie(status, text) = get(port, "/metrics");  // the Exposer still answers its own path
  EXPECT_EQ(status, 200);
  EXPECT_NE(text.find("guardrail_"), std::string::npos) << text;

  std::tie(status, text) = get(port, "/nothing-here");
  EXPECT_EQ(status, 404) << text;

  m.stop_serving();
  EXPECT_EQ(get(port, "/readyz").first, -1);  // nobody listens any more
}

TEST(HealthEndpoint, WithoutAStateThereIsNoHealthPath) {
  Metrics m;
  const std::string address = "127.0.0.1:" + std::to_string(free_port());
  ASSERT_TRUE(m.serve(address));
  EXPECT_EQ(get(port_of(address), "/readyz").first, 404);
  EXPECT_EQ(get(port_of(address), "/metrics").first, 200);
}

}  // namespace
}  // namespace guardrail
