// `guardrail demo`: the topology, the real agent as a child process, five attempts from inside
// agent-a with what the kernel answered and what the agent reported, a summary, and teardown.
#include "guardrail/demo/demo.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>

#include "guardrail/docker/client.hpp"
#include "guardrail/util/cgroup2_mount.hpp"

namespace guardrail {
namespace demo {
namespace {

constexpr int kEchoPort = 8080;
constexpr int kUdpPort = 9999;
constexpr const char* kZone = "agent-sandbox";

// ---- what a step's child reports ------------------------------------------------------------

struct StepOutcome {
  int err = 0;           // errno of the call that failed; 0: every call succeeded
  char call[16] = {};    // the call that failed, or the last one made
  char detail[96] = {};  // e.g. the echoed text
};

void set_str(char* dst, size_t size, std::string_view s) {
  const size_t n = std::min(size - 1, s.size());
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

sockaddr_in inet_addr_of(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

int report(int fd, const StepOutcome& o) { return write_all(fd, &o, sizeof o) ? 0 : 1; }

StepOutcome failed(const char* call, int err) {
  StepOutcome o;
  o.err = err;
  set_str(o.call, sizeof o.call, call);
  return o;
}

void set_timeouts(int s, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect() too
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// Runs in a step's child: TCP connect, then (if echo is set) one round trip.
StepOutcome tcp_connect(const std::string& ip, int port, const std::string& echo) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return failed("socket", errno);
  set_timeouts(s, 2);
  const sockaddr_in a = inet_addr_of(ip, port);
  if (::connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
    return failed("connect", errno);
  StepOutcome o;
  set_str(o.call, sizeof o.call, "connect");
  if (!echo.empty()) {
    if (::send(s, echo.data(), echo.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(echo.size()))
      return failed("send", errno);
    std::string got;
    char buf[128];
    while (got.size() < echo.size()) {
      ssize_t n = ::recv(s, buf, sizeof buf, 0);
      if (n < 0) return failed("recv", errno);
      if (n == 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    set_str(o.detail, sizeof o.detail, got);
  }
  ::close(s);
  return o;
}

StepOutcome udp_send(const std::string& ip, int port, const std::string& payload) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return failed("socket", errno);
  const sockaddr_in a = inet_addr_of(ip, port);
  if (::sendto(s, payload.data(), payload.size(), 0, reinterpret_cast<const sockaddr*>(&a),
               sizeof a) < 0)
    return failed("sendto", errno);
  ::close(s);
  StepOutcome o;
  set_str(o.call, sizeof o.call, "sendto");
  return o;
}

StepOutcome raw_socket() {
  int s = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (s < 0) return failed("socket", errno);
  ::close(s);
  StepOutcome o;
  set_str(o.call, sizeof o.call, "socket");
  return o;
}

// ---- long-running helpers (children) ---------------------------------------------------------

int echo_server(int report_fd) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const sockaddr_in a = inet_addr_of("0.0.0.0", kEchoPort);
  if (s < 0 || ::bind(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(s, 16) != 0)
    return 2;
  write_all(report_fd, "R", 1);
  for (;;) {
    int c = ::accept(s, nullptr, nullptr);
    if (c < 0) continue;
    set_timeouts(c, 2);
    char buf[512];
    ssize_t n;
    while ((n = ::read(c, buf, sizeof buf)) > 0)
      if (!write_all(c, buf, static_cast<size_t>(n))) break;
    ::close(c);
  }
}

// Reports each datagram as one line "SRC:PORT PAYLOAD" to the demo.
int udp_listener(int report_fd) {
  int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  const sockaddr_in a = inet_addr_of("0.0.0.0", kUdpPort);
  if (s < 0 || ::bind(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return 2;
  write_all(report_fd, "R", 1);
  for (;;) {
    char buf[256];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(s, buf, sizeof buf - 1, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) continue;
    char ip[INET_ADDRSTRLEN] = "?";
    ::inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
    char line[400];
    int m = std::snprintf(line, sizeof line, "%s:%d %.*s\n", ip, ntohs(from.sin_port),
                          static_cast<int>(n), buf);
    if (m > 0) write_all(report_fd, line, std::min<size_t>(static_cast<size_t>(m), sizeof line));
  }
}

int keeper(int report_fd) {
  write_all(report_fd, "R", 1);
  for (;;) ::pause();
}

// ---- reading what children and the agent write ------------------------------------------------

// Reads up to size bytes from a non-blocking fd within timeout_ms; returns the bytes read.
size_t read_within(int fd, void* data, size_t size, int timeout_ms) {
  auto p = static_cast<char*>(data);
  size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (got < size && !stop_requested()) {
    ssize_t n = ::read(fd, p + got, size - got);
    if (n > 0) {
      got += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) break;  // every writer closed
    if (errno != EAGAIN && errno != EINTR) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    pollfd pfd{fd, POLLIN, 0};
    ::poll(&pfd, 1, static_cast<int>(std::min<long>(left, 50)));
  }
  return got;
}

std::string errno_name(int err) {
  const char* name = ::strerrorname_np(err);
  return name ? name : std::to_string(err);
}

// ---- the demo ---------------------------------------------------------------------------------

struct Step {
  std::string title;
  std::string expected;       // what should happen, in words
  int expected_err = 0;       // errno the call should get (0: success)
  std::string expected_kind;  // the one alert expected ("" none)
  bool expect_echo = false;
  bool expect_no_delivery = false;  // agent-b's UDP listener must receive nothing

  // results
  StepOutcome outcome;
  bool ran = false;
  std::string said;
  std::vector<std::string> alert_kinds;
  bool pass = false;
};

class DemoRun : private Narrator {
 public:
  DemoRun(const DemoOptions& options, std::ostream& out)
      : Narrator(out), o_(options), agent_(options, out) {}
  ~DemoRun() { teardown(false); }

  bool execute();
  bool teardown(bool verbose);

 private:
  bool check_prerequisites(const std::string& cg2);
  bool set_up(const std::string& cg2);
  std::vector<Step> make_steps() const;
  Result<void> start_services();
  std::string policy_text() const;
  std::vector<std::string> udp_received();
  void run_step(Step& step, const Node& node, bool in_cgroup, const char* comm,
                std::function<StepOutcome()> action);
  void summary(const std::vector<Step>& steps, const std::map<ViolationKey, double>& metrics,
               bool metrics_ok, bool all_ok);

  const DemoOptions& o_;
  std::string dir_;  // temp dir: policy, alerts, agent log
  std::unique_ptr<Topology> topo_;
  std::vector<Spawned> services_;  // echo (orchestrator), udp listener (agent-b), keeper (agent-a)
  DemoAgent agent_;
  std::vector<std::string> udp_lines_;
  std::string udp_partial_;
  bool torn_down_ = false;
};

std::string DemoRun::policy_text() const {
  const std::string& b = topo_->base_cgroup_rel();
  return fmt::format(
      "apiVersion: guardrail.io/v1alpha1\n"
      "kind: GuardrailPolicy\n"
      "metadata: {{name: guardrail-demo}}\n"
      "spec:\n"
      "  mode: enforce\n"
      "  zones:\n"
      "    - name: agent-sandbox\n"
      "      selector: {{cgroups: [\"{0}/agents/*\"]}}\n"
      "      guards:\n"
      "        rawSockets: {{action: deny}}\n"
      "    - name: control-plane\n"
      "  workloads:\n"
      "    - {{name: orchestrator, zone: control-plane, cgroup: {0}/orchestrator}}\n"
      "  flows:\n"
      "    - {{from: {{zone: agent-sandbox}}, to: {{workload: orchestrator}}, protocol: tcp, "
      "ports: [{1}]}}\n",
      b, kEchoPort);
}

Result<void> DemoRun::start_services() {
  struct Service {
    const char* node;
    const char* comm;
    int (*body)(int);
    const char* what;
  } services[] = {
      {"orchestrator", "gr-demo-echo", &echo_server, "TCP echo server on :8080"},
      {"agent-b", "gr-demo-udp", &udp_listener, "UDP listener on :9999"},
      {"agent-a", "gr-demo-keeper", &keeper, "idle process (pins the workload's netns)"},
  };
  for (const auto& s : services) {
    auto spawned = topo_->spawn(topo_->node(s.node), true, s.comm, s.body);
    if (!spawned) return propagate(spawned);
    char ready = 0;
    if (read_within(spawned->report.get(), &ready, 1, 5000) != 1 || ready != 'R') {
      spawned->process.wait_for(std::chrono::milliseconds(100));
      auto st = spawned->process.status();
      return fail(fmt::format("{} in {} did not start ({})", s.comm, s.node,
                              st ? status_text(*st) : "no readiness within 5s"));
    }
    say("  {:<13} {:<15} pid {:<7} {}", s.node, s.comm, spawned->process.pid(), s.what);
    services_.push_back(std::move(*spawned));
  }
  return {};
}

std::vector<std::string> DemoRun::udp_received() {
  if (services_.size() < 2) return {};
  char buf[1024];
  ssize_t n;
  while ((n = ::read(services_[1].report.get(), buf, sizeof buf)) > 0)
    udp_partial_.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = udp_partial_.find('\n')) != std::string::npos) {
    udp_lines_.push_back(udp_partial_.substr(0, nl));
    udp_partial_.erase(0, nl + 1);
  }
  return udp_lines_;
}

void DemoRun::run_step(Step& step, const Node& node, bool in_cgroup, const char* comm,
                       std::function<StepOutcome()> action) {
  say("");
  say("step: {}", step.title);
  say("  expected: {}", step.expected);
  const size_t udp_before = udp_received().size();
  out_ << std::flush;
  auto spawned = topo_->spawn(node, in_cgroup, comm, [&](int fd) { return report(fd, action()); });
  if (!spawned) {
    step.said = spawned.error().message;
    say("  could not run the step: {}", step.said);
    return;
  }
  const size_t got = read_within(spawned->report.get(), &step.outcome, sizeof step.outcome, 8000);
  if (!spawned->process.wait_for(std::chrono::seconds(2))) spawned->process.kill();
  if (got != sizeof step.outcome) {
    auto st = spawned->process.status();
    step.said = fmt::format("the step's process (pid {}) reported nothing ({})",
                            spawned->process.pid(), st ? status_text(*st) : "timed out");
    say("  {}", step.said);
    return;
  }
  step.ran = true;
  const StepOutcome& r = step.outcome;
  if (r.err != 0)
    step.said = fmt::format("{}() -> {}", r.call, errno_name(r.err));
  else if (step.expect_echo)
    step.said = fmt::format("{}() ok, echo \"{}\"", r.call, r.detail);
  else
    step.said = fmt::format("{}() ok", r.call);
  say("  {}: {} (pid {}, comm {}{})",
      r.err ? "blocked" : (step.expect_no_delivery ? "sent" : "allowed"), step.said,
      spawned->process.pid(), comm, in_cgroup ? "" : ", outside every workload cgroup");

  // The alerts: wait for the expected one, then a little longer for any unexpected extra.
  const size_t want = step.expected_kind.empty() ? 0 : 1;
  step.alert_kinds = agent_.collect_alerts(want, want ? 200 : 400);
  if (step.alert_kinds.empty()) say("    (no alert)");

  bool delivered_ok = true;
  if (step.expect_no_delivery) {
    const auto lines = udp_received();
    const size_t delivered = lines.size() - udp_before;
    delivered_ok = delivered == 0;
    say("  agent-b's UDP listener received {} datagram(s){}", delivered,
        delivered_ok ? ": dropped in the kernel" : "");
    if (r.err == 0) step.said += delivered_ok ? ", dropped at agent-b" : ", DELIVERED to agent-b";
  }
  const bool call_ok = r.err == step.expected_err &&
                       (!step.expect_echo || std::string_view(r.detail) == "hello guardrail");
  step.pass = call_ok && alerts_as_expected(step.alert_kinds, step.expected_kind) && delivered_ok;
  say("  => {}", step.pass ? "as expected" : "NOT as expected");
}

void DemoRun::summary(const std::vector<Step>& steps, const std::map<ViolationKey, double>& metrics,
                      bool metrics_ok, bool all_ok) {
  int attempts = 0, blocked = 0, alerts = 0;
  constexpr SummaryColumns kColumns{58, 20};
  say_summary_header(kColumns);
  int i = 0;
  for (const auto& s : steps) {
    ++i;
    if (s.ran) ++attempts;
    const bool was_blocked =
        s.ran && (s.outcome.err != 0 ||
                  (s.expect_no_delivery && s.said.find("dropped") != std::string::npos));
    if (was_blocked) ++blocked;
    alerts += static_cast<int>(s.alert_kinds.size());
    say_summary_row(kColumns, i, s.title, s.expected, s.said, s.alert_kinds, s.pass);
  }
  say("  attempts {}, blocked {}, alerts {} (every alert written by the agent: {})", attempts,
      blocked, alerts, agent_.alert_count());
  say("  /metrics guardrail_violations_total (non-zero series, scraped from http://{}/metrics):",
      o_.metrics_address);
  say_metrics_and_result(metrics, metrics_ok, all_ok);
}

bool DemoRun::check_prerequisites(const std::string& cg2) {
  if (::geteuid() != 0)
    return failure(
        "needs root: it creates network namespaces and cgroups and runs the agent, which loads "
        "BPF programs (try: sudo guardrail demo)");
  if (cg2.empty()) return failure("needs cgroup v2: no cgroup2 mount in /proc/self/mounts");
  if (auto r = run_command({"ip", "-V"}); !r)
    return failure("needs iproute2 (`ip`): " + r.error().message);
  if (::access(o_.agent_binary.c_str(), X_OK) != 0)
    return failure("cannot execute the agent binary " + o_.agent_binary);
  if (auto r = check_address_free(o_.metrics_address); !r) return failure(r.error().message);
  return true;
}

// The topology, the services in it and the agent, narrated.
bool DemoRun::set_up(const std::string& cg2) {
  const std::string id = std::to_string(::getpid());
  topo_ = std::make_unique<Topology>(id, cg2);
  say("guardrail demo {} (pid {}): namespaces grd{}-*, cgroups {}/guardrail-demo-{}", id, id, id,
      cg2, id);
  say("");
  say("setup");
  if (auto r = topo_->setup(); !r) return failure("setup: " + r.error().message);
  say("  bridge {} in netns {}; 198.19.77.0/24, IPv6 off", "grd" + id + "br", "grd" + id + "-sw");
  for (const char* key : {"orchestrator", "agent-a", "agent-b"}) {
    const Node& n = topo_->node(key);
    say("  {:<13} netns {:<12} eth0 {:<12} cgroup {}", n.key, n.netns, n.ip, n.cgroup_rel);
  }
  if (auto r = start_services(); !r) return failure("setup: " + r.error().message);
  say("  policy ({}/policy.yaml): agents reach the orchestrator on tcp/{} only; raw sockets "
      "denied in agent-sandbox; everything else default-deny",
      dir_, kEchoPort);
  if (auto r = agent_.start(dir_, policy_text()); !r) return failure(r.error().message);
  return true;
}

std::vector<Step> DemoRun::make_steps() const {
  const Node& orch = topo_->node("orchestrator");
  const Node& b = topo_->node("agent-b");
  std::vector<Step> steps(5);
  steps[0].title = fmt::format("agent-a -> orchestrator {}:{}/tcp", orch.ip, kEchoPort);
  steps[0].expected = "allowed: connect + echo";
  steps[0].expect_echo = true;
  steps[1].title = fmt::format("agent-a -> agent-b {}:{}/tcp", b.ip, kEchoPort);
  steps[1].expected = "blocked: connect() -> EPERM";
  steps[1].expected_err = EPERM;
  steps[1].expected_kind = "net_connect";
  steps[2].title = fmt::format("agent-a -> agent-b {}:{}/udp", b.ip, kUdpPort);
  steps[2].expected = "blocked: sendto() -> EPERM";
  steps[2].expected_err = EPERM;
  steps[2].expected_kind = "net_send";
  steps[2].expect_no_delivery = true;
  steps[3].title = "agent-a raw socket(AF_INET, SOCK_RAW, ICMP)";
  steps[3].expected = "blocked: socket() -> EPERM";
  steps[3].expected_err = EPERM;
  steps[3].expected_kind = "raw_socket";
  steps[4].title = fmt::format("bypass: agent-a's netns, no cgroup -> {}:{}/udp", b.ip, kUdpPort);
  steps[4].expected = "dropped at agent-b, alerted";
  steps[4].expected_kind = "east_west_bypass";
  steps[4].expect_no_delivery = true;
  return steps;
}

bool DemoRun::execute() {
  const std::string cg2 = ::geteuid() == 0 ? find_cgroup2_mount() : "";
  if (!check_prerequisites(cg2)) return false;
  auto dir = make_demo_dir();
  if (!dir) return failure(dir.error().message);
  dir_ = *dir;
  if (!set_up(cg2)) return false;

  std::vector<Step> steps = make_steps();
  const Node& a = topo_->node("agent-a");
  const std::string orch_ip = topo_->node("orchestrator").ip, b_ip = topo_->node("agent-b").ip;
  struct Plan {
    bool in_cgroup;
    const char* comm;
    std::function<StepOutcome()> action;
  } plan[] = {
      {true, "gr-demo-a", [=] { return tcp_connect(orch_ip, kEchoPort, "hello guardrail"); }},
      {true, "gr-demo-a", [=] { return tcp_connect(b_ip, kEchoPort, ""); }},
      {true, "gr-demo-a", [=] { return udp_send(b_ip, kUdpPort, "hello agent-b"); }},
      {true, "gr-demo-a", [] { return raw_socket(); }},
      {false, "gr-demo-bypass", [=] { return udp_send(b_ip, kUdpPort, "bypass"); }},
  };
  const bool interrupted = run_steps(
      steps.size(),
      [&](size_t i) { run_step(steps[i], a, plan[i].in_cgroup, plan[i].comm, plan[i].action); },
      agent_, out_);
  std::map<ViolationKey, double> metrics;
  const std::map<ViolationKey, double> want{
      {{"net_connect", "blocked", kZone}, 1},
      {{"net_send", "blocked", kZone}, 1},
      {{"raw_socket", "blocked", kZone}, 1},
      {{"east_west_bypass", "blocked", kZone}, 1},
  };
  const bool metrics_ok = !interrupted && wait_for_violations(o_.metrics_address, want, metrics);
  bool all_ok = metrics_ok && !interrupted && agent_.running();
  for (const auto& s : steps) all_ok = all_ok && s.pass;
  summary(steps, metrics, metrics_ok, all_ok);
  if (!interrupted && (o_.keep || o_.duration_seconds > 0))
    agent_.hold(dir_, fmt::format("ip netns exec {} sh -c 'echo $$ > {}/cgroup.procs; exec sh'",
                                  a.netns, a.cgroup_dir));
  return all_ok;
}

bool DemoRun::teardown(bool verbose) {
  if (torn_down_) return true;
  torn_down_ = true;
  verbose = verbose && !dir_.empty();  // nothing was created before the temp dir
  std::ostream* log = verbose ? &out_ : nullptr;
  bool ok = true;
  if (verbose) say("\nteardown");
  agent_.stop(verbose);
  for (auto it = services_.rbegin(); it != services_.rend(); ++it) {
    it->process.kill();
    if (verbose) say("  {} (pid {}) stopped", it->process.label(), it->process.pid());
  }
  services_.clear();
  if (topo_) {
    for (const auto& e : topo_->teardown(log)) {
      ok = false;
      if (verbose) say("  ERROR: {}", e);
    }
  }
  finish_teardown(dir_, verbose, ok);
  return ok;
}

}  // namespace
}  // namespace demo

int run_demo(const DemoOptions& options, std::ostream& out) {
  if (options.docker == DemoOptions::Docker::On) return run_docker_demo(options, out);
  if (options.docker == DemoOptions::Docker::Auto && ::geteuid() == 0 &&
      ::access(options.docker_socket.c_str(), F_OK) == 0) {
    if (auto v = docker::Client(options.docker_socket, std::chrono::seconds(2)).version())
      return run_docker_demo(options, out);
  }
  return demo::run_variant<demo::DemoRun>(options, out);
}

}  // namespace guardrail
