// `guardrail demo`'s topology: the namespaces, bridge and
// cgroups of the demo topology (created with iproute2 and mkdir, removed exactly as created).
#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <ostream>
#include <sstream>
#include <thread>

#include "guardrail/demo/demo.hpp"

namespace guardrail::demo {
namespace {

bool write_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write_all(fd, text).has_value();
  ::close(fd);
  return ok;
}

bool cgroup_has_procs(const std::string& dir) {
  std::ifstream f(dir + "/cgroup.procs");
  std::string s;
  return f && (f >> s);
}

}  // namespace

Result<std::string> run_command(const std::vector<std::string>& argv) {
  auto run = run_captured(argv, {.search_path = true});
  if (!run) return propagate(run);
  if (run->status && run->status->success()) return std::move(run->output);
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  std::string output = std::move(run->output);
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return fail(fmt::format("`{}` failed (status {}): {}", cmd, run->status ? run->status->raw() : -1,
                          output));
}

// ---- Topology -------------------------------------------------------------------------------

Topology::Topology(std::string id, std::string cgroup2_root)
    : id_(std::move(id)), cgroup2_(std::move(cgroup2_root)) {
  prefix_ = "grd" + id_;
  base_rel_ = "/guardrail-demo-" + id_;
  switch_ns_ = prefix_ + "-sw";
  bridge_ = prefix_ + "br";
  const struct {
    const char* key;
    const char* shortname;
    const char* ip;
    const char* cgroup;
  } layout[] = {{"orchestrator", "orch", "198.19.77.2", "/orchestrator"},
                {"agent-a", "a", "198.19.77.3", "/agents/a"},
                {"agent-b", "b", "198.19.77.4", "/agents/b"}};
  for (const auto& l : layout) {
    Node n;
    n.key = l.key;
    n.netns = prefix_ + "-" + l.shortname;
    n.ip = l.ip;
    n.cgroup_rel = base_rel_ + l.cgroup;
    n.cgroup_dir = cgroup2_ + n.cgroup_rel;
    nodes_.push_back(std::move(n));
  }
}

Topology::~Topology() { teardown(); }

Node& Topology::node(std::string_view key) {
  for (auto& n : nodes_)
    if (n.key == key) return n;
  throw std::logic_error("demo: no node " + std::string(key));
}

std::vector<std::string> Topology::netns_names() const {
  std::vector<std::string> names{switch_ns_};
  for (const auto& n : nodes_) names.push_back(n.netns);
  return names;
}

Result<void> Topology::add_netns(const std::string& name) {
  GR_TRY(run_command({"ip", "netns", "add", name}));
  netns_created_.push_back(name);
  // IPv6 off, as Docker does for containers without IPv6: no neighbour discovery noise. Best
  // effort (a kernel without IPv6 has no such files): written from a child inside the netns,
  // since /proc/sys/net shows the opener's namespace.
  UniqueFd fd(::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno("open /run/netns/" + name, errno);
  auto child = spawn_function("disable_ipv6", [&] {
    if (::setns(fd.get(), CLONE_NEWNET) != 0) return 1;
    write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    return 0;
  });
  if (child) child->wait();
  GR_TRY(run_command({"ip", "-n", name, "link", "set", "lo", "up"}));
  return {};
}

Result<void> Topology::mkdir_cgroup(const std::string& rel) {
  std::string path = cgroup2_;
  std::stringstream parts(rel);
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    path += "/" + part;
    if (::mkdir(path.c_str(), 0755) == 0) {
      cgroups_created_.push_back(path);
    } else if (errno != EEXIST) {
      return fail_errno("mkdir " + path, errno);
    }
  }
  return {};
}

