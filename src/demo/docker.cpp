// `guardrail demo` with Docker: a busybox image imported from a temp rootfs, an orchestrator and
// two agent containers selected by labels, the real agent following them over the Docker socket,
// connects from inside agent-a (docker exec + busybox nc), the alerts and a summary, and
// teardown of exactly the containers and the image this run made (by id), also on failure.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <regex>
#include <set>
#include <sstream>

#include "guardrail/demo/demo.hpp"
#include "guardrail/docker/client.hpp"

namespace guardrail {
namespace demo {
namespace {

constexpr int kPort = 8080;
constexpr const char* kZone = "agent-sandbox";
constexpr const char* kImage = "guardrail-demo-busybox:latest";
constexpr const char* kEpermText = "Operation not permitted";

struct Ran {
  std::optional<ExitStatus> status;  // nullopt: could not run / timed out
  std::string output;
  bool ok() const { return status && status->success(); }
};

// Runs argv (no PATH lookup), stdin /dev/null, stdout+stderr captured, killed after timeout.
Ran run_captured(const std::vector<std::string>& argv, int timeout_ms) {
  Ran r;
  auto run = guardrail::run_captured(argv, {.timeout = std::chrono::milliseconds(timeout_ms)});
  if (!run) {
    r.output = std::strerror(run.error().code.value());
    return r;
  }
  r.output = std::move(run->output);
  if (run->timed_out) {
    r.output += fmt::format("\n(timed out after {} ms)", timeout_ms);
    return r;
  }
  r.status = run->status;
  while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == ' '))
    r.output.pop_back();
  return r;
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > 120) s = s.substr(0, 117) + "...";
  return s;
}

const std::set<std::string>& net_kinds() {
  static const std::set<std::string> k{"net_connect", "net_send", "net_egress", "net_ingress",
                                       "east_west_bypass"};
  return k;
}

struct DContainer {
  std::string key;   // orchestrator, agent-a, agent-b
  std::string zone;  // guardrail.io/zone label
  std::string name;
  std::string id;
  std::string ip;
};

struct DStep {
  std::string title;
  std::string expected;
  bool expect_ok = false;     // the echo comes back
  std::string expected_kind;  // "" none
  // results
  bool ran = false;
  bool refused = false;  // EPERM seen / non-zero exit
  std::string said;
  std::vector<std::string> alert_kinds;
  bool pass = false;
};

class DockerDemo : private Narrator {
 public:
  DockerDemo(const DemoOptions& o, std::ostream& out) : Narrator(out), o_(o), agent_(o, out) {
    agent_.set_alert_formatter([](std::string_view line) -> std::optional<std::string> {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.value("kind", "") != "posture") return std::nullopt;
      // the container's baseline, reported once when first seen
      return fmt::format("posture {} {}: {} ({})", j.value("verdict", ""), j.value("container", ""),
                         j.value("check", ""), one_line(j.value("detail", "")));
    });
  }
  ~DockerDemo() { teardown(false); }
  bool execute();
  bool teardown(bool verbose);

 private:
  Ran docker(std::vector<std::string> args, int timeout_ms = 60000) {
    std::vector<std::string> argv{o_.docker_cli, "-H", "unix://" + o_.docker_socket};
    for (auto& a : args) argv.push_back(std::move(a));
    return run_captured(argv, timeout_ms);
  }
  Result<void> import_image();
  Result<void> start_container(DContainer& c, const std::string& cmd);
  std::string policy_text() const;
  Result<void> wait_identified();
  void run_step(DStep& step, const std::string& ip);
  void summary(const std::vector<DStep>& steps, const std::map<ViolationKey, double>& metrics,
               bool metrics_ok, bool all_ok);

  const DemoOptions& o_;
  std::string id_;
  std::string dir_;
  std::string image_id_;  // sha256:..., the image this run imported
  std::vector<DContainer> containers_;
  std::vector<std::string> created_;  // container ids (or names, when the id is unknown)
  DemoAgent agent_;
  bool torn_down_ = false;
};

