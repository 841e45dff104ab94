// `guardrail demo`: a self-contained demonstration on this machine. Builds a small topology of
// network namespaces on a bridge with a cgroup per workload (orchestrator, agent-a, agent-b),
// runs the real agent as a child process, performs a few allowed and forbidden operations from
// inside agent-a, prints what the kernel did and every alert the agent wrote, checks
// /metrics, and tears everything down again (also on failure and on Ctrl-C).
//
// Addresses are in 198.19.77.0/24 (inside the benchmarking range 198.18.0.0/15, apart from the
// integration tests' 198.18.0.0/16). Names carry the demo's pid: netns grd<pid>-{sw,orch,a,b},
// cgroups <cgroup2>/guardrail-demo-<pid>/{orchestrator,agents/a,agents/b}; helper processes
// are named gr-demo-* (their comm).
#pragma once

#include <fmt/format.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <ios>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "guardrail/docker/defaults.hpp"
#include "guardrail/util/process.hpp"
#include "guardrail/util/result.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail {

struct DemoOptions {
  std::string metrics_address = "127.0.0.1:9465";  // the demo agent's --metrics-address
  // After the steps, keep the topology and the agent up (alerts still printed live) until
  // Ctrl-C, then tear down. duration_seconds > 0 bounds the wait.
  bool keep = false;
  // After the steps, stay up this many seconds (0: not at all, unless keep), then tear down.
  double duration_seconds = 0;
  std::string agent_binary = "/proc/self/exe";  // run as `BINARY agent --policy ...`
  bool verbose = false;                         // pass -v to the agent; show its whole log
  // Docker variant (src/demo/docker.cpp): containers instead of netns + cgroups. Auto: Docker
  // when docker_socket answers GET /version, else namespaces.
  enum class Docker { Auto, On, Off };
  Docker docker = Docker::Auto;
  std::string docker_socket = docker::kDefaultSocket;
  std::string docker_cli = "/usr/bin/docker";  // run as `docker -H unix://SOCKET ...`
};

// Runs the demo, writing its narration to out. Needs root. Returns 0 when every step behaved
// as expected (the kernel's answer, the alerts and the /metrics counters), 1 otherwise
// (including setup failures and an interruption).
int run_demo(const DemoOptions& options, std::ostream& out);

// The Docker variant (run_demo picks it): an orchestrator and two agent containers from a
// busybox image it imports (guardrail-demo-busybox:latest), the real agent following them over
// docker_socket, connects from inside agent-a (docker exec), and removes its containers and
// image (by id) again. Same return value as run_demo.
int run_docker_demo(const DemoOptions& options, std::ostream& out);

namespace demo {

// ---- building blocks (src/demo/topology.cpp) -----------------------------------------------

// Runs argv (PATH lookup), stdout and stderr captured. Fails, with the output, unless it
// exits 0.
Result<std::string> run_command(const std::vector<std::string>& argv);

// A child with a pipe back to the demo (readiness byte, results, received datagrams).
struct Spawned {
  Child process;
  UniqueFd report;  // read end, non-blocking
};

struct Node {
  std::string key;         // orchestrator, agent-a, agent-b
  std::string netns;       // name under /run/netns
  std::string ip;          // eth0's address (/24)
  std::string cgroup_rel;  // relative to the cgroup2 mount, e.g. /guardrail-demo-42/agents/a
  std::string cgroup_dir;  // absolute
  UniqueFd netns_fd;
};

// The namespaces, bridge, veths and cgroups. teardown() (also run by the destructor) removes
// exactly what setup() created; kill the processes inside first.
class Topology {
 public:
  Topology(std::string id, std::string cgroup2_root);
  ~Topology();
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  Result<void> setup();
  // Removes everything created, deepest first; returns one line per thing that could not be
  // removed. `log` (if any) gets one line per thing removed.
  std::vector<std::string> teardown(std::ostream* log = nullptr);