Result<void> Topology::setup() {
  if (bridge_.size() > 15 || prefix_.size() + 1 > 15)
    return fail("demo: interface names too long for id " + id_);
  auto ip = [](std::vector<std::string> args) -> Result<void> {
    args.insert(args.begin(), "ip");
    GR_TRY(run_command(args));
    return {};
  };
  GR_TRY(add_netns(switch_ns_));
  GR_TRY(ip({"-n", switch_ns_, "link", "add", bridge_, "type", "bridge", "forward_delay", "0"}));
  GR_TRY(ip({"-n", switch_ns_, "link", "set", bridge_, "up"}));
  for (auto& n : nodes_) {
    if (stop_requested()) return fail("interrupted");
    GR_TRY(add_netns(n.netns));
    const std::string port = prefix_ + (n.key == "orchestrator" ? "o" : n.key.substr(6));
    GR_TRY(ip({"-n", switch_ns_, "link", "add", port, "type", "veth", "peer", "name", "eth0",
               "netns", n.netns}));
    GR_TRY(ip({"-n", switch_ns_, "link", "set", port, "master", bridge_}));
    GR_TRY(ip({"-n", switch_ns_, "link", "set", port, "up"}));
    GR_TRY(ip({"-n", n.netns, "addr", "add", n.ip + "/24", "dev", "eth0"}));
    GR_TRY(ip({"-n", n.netns, "link", "set", "eth0", "up"}));
    n.netns_fd.reset(::open(("/run/netns/" + n.netns).c_str(), O_RDONLY | O_CLOEXEC));
    if (!n.netns_fd) return fail_errno("open /run/netns/" + n.netns, errno);
  }
  for (auto& n : nodes_) GR_TRY(mkdir_cgroup(n.cgroup_rel));
  return {};
}

std::vector<std::string> Topology::teardown(std::ostream* log) {
  std::vector<std::string> errors;
  for (auto& n : nodes_) n.netns_fd.reset();
  // Deepest first. Only the demo's own processes can be in these cgroups; any left (a step's
  // child that outlived it) are killed through cgroup.kill.
  std::vector<std::string> cgroups = cgroups_created_;
  std::stable_sort(cgroups.begin(), cgroups.end(), [](const auto& a, const auto& b) {
    return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
  });
  for (const auto& dir : cgroups) {
    if (cgroup_has_procs(dir)) {
      write_file(dir + "/cgroup.kill", "1");
      for (int i = 0; i < 250 && cgroup_has_procs(dir); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    bool removed = false;
    for (int i = 0; i < 250; ++i) {  // a cgroup stays busy briefly after its last task exits
      if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) {
        removed = true;
        break;
      }
      if (errno != EBUSY) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!removed)
      errors.push_back(fmt::format("could not remove cgroup {}: {}", dir, std::strerror(errno)));
    else if (log)
      *log << "  removed cgroup " << dir << "\n";
  }
  cgroups_created_.clear();
  for (auto it = netns_created_.rbegin(); it != netns_created_.rend(); ++it) {
    auto r = run_command({"ip", "netns", "del", *it});
    if (!r)
      errors.push_back(r.error().message);
    else if (log)
      *log << "  deleted netns " << *it << "\n";
  }
  netns_created_.clear();
  return errors;
}

Result<Spawned> Topology::spawn(const Node& node, bool in_cgroup, const char* comm,
                                const std::function<int(int report_fd)>& body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail_errno("pipe", errno);
  UniqueFd rd(fds[0]), wr(fds[1]);
  const std::string procs = node.cgroup_dir + "/cgroup.procs";
  // Own process group: a Ctrl-C at the terminal reaches the demo only, which tears down in
  // order. If the demo dies without that, the kernel kills this child.
  SpawnOptions options;
  options.own_process_group = true;
  options.parent_death_signal = SIGKILL;
  options.pre_exec = [&] {
    rd.reset();
    // First the cgroup, then the netns: every socket belongs to both from its creation.
    if (in_cgroup && !write_file(procs, std::to_string(::getpid()))) return 126;
    if (::setns(node.netns_fd.get(), CLONE_NEWNET) != 0) return 127;
    ::prctl(PR_SET_NAME, comm);
    return 0;
  };
  auto child = spawn_function(
      comm, [&] { return body(wr.get()); }, options);
  if (!child) return propagate(child);
  wr.reset();
  ::fcntl(rd.get(), F_SETFL, O_NONBLOCK);
  return Spawned{std::move(*child), std::move(rd)};
}

}  // namespace guardrail::demo
