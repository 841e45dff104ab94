// `guardrail demo`'s machinery: the stop flag, child processes, and the namespaces, bridge and
// cgroups of the demo topology (created with iproute2 and mkdir, removed exactly as created).
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <ostream>
#include <sstream>
#include <thread>

#include "guardrail/demo/demo.hpp"

namespace guardrail::demo {
namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_stop_signal(int) { g_stop = 1; }

struct sigaction g_old_int {};
struct sigaction g_old_term {};

// Writes all of data to fd; false on error.
bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool write_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write_all(fd, text.data(), text.size());
  ::close(fd);
  return ok;
}

bool cgroup_has_procs(const std::string& dir) {
  std::ifstream f(dir + "/cgroup.procs");
  std::string s;
  return f && (f >> s);
}

}  // namespace

bool stop_requested() { return g_stop != 0; }

SignalGuard::SignalGuard() {
  g_stop = 0;
  struct sigaction sa {};
  sa.sa_handler = &on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &g_old_int);
  ::sigaction(SIGTERM, &sa, &g_old_term);
}

SignalGuard::~SignalGuard() {
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
}

bool sleep_ms(int ms) {
  using namespace std::chrono;
  const auto deadline = steady_clock::now() + milliseconds(ms);
  while (!stop_requested()) {
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0) return true;
    std::this_thread::sleep_for(milliseconds(std::min<long>(left, 20)));
  }
  return false;
}

Result<std::string> run_command(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail_errno("pipe", errno);
  UniqueFd rd(fds[0]), wr(fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return fail_errno("fork", errno);
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(wr.get(), 1);
    ::dup2(wr.get(), 2);
    ::execvp(args[0], args.data());
    const char msg[] = "exec failed\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  wr.reset();
  std::string output;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!output.empty() && output.back() == '\n') output.pop_back();
    return fail(fmt::format("`{}` failed (status {}): {}", cmd, status, output));
  }
  return output;
}

// ---- ChildProcess ---------------------------------------------------------------------------

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      label_(std::move(other.label_)),
      reaped_(other.reaped_),
      status_(other.status_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    pid_ = std::exchange(other.pid_, -1);
    label_ = std::move(other.label_);
    reaped_ = other.reaped_;
    status_ = other.status_;
  }
  return *this;
}

bool ChildProcess::running() {
  if (pid_ < 0 || reaped_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    reaped_ = true;
    status_ = status;
    return false;
  }
  return true;
}

bool ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

int ChildProcess::terminate(std::chrono::milliseconds grace) {
  if (running()) {
    ::kill(pid_, SIGTERM);
    if (!wait_for(grace)) kill_and_reap();
  }
  return status_;
}

void ChildProcess::kill_and_reap() {
  if (pid_ < 0 || reaped_) return;
  if (running()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_ = status;
    reaped_ = true;
  }
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
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setns(fd.get(), CLONE_NEWNET) != 0) ::_exit(1);
    write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    ::_exit(0);
  }
  if (pid > 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
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
  if (auto r = add_netns(switch_ns_); !r) return r;
  if (auto r =
          ip({"-n", switch_ns_, "link", "add", bridge_, "type", "bridge", "forward_delay", "0"});
      !r)
    return r;
  if (auto r = ip({"-n", switch_ns_, "link", "set", bridge_, "up"}); !r) return r;
  for (auto& n : nodes_) {
    if (stop_requested()) return fail("interrupted");
    if (auto r = add_netns(n.netns); !r) return r;
    const std::string port = prefix_ + (n.key == "orchestrator" ? "o" : n.key.substr(6));
    if (auto r = ip({"-n", switch_ns_, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                     "netns", n.netns});
        !r)
      return r;
    if (auto r = ip({"-n", switch_ns_, "link", "set", port, "master", bridge_}); !r) return r;
    if (auto r = ip({"-n", switch_ns_, "link", "set", port, "up"}); !r) return r;
    if (auto r = ip({"-n", n.netns, "addr", "add", n.ip + "/24", "dev", "eth0"}); !r) return r;
    if (auto r = ip({"-n", n.netns, "link", "set", "eth0", "up"}); !r) return r;
    n.netns_fd.reset(::open(("/run/netns/" + n.netns).c_str(), O_RDONLY | O_CLOEXEC));
    if (!n.netns_fd) return fail_errno("open /run/netns/" + n.netns, errno);
  }
  for (auto& n : nodes_)
    if (auto r = mkdir_cgroup(n.cgroup_rel); !r) return r;
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
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return fail_errno("fork", errno);
  if (pid == 0) {
    // Own process group: a Ctrl-C at the terminal reaches the demo only, which tears down in
    // order. If the demo dies without that, the kernel kills this child.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(125);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    rd.reset();
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) ::dup2(devnull, 0);
    // First the cgroup, then the netns: every socket belongs to both from its creation.
    if (in_cgroup && !write_file(procs, std::to_string(::getpid()))) ::_exit(126);
    if (::setns(node.netns_fd.get(), CLONE_NEWNET) != 0) ::_exit(127);
    ::prctl(PR_SET_NAME, comm);
    ::_exit(body(wr.get()));
  }
  ::setpgid(pid, pid);
  wr.reset();
  ::fcntl(rd.get(), F_SETFL, O_NONBLOCK);
  return Spawned{ChildProcess(pid, comm), std::move(rd)};
}

}  // namespace guardrail::demo