Result<void> DockerDemo::import_image() {
  const std::string root = dir_ + "/rootfs";
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const char* d : {"bin", "dev", "etc", "proc", "sys", "tmp", "root"}) {
    fs::create_directories(root + "/" + d, ec);
    if (ec) return fail("mkdir " + root + "/" + d + ": " + ec.message());
  }
  ::chmod((root + "/tmp").c_str(), 01777);
  const std::string busybox = "/bin/busybox";
  fs::copy_file(busybox, root + "/bin/busybox", ec);
  if (ec) return fail("copy " + busybox + ": " + ec.message() + " (install busybox-static)");
  ::chmod((root + "/bin/busybox").c_str(), 0755);
  Ran list = run_captured({busybox, "--list"}, 10000);
  if (!list.ok()) return fail("busybox --list: " + list.output);
  std::istringstream applets(list.output);
  std::string applet;
  int links = 0;
  while (applets >> applet) {
    if (applet == "busybox" || applet.find('/') != std::string::npos) continue;
    fs::create_symlink("busybox", root + "/bin/" + applet, ec);
    if (!ec) ++links;
  }
  const std::string tar = dir_ + "/rootfs.tar";
  Ran t = run_captured({"/bin/tar", "-C", root, "-cf", tar, "."}, 60000);
  if (!t.ok()) return fail("tar: " + t.output);
  Ran imp = docker({"import", "-c", "CMD [\"/bin/sh\"]", tar, kImage}, 120000);
  if (!imp.ok())
    return fail(
        fmt::format("docker import: {}: {}", status_text(imp.status), one_line(imp.output)));
  std::string last = imp.output.substr(imp.output.find_last_of('\n') + 1);
  if (last.rfind("sha256:", 0) != 0) return fail("docker import printed no image id: " + last);
  image_id_ = last;
  say("  image {} ({}) imported from a rootfs of /bin/busybox + {} applet links", kImage,
      image_id_.substr(0, 19), links);
  return {};
}

Result<void> DockerDemo::start_container(DContainer& c, const std::string& cmd) {
  c.name = fmt::format("guardrail-demo-{}-{}", c.key, id_);
  created_.push_back(c.name);  // until the id is known: removed by name
  Ran r = docker({"run", "-d", "--name", c.name, "--label", "guardrail.io/zone=" + c.zone,
                  "--label", "guardrail.io/demo=" + id_, image_id_, "sh", "-c", cmd});
  std::string id = r.output.substr(r.output.find_last_of('\n') + 1);
  if (r.ok() && id.size() == 64) created_.back() = id;
  if (!r.ok())
    return fail(
        fmt::format("docker run {}: {}: {}", c.name, status_text(r.status), one_line(r.output)));
  c.id = id;
  docker::Client client(o_.docker_socket);
  auto inspect = client.inspect(id);
  if (!inspect) return propagate(inspect);
  const auto info = docker::container_from_inspect(*inspect);
  for (const auto& a : info.addresses)
    if (a.find('.') != std::string::npos) {
      c.ip = a;
      break;
    }
  if (c.ip.empty()) return fail(c.name + " has no IPv4 address (no bridge network?)");
  say("  {:<13} container {:<36} {} {:<15} label guardrail.io/zone={}", c.key, c.name,
      id.substr(0, 12), c.ip, c.zone);
  return {};
}

std::string DockerDemo::policy_text() const {
  return fmt::format(
      "apiVersion: guardrail.io/v1alpha1\n"
      "kind: GuardrailPolicy\n"
      "metadata: {{name: guardrail-demo-docker}}\n"
      "spec:\n"
      "  mode: enforce\n"
      "  zones:\n"
      "    - name: agent-sandbox\n"
      "      selector: {{labels: {{guardrail.io/zone: agent-sandbox}}}}\n"
      "    - name: control-plane\n"
      "      selector: {{labels: {{guardrail.io/zone: control-plane}}}}\n"
      "  workloads:\n"
      "    - {{name: orchestrator, zone: control-plane, container: {0}}}\n"
      "  flows:\n"
      "    - {{from: {{zone: agent-sandbox}}, to: {{workload: orchestrator}}, protocol: tcp, "
      "ports: [{1}]}}\n"
      "    - {{from: {{workload: orchestrator}}, to: {{zone: agent-sandbox}}, protocol: tcp}}\n",
      containers_[0].name, kPort);
}

