#include "guardrail/cli/cli.hpp"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <iostream>

#include "guardrail/agent/agent.hpp"
#include "guardrail/demo/demo.hpp"
#include "guardrail/loader/libbpf_log.hpp"
#include "guardrail/policy/check.hpp"
#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/posture/posture.hpp"
#include "guardrail/probe/probe.hpp"
#include "guardrail/util/logging.hpp"

namespace guardrail {
namespace po = boost::program_options;
namespace {

constexpr const char* kUsage =
    "usage: guardrail <command> [options]\n"
    "\n"
    "commands:\n"
    "  agent --policy FILE     load the BPF programs, enforce the policy, stream alerts, serve "
    "/metrics\n"
    "  probe [--json]          print what this kernel supports and the backend of each guard\n"
    "  policy check FILE...    validate policy files and print what they compile to\n"
    "  audit [--json]          check running containers against the hardening baseline\n"
    "  demo                    a self-contained demonstration on this machine (root)\n"
    "  uninstall               detach every program agents left pinned (enforcement ends)\n"
    "  version                 print the version\n"
    "\n"
    "`guardrail <command> --help` lists a command's options.\n";

// The logger on stderr, with libbpf's messages routed into it.
void setup_logging(bool verbose) {
  init_logging(verbose);
  route_libbpf_log(verbose);
}

struct UsageError {
  std::string message;
};

po::variables_map parse(const std::vector<std::string>& args, const po::options_description& opts,
                        const po::positional_options_description* positional = nullptr) {
  po::variables_map vm;
  try {
    auto parser = po::command_line_parser(args).options(opts);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError{e.what()};
  }
  return vm;
}

std::string host_name() {
  char name[256] = {};
  return ::gethostname(name, sizeof name - 1) == 0 ? name : "unknown";
}

int agent_command(const std::vector<std::string>& args, std::ostream& out) {
  AgentOptions o;
  o.node_name = host_name();
  double dedup_seconds = 10;
  double summary_seconds = 30;
  double target_seconds = 600;
  std::vector<std::string> kind_budgets;
  long webhook_timeout_ms = o.webhook.timeout.count();
  po::options_description opts("guardrail agent options");
  auto add = opts.add_options();
  add("help,h", "show this help");
  add("policy,p", po::value(&o.policy_file)->required(), "policy file (YAML)");
  add("metrics-address", po::value(&o.metrics_address)->default_value(o.metrics_address),
      "HOST:PORT to serve /metrics on");
  add("alerts", po::value(&o.alerts)->default_value(o.alerts),
      "where JSON-line alerts go: a file path, or - for stdout");
  add("alerts-max-bytes", po::value(&o.alerts_max_bytes)->default_value(o.alerts_max_bytes),
      "rotate the alerts file past this size (0: never)");
  add("alerts-keep", po::value(&o.alerts_keep)->default_value(o.alerts_keep),
      "rotated alerts files kept (FILE.1 ... FILE.N)");
  add("audit", po::bool_switch(&o.force_audit), "audit mode for every zone: alert, never block");
  add("dedup-window-seconds", po::value(&dedup_seconds)->default_value(dedup_seconds),
      "fold repeats of an alert (same workload, kind, target) within this window (0: off)");
  add("rate-limit", po::value(&o.pipeline.rate_limit)->default_value(o.pipeline.rate_limit),
      "alerts per second per workload and kind (0: unlimited); the rest are counted, not "
      "alerted, but the first alert of each target always leaves");
  add("rate-burst", po::value(&o.pipeline.rate_burst)->default_value(o.pipeline.rate_burst),
      "alerts of one kind a workload may send at once before the rate limit applies");
  add("rate-limit-kind", po::value(&kind_budgets)->composing(),
      "KIND=RATE[/BURST]: a budget of its own for one alert kind (repeatable), e.g. mount=5/20; "
      "every kind has its own bucket per workload, the others at --rate-limit/--rate-burst");
  add("summary-interval-seconds", po::value(&summary_seconds)->default_value(summary_seconds),
      "at most this often, one alert per workload naming what the rate limit suppressed");
  add("distinct-targets",
      po::value(&o.pipeline.distinct_targets)->default_value(o.pipeline.distinct_targets),
      "targets remembered per kind whose first alert is never rate limited; past it, counted");
  add("distinct-target-seconds", po::value(&target_seconds)->default_value(target_seconds),
      "how long a target is remembered as seen");
  add("queue-capacity",
      po::value(&o.pipeline.queue_capacity)->default_value(o.pipeline.queue_capacity),
      "events waiting between the ring buffer consumer and the pipeline");
  add("webhook-url", po::value(&o.webhook.url),
      "post alerts to Alertmanager's v2 API at this base URL (http:// or https://)");
  add("webhook-timeout-ms", po::value(&webhook_timeout_ms)->default_value(webhook_timeout_ms),
      "per-request timeout of the webhook");
  add("webhook-retries", po::value(&o.webhook.retries)->default_value(o.webhook.retries),
      "further attempts after a failed webhook post (backoff doubles)");
  add("webhook-ca-file", po::value(&o.webhook.ca_file), "CA bundle to verify the webhook with");
  add("webhook-insecure", po::bool_switch(&o.webhook.insecure),
      "do not verify the webhook's TLS certificate (testing only)");
  add("node-name", po::value(&o.node_name)->default_value(o.node_name),
      "this node's name on every alert");
  add("docker-socket", po::value(&o.docker_socket)->default_value(o.docker_socket),
      "Docker Engine API socket for container discovery");
  add("no-docker", "no Docker discovery (cgroup selectors only)");
  add("kubernetes", po::bool_switch(&o.kubernetes),
      "Kubernetes discovery: this node's pods (--node-name) from the API server, placed by the "
      "policy's namespaces and labels; pods elsewhere and Services as identities");
  add("kubeconfig", po::value(&o.kubeconfig),
      "with --kubernetes: a kubeconfig for a run outside the cluster (default: the pod's "
      "service account)");
  add("kubelet-cgroup-root",
      po::value(&o.kubelet_cgroup_root)->default_value(o.kubelet_cgroup_root),
      "with --kubernetes: the kubelet's --cgroup-root, below which kubepods (cgroupfs driver) "
      "or kubepods.slice (systemd driver) sits, relative to the agent's cgroup2 mount");
  add("kubernetes-sync-seconds",
      po::value(&o.kubernetes_sync_seconds)->default_value(o.kubernetes_sync_seconds),
      "with --kubernetes: how long the first enforcement waits for the API server's first "
      "lists");
  add("ringbuf-bytes", po::value(&o.ringbuf_bytes)->default_value(o.ringbuf_bytes),
      "size of the events ring buffer (a power of two)");
  add("poll-ms", po::value(&o.poll_timeout_ms)->default_value(o.poll_timeout_ms),
      "longest time an event waits in the ring buffer before the agent reads it");
  add("rescan-seconds", po::value(&o.rescan_seconds)->default_value(o.rescan_seconds),
      "how often the cgroup tree is re-scanned for new workloads");
  add("tamper-check-seconds",
      po::value(&o.tamper_check_seconds)->default_value(o.tamper_check_seconds),
      "how often every workload cgroup is checked for the agent's programs, re-attaching what "
      "a workload detached (0: only when a tamper event arrives)");
  add("pin-dir", po::value(&o.pin_dir)->default_value(o.pin_dir),
      "bpffs directory where programs, links and maps are pinned so that enforcement outlives "
      "the agent (a restart adopts them); empty: pin nothing");
  add("detach-on-exit", po::bool_switch(&o.detach_on_exit),
      "on SIGINT/SIGTERM remove every pin and detach every program (default: keep enforcing "
      "the last policy until the next agent adopts it or `guardrail uninstall`)");
  add("verbose,v", "debug logging, libbpf's included");
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      out << opts;
      return 0;
    }
  auto vm = parse(args, opts);
  if (o.poll_timeout_ms < 1 || o.poll_timeout_ms > 1000)
    throw UsageError{"--poll-ms must be between 1 and 1000"};
  if (o.rescan_seconds < 0.1) throw UsageError{"--rescan-seconds must be at least 0.1"};
  if (o.tamper_check_seconds != 0 && !(o.tamper_check_seconds >= 0.01))
    throw UsageError{"--tamper-check-seconds must be 0 (off) or at least 0.01"};
  if (dedup_seconds < 0) throw UsageError{"--dedup-window-seconds must not be negative"};
  if (o.pipeline.rate_limit < 0) throw UsageError{"--rate-limit must not be negative"};
  if (o.pipeline.rate_burst < 1 && o.pipeline.rate_limit > 0)
    throw UsageError{"--rate-burst must be at least 1"};
  for (const auto& spec : kind_budgets) {
    auto budget = pipeline::parse_kind_budget(spec);
    if (!budget) throw UsageError{budget.error().message};
    if (!o.pipeline.kind_budgets.emplace(budget->first, budget->second).second)
      throw UsageError{"--rate-limit-kind names kind '" + spec.substr(0, spec.find('=')) +
                       "' twice"};
  }
  if (!(summary_seconds >= 0.1) || summary_seconds > 86400)
    throw UsageError{"--summary-interval-seconds must be between 0.1 and 86400"};
  if (o.pipeline.distinct_targets < 1 || o.pipeline.distinct_targets > 1'000'000)
    throw UsageError{"--distinct-targets must be between 1 and 1000000 (per kind)"};
  if (!(target_seconds >= 1) || target_seconds > 86400)
    throw UsageError{"--distinct-target-seconds must be between 1 and 86400"};
  if (o.pipeline.queue_capacity < 1) throw UsageError{"--queue-capacity must be at least 1"};
  if (o.alerts_keep < 1) throw UsageError{"--alerts-keep must be at least 1"};
  if (webhook_timeout_ms < 1) throw UsageError{"--webhook-timeout-ms must be at least 1"};
  if (o.webhook.retries < 0) throw UsageError{"--webhook-retries must not be negative"};
  o.pipeline.dedup_window =
      std::chrono::nanoseconds(static_cast<std::int64_t>(dedup_seconds * 1e9));
  o.pipeline.summary_interval =
      std::chrono::nanoseconds(static_cast<std::int64_t>(summary_seconds * 1e9));
  o.pipeline.distinct_target_memory =
      std::chrono::nanoseconds(static_cast<std::int64_t>(target_seconds * 1e9));
  o.webhook.timeout = std::chrono::milliseconds(webhook_timeout_ms);
  if (vm.count("no-docker")) o.docker_socket.clear();
  if (!o.kubernetes && (vm.count("kubeconfig") || !vm["kubelet-cgroup-root"].defaulted()))
    throw UsageError{"--kubeconfig and --kubelet-cgroup-root need --kubernetes"};
  if (o.kubernetes_sync_seconds < 0 || o.kubernetes_sync_seconds > 600)
    throw UsageError{"--kubernetes-sync-seconds must be between 0 and 600"};
  setup_logging(vm.count("verbose") > 0);
  return run_agent(o);
}

int probe_command(const std::vector<std::string>& args, std::ostream& out) {
  po::options_description opts("guardrail probe options");
  opts.add_options()("help,h", "show this help")("json", "print JSON")("verbose,v",
                                                                       "show libbpf's messages");
  auto vm = parse(args, opts);
  if (vm.count("help")) {
    out << opts;
    return 0;
  }
  setup_logging(vm.count("verbose") > 0);
  return probe::run_probe_command(vm.count("json") > 0, out);
}

int demo_command(const std::vector<std::string>& args, std::ostream& out) {
  DemoOptions o;
  po::options_description opts("guardrail demo options");
  opts.add_options()("help,h", "show this help")(
      "metrics-address", po::value(&o.metrics_address)->default_value(o.metrics_address),
      "HOST:PORT for the demo agent's /metrics")("keep", po::bool_switch(&o.keep),
                                                 "after the steps, stay up until Ctrl-C")(
      "duration", po::value(&o.duration_seconds)->default_value(o.duration_seconds),
      "after the steps, stay up this many seconds")(
      "agent-binary", po::value(&o.agent_binary)->default_value(o.agent_binary),
      "the guardrail binary to run the agent with")("verbose,v", po::bool_switch(&o.verbose),
                                                    "show the agent's whole log")(
      "docker", "use Docker containers (fail if the Docker socket does not answer)")(
      "no-docker", "use cgroups and network namespaces even when Docker answers")(
      "docker-socket", po::value(&o.docker_socket)->default_value(o.docker_socket),
      "Docker Engine API socket (default mode: Docker when it answers GET /version)");
  auto vm = parse(args, opts);
  if (vm.count("help")) {
    out << "usage: guardrail demo [options]\n"
           "Builds an orchestrator and two agents as Docker containers when Docker answers on\n"
           "--docker-socket, else in cgroups and network namespaces on this machine, runs the\n"
           "real agent, attempts forbidden actions, prints the alerts live\n"
           "and a summary, and removes everything it made.\n"
        << opts;
    return 0;
  }
  if (o.duration_seconds < 0) throw UsageError{"--duration must not be negative"};
  if (vm.count("docker") && vm.count("no-docker"))
    throw UsageError{"--docker and --no-docker exclude each other"};
  if (vm.count("docker")) o.docker = DemoOptions::Docker::On;
  if (vm.count("no-docker")) o.docker = DemoOptions::Docker::Off;
  setup_logging(false);
  return run_demo(o, out);
}

int audit_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string socket = docker::kDefaultSocket;
  po::options_description opts("guardrail audit options");
  opts.add_options()("help,h", "show this help")("json", "print JSON")(
      "docker-socket", po::value(&socket)->default_value(socket), "Docker Engine API socket");
  auto vm = parse(args, opts);
  if (vm.count("help")) {
    out << "usage: guardrail audit [--json] [--docker-socket PATH]\n"
           "Checks every running container against the hardening baseline.\n"
        << opts;
    return 0;
  }
  return posture::run_audit_command(vm.count("json") > 0, socket, out, err);
}