  Node& node(std::string_view key);
  const std::string& id() const { return id_; }
  const std::string& base_cgroup_rel() const { return base_rel_; }
  std::vector<std::string> netns_names() const;

  // Forks a child that joins node's cgroup (unless in_cgroup is false: then it stays in the
  // demo's own cgroup, outside every workload), enters node's network namespace, names itself
  // `comm`, and returns body(write end of the report pipe) as its exit code.
  Result<Spawned> spawn(const Node& node, bool in_cgroup, const char* comm,
                        const std::function<int(int report_fd)>& body);

 private:
  Result<void> add_netns(const std::string& name);
  Result<void> mkdir_cgroup(const std::string& rel);

  std::string id_;
  std::string cgroup2_;
  std::string prefix_;  // grd<id>
  std::string base_rel_;
  std::string switch_ns_;
  std::string bridge_;
  std::vector<Node> nodes_;
  std::vector<std::string> netns_created_;
  std::vector<std::string> cgroups_created_;
};

// ---- presentation (src/demo/report.cpp) -----------------------------------------------------

// One alert JSON line as a one-liner: `TIME KIND VERDICT WORKLOAD -> TARGET (pid N comm)`.
// nullopt when the line is not a JSON object with a kind.
std::optional<std::string> pretty_alert(std::string_view json_line);

// guardrail_violations_total samples of a Prometheus text exposition, summed by
// (kind, verdict, zone).
using ViolationKey = std::tuple<std::string, std::string, std::string>;
std::map<ViolationKey, double> parse_violations(std::string_view metrics_text);

// GET http://address/metrics (libcurl, no proxy). Fails unless the answer is 200.
Result<std::string> scrape_metrics(const std::string& address, long timeout_ms = 1000);

// ---- narration, shared by both variants and the agent (src/demo/narration.cpp) -------------

// Writes the demo's narration: one formatted line at a time, flushed (the tests read it live).
class Narrator {
 public:
  explicit Narrator(std::ostream& out) : out_(out) {}

 protected:
  template <typename... Args>
  void say(fmt::format_string<Args...> f, Args&&... args) {
    out_ << fmt::format(f, std::forward<Args>(args)...) << '\n' << std::flush;
  }
  // Says `demo: MESSAGE`; false, for `return failure(...)`.
  bool failure(const std::string& message);
  // The summary table's widths: the attempt and the alerts columns.
  struct SummaryColumns {
    int attempt;
    int alerts;
  };
  // `summary` and the table's header line.
  void say_summary_header(SummaryColumns columns);
  // One step's row: number, attempt, expected, what happened, `N kind,kind`, PASS or FAIL.
  void say_summary_row(SummaryColumns columns, int number, const std::string& title,
                       const std::string& expected, const std::string& said,
                       const std::vector<std::string>& alert_kinds, bool pass);
  // The summary's end: the guardrail_violations_total series, whether they match, the result.
  void say_metrics_and_result(const std::map<ViolationKey, double>& metrics, bool metrics_ok,
                              bool all_ok);
  // The teardown's end: removes the run's temp dir (if any), then `clean` or `NOT clean`.
  void finish_teardown(const std::string& dir, bool verbose, bool ok);

  std::ostream& out_;
};

// ---- the agent child and its files, shared by both variants (src/demo/agent.cpp) -------------

// Complete lines appended to a file since the last call (the file may not exist yet).
class FileTail {
 public:
  explicit FileTail(std::string path) : path_(std::move(path)) {}
  std::vector<std::string> lines();

