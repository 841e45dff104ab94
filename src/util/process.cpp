// fork + exec (or a function), waiting with a timeout, the RAII child handle, the stop flag.
#include "guardrail/util/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <thread>
#include <utility>

#include "guardrail/util/unique_fd.hpp"

namespace guardrail {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }
struct sigaction g_old_int {};
struct sigaction g_old_term {};

// In the child, after fork: the steps SpawnOptions lists. 0, or the exit code to leave with.
int prepare_child(const SpawnOptions& o, pid_t parent) {
  if (o.own_process_group) ::setpgid(0, 0);
  if (o.parent_death_signal != 0) {
    ::prctl(PR_SET_PDEATHSIG, o.parent_death_signal);
    if (::getppid() != parent) return 125;
  }
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  const int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  if (o.stdout_fd >= 0) ::dup2(o.stdout_fd, 1);
  if (o.stderr_fd >= 0) ::dup2(o.stderr_fd, 2);
  return o.pre_exec ? o.pre_exec() : 0;
}

// Forks; the child runs prepare_child and then body, and never returns.
Result<Child> fork_child(std::string label, const SpawnOptions& options,
                         const std::function<int()>& body) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return fail_errno("fork", errno);
  if (pid == 0) {
    const int setup = prepare_child(options, parent);
    ::_exit(setup != 0 ? setup : body());
  }
  if (options.own_process_group) ::setpgid(pid, pid);
  return Child(pid, std::move(label));
}

long millis_left(steady_clock::time_point deadline) {
  return std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
}

// Reads fd until EOF or the deadline (none: until EOF); false at the deadline.
bool read_until_eof(int fd, std::optional<steady_clock::time_point> deadline, std::string& out) {
  char buf[4096];
  for (;;) {
    int wait_ms = -1;
    if (deadline) {
      const long left = millis_left(*deadline);
      if (left <= 0) return false;
      wait_ms = static_cast<int>(std::min<long>(left, 100));
    }
    pollfd pfd{fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, wait_ms);
    if (ready < 0 && errno != EINTR) return true;
    if (ready <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

bool ExitStatus::exited() const { return WIFEXITED(raw_); }
int ExitStatus::exit_code() const { return WEXITSTATUS(raw_); }
bool ExitStatus::signaled() const { return WIFSIGNALED(raw_); }
int ExitStatus::signal() const { return WTERMSIG(raw_); }

std::string ExitStatus::text() const {
  if (exited()) return "exit " + std::to_string(exit_code());
  if (signaled()) return "killed by signal " + std::to_string(signal());
  return "status " + std::to_string(raw_);
}

// ---- Child ----------------------------------------------------------------------------------

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      label_(std::move(other.label_)),
      reaped_(other.reaped_),
      status_(other.status_) {}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    terminate(kEndGrace);
    pid_ = std::exchange(other.pid_, -1);
    label_ = std::move(other.label_);
    reaped_ = other.reaped_;
    status_ = other.status_;
  }
  return *this;
}

bool Child::running() {
  if (pid_ < 0 || reaped_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    reaped_ = true;
    status_ = ExitStatus(status);
    return false;
  }
  return true;
}

std::optional<ExitStatus> Child::wait_for(milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (running()) {
    if (steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return status();
}

void Child::reap_blocking() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  status_ = ExitStatus(status);
  reaped_ = true;
}

ExitStatus Child::wait() {
  if (running()) reap_blocking();
  return status_;
}

ExitStatus Child::terminate(milliseconds grace) {
  if (running()) {
    ::kill(pid_, SIGTERM);
    if (!wait_for(grace)) kill();
  }
  return status_;
}

ExitStatus Child::kill() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    reap_blocking();
  }
  return status_;
}

// ---- spawning -------------------------------------------------------------------------------

Result<Child> spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return fail("spawn: no program given");
  // Built before fork: the child only execs.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return fork_child(argv[0], options, [&] {
    if (options.search_path)
      ::execvp(args[0], args.data());
    else
      ::execv(args[0], args.data());
    constexpr std::string_view kMessage = "exec failed\n";
    [[maybe_unused]] auto n = ::write(2, kMessage.data(), kMessage.size());
    return 127;
  });
}

Result<Child> spawn_function(std::string label, const std::function<int()>& body,
                             const SpawnOptions& options) {
  return fork_child(std::move(label), options, body);
}

Result<CapturedRun> run_captured(const std::vector<std::string>& argv, const RunOptions& options) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail_errno("pipe", errno);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  SpawnOptions spawn_options;
  spawn_options.stdout_fd = spawn_options.stderr_fd = write_end.get();
  spawn_options.search_path = options.search_path;
  std::optional<steady_clock::time_point> deadline;
  if (options.timeout) deadline = steady_clock::now() + *options.timeout;
  auto child = spawn(argv, spawn_options);
  if (!child) return propagate(child);
  write_end.reset();  // EOF once the child (and what it started) closed its copies
  CapturedRun run;
  const bool finished = read_until_eof(read_end.get(), deadline, run.output);
  if (finished && deadline)
    run.status = child->wait_for(milliseconds(std::max(0L, millis_left(*deadline))));
  else if (finished)
    run.status = child->wait();
  if (!run.status) {
    run.timed_out = true;
    child->kill();
  }
  return run;
}

Result<void> write_all(int fd, const void* data, size_t size) {
  auto p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("write", errno);
    if (n == 0) return fail_errno("write", EIO);
    p += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

// ---- the stop flag --------------------------------------------------------------------------

bool stop_requested() { return g_stop != 0; }

StopSignals::StopSignals() {
  g_stop = 0;
  struct sigaction sa {};
  sa.sa_handler = &on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &g_old_int);
  ::sigaction(SIGTERM, &sa, &g_old_term);
}

StopSignals::~StopSignals() {
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
}

bool sleep_unless_stopped(milliseconds duration) {
  const auto deadline = steady_clock::now() + duration;
  while (!stop_requested()) {
    const long left = millis_left(deadline);
    if (left <= 0) return true;
    std::this_thread::sleep_for(milliseconds(std::min<long>(left, 20)));
  }
  return false;
}

}  // namespace guardrail
