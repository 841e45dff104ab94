// What both `guardrail demo` variants share: the agent as a child process (policy file, spawn,
// readiness on /metrics, its log and alerts narrated live, the hold loop and its stop), the metrics
// address check and the /metrics comparison against the expected alerts.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>

#include "guardrail/demo/demo.hpp"

namespace guardrail {
namespace demo {

std::vector<std::string> FileTail::lines() {
  std::vector<std::string> out;
  std::ifstream f(path_, std::ios::binary);
  if (!f) return out;
  f.seekg(0, std::ios::end);
  const auto size = static_cast<std::streamoff>(f.tellg());
  if (size < offset_) offset_ = 0;  // truncated or replaced
  if (size == offset_) return out;
  f.seekg(offset_);
  std::string chunk(static_cast<size_t>(size - offset_), '\0');
  f.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  offset_ = size;
  partial_ += chunk;
  size_t start = 0, nl;
  while ((nl = partial_.find('\n', start)) != std::string::npos) {
    out.push_back(partial_.substr(start, nl - start));
    start = nl + 1;
  }
  partial_.erase(0, start);
  return out;
}

std::string status_text(const std::optional<ExitStatus>& status) {
  return status ? status->text() : "did not finish";
}

Result<void> check_address_free(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return fail("--metrics-address must be HOST:PORT: " + address);
  const std::string host = address.substr(0, colon);
  const int port = std::atoi(address.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return fail("--metrics-address: bad port in " + address);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) return {};  // not checked
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(s.get(), 1) != 0)
    return fail_errno(fmt::format("the metrics address {} is not free (another agent or demo?); "
                                  "pass another with --metrics-address HOST:PORT",
                                  address),
                      errno);
  return {};
}

Result<std::string> make_demo_dir() {
  char tmpl[] = "/tmp/guardrail-demo-XXXXXX";
  if (!::mkdtemp(tmpl)) return fail(std::string("mkdtemp: ") + std::strerror(errno));
  return std::string(tmpl);
}

bool wait_for_violations(const std::string& address, const std::map<ViolationKey, double>& want,
                         std::map<ViolationKey, double>& seen,
                         const std::function<bool(const ViolationKey&)>& keep) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (;;) {
    seen.clear();
    if (auto text = scrape_metrics(address)) {
      for (const auto& [key, value] : parse_violations(*text))
        if (value != 0 && (!keep || keep(key))) seen[key] = value;
      if (seen == want) return true;
    }
    if (std::chrono::steady_clock::now() > deadline ||
        !sleep_unless_stopped(std::chrono::milliseconds(100)))
      return false;
  }
}

Result<void> DemoAgent::start(const std::string& dir, const std::string& policy_text,
                              const std::vector<std::string>& extra_args) {
  const std::string policy = dir + "/policy.yaml";
  const std::string alerts = dir + "/alerts.jsonl";
  const std::string log = dir + "/agent.log";
  {
    std::ofstream f(policy);
    f << policy_text;
    if (!f) return fail("could not write " + policy);
  }
  std::vector<std::string> argv{o_.agent_binary, "agent", "--policy",          policy,
                                "--alerts",      alerts,  "--metrics-address", o_.metrics_address};
  std::string shown;
  for (const auto& a : extra_args) {
    argv.push_back(a);
    shown += " " + a;
  }
  // The demo's enforcement is its own (never the host agent's pins) and ends with it.
  for (const char* a :
       {"--dedup-window-seconds", "0", "--rate-limit", "0", "--node-name", "guardrail-demo",
        "--pin-dir", "/sys/fs/bpf/guardrail-demo", "--detach-on-exit"})
    argv.emplace_back(a);
  if (o_.verbose) argv.push_back("-v");
  alerts_tail_ = std::make_unique<FileTail>(alerts);
  log_tail_ = std::make_unique<FileTail>(log);
  UniqueFd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!log_fd) return fail_errno("open " + log, errno);
  out_ << std::flush;
  SpawnOptions options;
  options.own_process_group = true;
  options.parent_death_signal = SIGTERM;  // the agent detaches its programs on SIGTERM
  options.stdout_fd = options.stderr_fd = log_fd.get();
  auto child = spawn(argv, options);
  if (!child) return propagate(child);
  const pid_t pid = child->pid();
  process_ = std::move(*child);
  say("  {:<13} {:<15} pid {:<7} the agent: {} agent --policy {} --alerts {} --metrics-address {}"
      "{} --dedup-window-seconds 0 --rate-limit 0",
      "host", "guardrail", pid, o_.agent_binary, policy, alerts, o_.metrics_address, shown);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    pump_log();
    if (!process_.running()) {
      pump_log();
      return fail(fmt::format("the agent exited before it was ready ({}); its log is above",
                              status_text(process_.status())));
    }
    if (scrape_metrics(o_.metrics_address, 500)) break;
    if (std::chrono::steady_clock::now() > deadline)
      return fail("the agent's /metrics did not answer within 30s");
    if (!sleep_unless_stopped(std::chrono::milliseconds(50))) return fail("interrupted");
  }
  pump_log();
  say("  agent ready: http://{}/metrics answers", o_.metrics_address);
  return {};
}