 private:
  std::string path_;
  std::streamoff offset_ = 0;
  std::string partial_;
};

// How a child ended in words: `exit N`, `killed by signal N`; nullopt: `did not finish`.
std::string status_text(const std::optional<ExitStatus>& status);

// Fails if HOST:PORT (an IPv4 literal) cannot be listened on: then something else answers
// there and its /metrics would be mistaken for the demo agent's.
Result<void> check_address_free(const std::string& address);

// mkdtemp(/tmp/guardrail-demo-XXXXXX); the directory's path.
Result<std::string> make_demo_dir();

// Scrapes address's /metrics for up to 3s until its non-zero guardrail_violations_total series
// (those `keep` accepts, when given) equal want. seen: the last scrape's series.
bool wait_for_violations(const std::string& address, const std::map<ViolationKey, double>& want,
                         std::map<ViolationKey, double>& seen,
                         const std::function<bool(const ViolationKey&)>& keep = {});

// The real agent as a child process of the demo: writes DIR/policy.yaml, runs
// `BINARY agent --policy DIR/policy.yaml --alerts DIR/alerts.jsonl --metrics-address ADDRESS
// [extra args] --dedup-window-seconds 0 --rate-limit 0 --node-name guardrail-demo [-v]` with
// its output in DIR/agent.log, and narrates its log and alerts to out.
class DemoAgent : private Narrator {
 public:
  DemoAgent(const DemoOptions& options, std::ostream& out) : Narrator(out), o_(options) {}
  DemoAgent(const DemoAgent&) = delete;
  DemoAgent& operator=(const DemoAgent&) = delete;

  // Starts the agent and waits up to 30s until its /metrics answers.
  Result<void> start(const std::string& dir, const std::string& policy_text,
                     const std::vector<std::string>& extra_args = {});
  // Prints the agent's new log lines (`    agent| ...`).
  void pump_log();
  // Prints the new alerts (`    ALERT ...`) and returns their kinds. A formatter that returns a
  // text replaces pretty_alert()'s for that line.
  std::vector<std::string> pump_alerts();
  void set_alert_formatter(std::function<std::optional<std::string>(std::string_view)> f) {
    formatter_ = std::move(f);
  }
  // Pumps alerts until `want` of those `keep` accepts (all, when not given) arrived (up to 3s),
  // then settle_ms longer; their kinds.
  std::vector<std::string> collect_alerts(size_t want, int settle_ms,
                                          const std::function<bool(const std::string&)>& keep = {});
  bool running() { return process_.running(); }
  std::optional<ExitStatus> status() const { return process_.status(); }  // once exited
  // False (after printing its log and `the agent exited (...)`) once the agent has exited.
  bool check_running();
  // Every alert written so far (parsed ones).
  int alert_count() const { return alert_count_; }
  // Keeps the demo up (DemoOptions keep / duration_seconds) printing alerts live, until Ctrl-C,
  // the duration or the agent's exit. shell: how to get a shell inside agent-a.
  void hold(const std::string& dir, const std::string& shell);
  // SIGTERM (10s grace, then SIGKILL); with verbose, its last log and how it stopped.
  void stop(bool verbose);

 private:
  const DemoOptions& o_;
  Child process_;
  std::unique_ptr<FileTail> alerts_tail_, log_tail_;
  std::function<std::optional<std::string>(std::string_view)> formatter_;
  int alert_count_ = 0;
};

// True when a step saw exactly the one alert it expected (none when expected_kind is empty).
bool alerts_as_expected(const std::vector<std::string>& seen, const std::string& expected_kind);

// Runs the steps in order (step(i) for i < count), stopping at a stop request or when the agent
// exits; true when interrupted (then it said `interrupted: tearing down`).
bool run_steps(size_t count, const std::function<void(size_t)>& step, DemoAgent& agent,
               std::ostream& out);

// Runs one variant's run (constructed from options and out) under StopSignals: execute(),
// then teardown(true), also when execute() throws. 0 when both succeeded, else 1.
template <typename Run>
int run_variant(const DemoOptions& options, std::ostream& out) {
  StopSignals signals;
  bool ok = false;
  {
    Run run(options, out);
    try {
      ok = run.execute();
    } catch (...) {
      run.teardown(true);
      throw;
    }
    ok = run.teardown(true) && ok;
  }
  return ok ? 0 : 1;
}

}  // namespace demo
}  // namespace guardrail
