// Child processes: spawn one (fork, a few standard steps, then exec or a function), wait for it
// with a timeout, end and reap it through an RAII handle; write_all for fds; and the
// stop-requested flag that SIGINT/SIGTERM set while a StopSignals is installed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guardrail/util/result.hpp"

namespace guardrail {

// How a child ended: waitpid's status, decoded.
class ExitStatus {
 public:
  explicit ExitStatus(int wait_status) : raw_(wait_status) {}
  bool exited() const;
  int exit_code() const;  // when exited()
  bool signaled() const;
  int signal() const;  // when signaled()
  bool success() const { return exited() && exit_code() == 0; }
  int raw() const { return raw_; }
  // `exit N`, `killed by signal N`, otherwise `status N`.
  std::string text() const;

 private:
  int raw_;
};

// A process this program started. Destruction ends it (SIGTERM, up to kEndGrace, then SIGKILL)
// and reaps it; a pid that was reaped is never signalled again.
class Child {
 public:
  static constexpr std::chrono::milliseconds kEndGrace{1000};

  Child() = default;
  Child(pid_t pid, std::string label) : pid_(pid), label_(std::move(label)) {}
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { terminate(kEndGrace); }

  pid_t pid() const { return pid_; }
  const std::string& label() const { return label_; }
  bool running();  // not yet exited (reaps it if it has)
  // How it ended, once reaped; nullopt while running (or when nothing was started).
  std::optional<ExitStatus> status() const {
    return reaped_ ? std::optional<ExitStatus>(status_) : std::nullopt;
  }
  // Waits up to timeout for it to exit on its own; how it ended, nullopt if it still runs.
  std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);
  // Waits as long as it takes; how it ended.
  ExitStatus wait();
  // SIGTERM, up to `grace` to exit, then SIGKILL; how it ended.
  ExitStatus terminate(std::chrono::milliseconds grace);
  // SIGKILL now (unless it already exited); how it ended.
  ExitStatus kill();

 private:
  void reap_blocking();

  pid_t pid_ = -1;
  std::string label_;
  bool reaped_ = false;
  ExitStatus status_{0};
};

// What the child does after fork, in this order, before the exec or the function: its own
// process group (also set by the parent, so there is no race), the parent-death signal (and exit
// 125 when the parent is already gone), SIGINT and SIGTERM back to their defaults, stdin from
// /dev/null, the redirections, then pre_exec.
struct SpawnOptions {
  // A Ctrl-C at the terminal then reaches the parent only, which ends its children in order.
  bool own_process_group = false;
  int parent_death_signal = 0;  // sent by the kernel when the parent dies; 0: none
  int stdout_fd = -1;           // dup'd onto stdout; -1: inherited
  int stderr_fd = -1;           // dup'd onto stderr; -1: inherited
  bool search_path = false;     // exec looks argv[0] up in PATH
  // E.g. joining a cgroup or a network namespace; a non-zero return is the child's exit code.
  std::function<int()> pre_exec;
};

// Forks a child that execs argv. If the exec fails it writes `exec failed` to its stderr and
// exits 127.
Result<Child> spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// Forks a child that runs body (no exec) and exits with its return value. label names it.
Result<Child> spawn_function(std::string label, const std::function<int()>& body,
                             const SpawnOptions& options = {});

struct CapturedRun {
  std::optional<ExitStatus> status;  // nullopt: did not finish within the timeout (killed)
  bool timed_out = false;
  std::string output;  // stdout and stderr, interleaved, as written
};

struct RunOptions {
  bool search_path = false;
  std::optional<std::chrono::milliseconds> timeout;  // then SIGKILL; none: as long as it takes
};

// Runs argv with stdin /dev/null and stdout and stderr captured, until it exits.
Result<CapturedRun> run_captured(const std::vector<std::string>& argv,
                                 const RunOptions& options = {});

// Writes all of data to fd, across short writes and EINTR.
Result<void> write_all(int fd, const void* data, size_t size);
inline Result<void> write_all(int fd, std::string_view data) {
  return write_all(fd, data.data(), data.size());
}

// True once SIGINT or SIGTERM arrived while a StopSignals was installed.
bool stop_requested();

// Installs SIGINT/SIGTERM handlers that only set the stop flag (clearing it first); restores
// the previous handlers when destroyed.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
};

// Sleeps in short slices; false if a stop was requested meanwhile.
bool sleep_unless_stopped(std::chrono::milliseconds duration);

}  // namespace guardrail