int policy_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] != "check")
    throw UsageError{"policy: expected `guardrail policy check FILE...`"};
  std::vector<std::string> files;
  po::options_description opts("guardrail policy check options");
  opts.add_options()("help,h", "show this help")("file", po::value(&files)->multitoken(),
                                                 "policy files");
  po::positional_options_description positional;
  positional.add("file", -1);
  auto vm = parse({args.begin() + 1, args.end()}, opts, &positional);
  if (vm.count("help")) {
    out << "usage: guardrail policy check FILE...\n" << opts;
    return 0;
  }
  if (files.empty()) throw UsageError{"policy check: name at least one policy file"};
  return policy::run_policy_check(files, out, err);
}

int uninstall_command(const std::vector<std::string>& args, std::ostream& out) {
  std::string pin_dir = AgentOptions{}.pin_dir;
  po::options_description opts("guardrail uninstall options");
  opts.add_options()("help,h", "show this help")(
      "pin-dir", po::value(&pin_dir)->default_value(pin_dir), "the agent's bpffs pin directory");
  auto vm = parse(args, opts);
  if (vm.count("help")) {
    out << "usage: guardrail uninstall [--pin-dir DIR]\n"
           "Removes every program, link and map Guardrail agents pinned at DIR: enforcement\n"
           "stops. Refuses while an agent runs on DIR (stop it first).\n"
        << opts;
    return 0;
  }
  setup_logging(false);
  return uninstall(pin_dir, out);
}

}  // namespace

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    if (command == "agent") return agent_command(rest, out);
    if (command == "probe") return probe_command(rest, out);
    if (command == "policy") return policy_command(rest, out, err);
    if (command == "audit") return audit_command(rest, out, err);
    if (command == "demo") return demo_command(rest, out);
    if (command == "uninstall") return uninstall_command(rest, out);
    if (command == "version" || command == "--version") {
      out << "guardrail " << GUARDRAIL_VERSION << "\n";
      return 0;
    }
    throw UsageError{"unknown command '" + command + "'"};
  } catch (const UsageError& e) {
    err << "guardrail: " << e.message << "\n\n" << kUsage;
    return 2;
  }
}

}  // namespace guardrail