// Until /metrics counts both agent containers in agent-sandbox (and the orchestrator in
// control-plane).
Result<void> DockerDemo::wait_identified() {
  const std::regex sandbox(
      R"re(guardrail_workloads\{[^}]*zone="agent-sandbox"[^}]*\} ([0-9.e+]+))re");
  const std::regex control(
      R"re(guardrail_workloads\{[^}]*zone="control-plane"[^}]*\} ([0-9.e+]+))re");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  double s = 0, c = 0;
  for (;;) {
    agent_.pump_alerts();
    if (auto text = scrape_metrics(o_.metrics_address, 1000)) {
      std::smatch m;
      s = std::regex_search(*text, m, sandbox) ? std::stod(m[1]) : 0;
      c = std::regex_search(*text, m, control) ? std::stod(m[1]) : 0;
      if (s >= 2 && c >= 1) break;
    }
    if (!agent_.running()) return fail("the agent exited (" + status_text(agent_.status()) + ")");
    if (std::chrono::steady_clock::now() > deadline)
      return fail(
          fmt::format("the agent did not identify the containers within 20s "
                      "(guardrail_workloads agent-sandbox {}, control-plane {})",
                      s, c));
    if (!sleep_unless_stopped(std::chrono::milliseconds(100))) return fail("interrupted");
  }
  sleep_unless_stopped(std::chrono::milliseconds(300));
  agent_.pump_alerts();
  say("  containers identified: guardrail_workloads{{zone=\"agent-sandbox\"}} {}, "
      "{{zone=\"control-plane\"}} {}",
      s, c);
  return {};
}

void DockerDemo::run_step(DStep& step, const std::string& ip) {
  say("");
  say("step: {}", step.title);
  say("  expected: {}", step.expected);
  for (auto& k : agent_.pump_alerts()) (void)k;  // anything earlier is not this step's
  const DContainer& a = containers_[1];
  const std::string cmd = fmt::format("echo hello guardrail | nc -w 1 {} {}", ip, kPort);
  Ran r = docker({"exec", a.id, "sh", "-c", cmd}, 20000);
  step.ran = r.status.has_value();
  const bool echoed = r.ok() && r.output.find("hello guardrail") != std::string::npos;
  const bool eperm = r.output.find(kEpermText) != std::string::npos;
  step.refused = !echoed;
  if (!step.ran)
    step.said = "docker exec: " + one_line(r.output);
  else if (echoed)
    step.said = "nc ok, echo \"hello guardrail\"";
  else if (eperm)
    step.said = "nc: Operation not permitted";
  else
    step.said = fmt::format("nc failed ({}): {}", status_text(r.status), one_line(r.output));
  say("  {}: {} (docker exec {} sh -c '{}')", echoed ? "allowed" : "blocked", step.said, a.name,
      cmd);

  const size_t want = step.expected_kind.empty() ? 0 : 1;
  step.alert_kinds = agent_.collect_alerts(
      want, want ? 300 : 600, [](const std::string& k) { return net_kinds().contains(k); });
  if (step.alert_kinds.empty()) say("    (no network alert)");
  const bool call_ok =
      step.expect_ok ? echoed : (!echoed && (eperm || (r.status && r.status->raw() != 0)));
  step.pass = step.ran && call_ok && alerts_as_expected(step.alert_kinds, step.expected_kind);
  say("  => {}", step.pass ? "as expected" : "NOT as expected");
}

void DockerDemo::summary(const std::vector<DStep>& steps,
                         const std::map<ViolationKey, double>& metrics, bool metrics_ok,
                         bool all_ok) {
  int attempts = 0, blocked = 0, alerts = 0;
  constexpr SummaryColumns kColumns{48, 16};
  say_summary_header(kColumns);
  int i = 0;
  for (const auto& s : steps) {
    ++i;
    if (s.ran) ++attempts;
    if (s.ran && s.refused) ++blocked;
    alerts += static_cast<int>(s.alert_kinds.size());
    say_summary_row(kColumns, i, s.title, s.expected, s.said, s.alert_kinds, s.pass);
  }
  say("  attempts {}, blocked {}, network alerts {} (every alert written by the agent: {})",
      attempts, blocked, alerts, agent_.alert_count());
  say("  /metrics guardrail_violations_total (non-zero network series, from http://{}/metrics):",
      o_.metrics_address);
  say_metrics_and_result(metrics, metrics_ok, all_ok);
}