void DemoAgent::pump_log() {
  if (!log_tail_) return;
  for (const auto& line : log_tail_->lines()) say("    agent| {}", line);
}

std::vector<std::string> DemoAgent::pump_alerts() {
  std::vector<std::string> kinds;
  if (!alerts_tail_) return kinds;
  pump_log();
  for (const auto& line : alerts_tail_->lines()) {
    auto pretty = pretty_alert(line);
    if (!pretty) {
      say("    alert (unparsed): {}", line);
      continue;
    }
    ++alert_count_;
    auto j = nlohmann::json::parse(line, nullptr, false);
    kinds.push_back(j.value("kind", ""));
    std::optional<std::string> text = formatter_ ? formatter_(line) : std::nullopt;
    say("    ALERT {}", text ? *text : *pretty);
  }
  return kinds;
}

std::vector<std::string> DemoAgent::collect_alerts(
    size_t want, int settle_ms, const std::function<bool(const std::string&)>& keep) {
  std::vector<std::string> kinds;
  auto collect = [&] {
    for (auto& k : pump_alerts())
      if (!keep || keep(k)) kinds.push_back(k);
  };
  // Wait for the expected ones, then a little longer for any unexpected extra.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (kinds.size() < want && std::chrono::steady_clock::now() < deadline) {
    collect();
    if (!sleep_unless_stopped(std::chrono::milliseconds(20))) break;
  }
  sleep_unless_stopped(std::chrono::milliseconds(settle_ms));
  collect();
  return kinds;
}

bool DemoAgent::check_running() {
  if (process_.running()) return true;
  pump_log();
  say("the agent exited ({})", status_text(process_.status()));
  return false;
}

void DemoAgent::hold(const std::string& dir, const std::string& shell) {
  const bool forever = o_.keep && o_.duration_seconds <= 0;
  say("");
  say("the demo stays up {} (Ctrl-C to tear down now).",
      forever ? "until Ctrl-C" : fmt::format("for {}s", o_.duration_seconds));
  say("  metrics: http://{}/metrics   alerts: {}/alerts.jsonl", o_.metrics_address, dir);
  say("  a shell inside agent-a: {}", shell);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(o_.duration_seconds * 1000));
  while (!stop_requested() && (forever || std::chrono::steady_clock::now() < deadline)) {
    pump_alerts();
    if (!process_.running()) {
      say("the agent exited ({})", status_text(process_.status()));
      break;
    }
    sleep_unless_stopped(std::chrono::milliseconds(100));
  }
}

void DemoAgent::stop(bool verbose) {
  if (process_.pid() <= 0) return;
  const ExitStatus st = process_.terminate(std::chrono::seconds(10));
  if (verbose) {
    pump_log();
    say("  agent (pid {}) stopped: {}", process_.pid(), status_text(st));
  }
}

}  // namespace demo
}  // namespace guardrail
