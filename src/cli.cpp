#include "guardrail/cli.hpp"

#include <boost/program_options.hpp>
#include <iostream>

#include "guardrail/agent.hpp"
#include "guardrail/logging.hpp"
#include "guardrail/policy.hpp"
#include "guardrail/probe.hpp"

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
    "  version                 print the version\n"
    "\n"
    "`guardrail <command> --help` lists a command's options.\n";

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

int agent_command(const std::vector<std::string>& args, std::ostream& out) {
  AgentOptions o;
  po::options_description opts("guardrail agent options");
  opts.add_options()("help,h", "show this help")("policy,p", po::value(&o.policy_file)->required(),
                                                 "policy file (YAML)")(
      "metrics-address", po::value(&o.metrics_address)->default_value(o.metrics_address),
      "HOST:PORT to serve /metrics on")("alerts", po::value(&o.alerts)->default_value(o.alerts),
                                        "where JSON-line alerts go: a file path, or - for stdout")(
      "audit", po::bool_switch(&o.force_audit), "audit mode for every zone: alert, never block")(
      "ringbuf-bytes", po::value(&o.ringbuf_bytes)->default_value(o.ringbuf_bytes),
      "size of the events ring buffer (a power of two)")(
      "poll-ms", po::value(&o.poll_timeout_ms)->default_value(o.poll_timeout_ms),
      "longest time an event waits in the ring buffer before the agent reads it")(
      "rescan-seconds", po::value(&o.rescan_seconds)->default_value(o.rescan_seconds),
      "how often the cgroup tree is re-scanned for new workloads")(
      "verbose,v", "debug logging, libbpf's included");
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      out << opts;
      return 0;
    }
  auto vm = parse(args, opts);
  if (o.poll_timeout_ms < 1 || o.poll_timeout_ms > 1000)
    throw UsageError{"--poll-ms must be between 1 and 1000"};
  if (o.rescan_seconds < 0.1) throw UsageError{"--rescan-seconds must be at least 0.1"};
  init_logging(vm.count("verbose") > 0);
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
  init_logging(vm.count("verbose") > 0);
  return probe::run_probe_command(vm.count("json") > 0, out);
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