bool DockerDemo::execute() {
  if (::geteuid() != 0)
    return failure(
        "needs root: it runs the agent, which loads BPF programs (try: sudo guardrail demo)");
  if (::access(o_.docker_cli.c_str(), X_OK) != 0)
    return failure("needs the docker CLI at " + o_.docker_cli + " (Debian: docker.io)");
  if (::access("/bin/busybox", X_OK) != 0)
    return failure("needs /bin/busybox (Debian: busybox-static) to build the demo image");
  if (::access(o_.agent_binary.c_str(), X_OK) != 0)
    return failure("cannot execute the agent binary " + o_.agent_binary);
  docker::Client client(o_.docker_socket);
  auto version = client.version();
  if (!version) return failure("Docker: " + version.error().message);
  if (auto r = check_address_free(o_.metrics_address); !r) return failure(r.error().message);
  auto dir = make_demo_dir();
  if (!dir) return failure(dir.error().message);
  dir_ = *dir;
  id_ = std::to_string(::getpid());
  say("guardrail demo {} (pid {}): Docker {} at {}, containers guardrail-demo-*-{}", id_, id_,
      version->value("Version", "?"), o_.docker_socket, id_);
  say("");
  say("setup");
  if (auto r = import_image(); !r) return failure("setup: " + r.error().message);
  containers_ = {{"orchestrator", "control-plane", "", "", ""},
                 {"agent-a", kZone, "", "", ""},
                 {"agent-b", kZone, "", "", ""}};
  const std::string server = fmt::format("exec nc -ll -p {} -e cat", kPort);
  for (auto& c : containers_) {
    if (stop_requested()) return failure("interrupted");
    if (auto r = start_container(c, server); !r) return failure("setup: " + r.error().message);
  }
  say("  policy ({}/policy.yaml): agent-sandbox reaches the orchestrator on tcp/{} only; "
      "everything else default-deny (zones by the label guardrail.io/zone)",
      dir_, kPort);
  if (auto r = agent_.start(dir_, policy_text(), {"--docker-socket", o_.docker_socket}); !r)
    return failure(r.error().message);
  if (auto r = wait_identified(); !r) return failure(r.error().message);

  const DContainer& orch = containers_[0];
  const DContainer& b = containers_[2];
  std::vector<DStep> steps(2);
  steps[0].title = fmt::format("agent-a -> orchestrator {}:{}/tcp", orch.ip, kPort);
  steps[0].expected = "allowed: connect + echo";
  steps[0].expect_ok = true;
  steps[1].title = fmt::format("agent-a -> agent-b {}:{}/tcp", b.ip, kPort);
  steps[1].expected = "blocked: connect() -> EPERM";
  steps[1].expected_kind = "net_connect";
  const std::string ips[] = {orch.ip, b.ip};
  const bool interrupted = run_steps(
      steps.size(), [&](size_t i) { run_step(steps[i], ips[i]); }, agent_, out_);
  std::map<ViolationKey, double> metrics;
  const std::map<ViolationKey, double> want{{{"net_connect", "blocked", kZone}, 1}};
  const bool metrics_ok =
      !interrupted &&
      wait_for_violations(o_.metrics_address, want, metrics, [](const ViolationKey& k) {
        return net_kinds().contains(std::get<0>(k));
      });
  bool all_ok = metrics_ok && !interrupted && agent_.running();
  for (const auto& s : steps) all_ok = all_ok && s.pass;
  summary(steps, metrics, metrics_ok, all_ok);
  if (!interrupted && (o_.keep || o_.duration_seconds > 0))
    agent_.hold(dir_, fmt::format("{} -H unix://{} exec -it {} sh", o_.docker_cli, o_.docker_socket,
                                  containers_[1].name));
  return all_ok;
}

bool DockerDemo::teardown(bool verbose) {
  if (torn_down_) return true;
  torn_down_ = true;
  verbose = verbose && !dir_.empty();
  bool ok = true;
  if (verbose) say("\nteardown");
  agent_.stop(verbose);
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
    Ran r = docker({"rm", "-f", *it}, 60000);
    const bool gone = r.ok() || r.output.find("No such container") != std::string::npos;
    if (!gone) ok = false;
    if (verbose)
      say("  {} container {}{}", gone ? "removed" : "ERROR: could not remove",
          it->size() == 64 ? it->substr(0, 12) : *it, gone ? "" : ": " + one_line(r.output));
  }
  created_.clear();
  if (!image_id_.empty()) {
    Ran r = docker({"rmi", "-f", image_id_}, 60000);
    if (!r.ok()) ok = false;
    if (verbose)
      say("  {} image {} ({})", r.ok() ? "removed" : "ERROR: could not remove", kImage,
          image_id_.substr(0, 19) + (r.ok() ? "" : "): " + one_line(r.output) + " ("));
    image_id_.clear();
  }
  finish_teardown(dir_, verbose, ok);
  return ok;
}

}  // namespace
}  // namespace demo

int run_docker_demo(const DemoOptions& options, std::ostream& out) {
  return demo::run_variant<demo::DockerDemo>(options, out);
}

}  // namespace guardrail
