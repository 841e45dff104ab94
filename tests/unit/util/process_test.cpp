#include "guardrail/util/process.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "guardrail/util/unique_fd.hpp"

namespace guardrail {
namespace {

using namespace std::chrono_literals;

TEST(Process, TrueExitsZero) {
  auto child = spawn({"/bin/true"});
  ASSERT_TRUE(child) << child.error().message;
  auto status = child->wait_for(5s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->success());
  EXPECT_EQ(status->text(), "exit 0");
  EXPECT_FALSE(child->running());
}

TEST(Process, ExitCodeComesBack) {
  auto run = run_captured({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(run) << run.error().message;
  ASSERT_TRUE(run->status);
  EXPECT_TRUE(run->status->exited());
  EXPECT_EQ(run->status->exit_code(), 3);
  EXPECT_EQ(run->status->text(), "exit 3");
  EXPECT_FALSE(run->timed_out);
  EXPECT_EQ(run->output, "out\nerr\n");
}

TEST(Process, SearchPathFindsTheProgram) {
  auto run = run_captured({"sh", "-c", "exit 0"}, {.search_path = true});
  ASSERT_TRUE(run);
  ASSERT_TRUE(run->status);
  EXPECT_TRUE(run->status->success());
}

TEST(Process, ExecFailureIs127) {
  auto run = run_captured({"/nonexistent/program"});
  ASSERT_TRUE(run);
  ASSERT_TRUE(run->status);
  EXPECT_EQ(run->status->exit_code(), 127);
  EXPECT_EQ(run->output, "exec failed\n");
}

TEST(Process, TimeoutKillsTheChild) {
  const auto start = std::chrono::steady_clock::now();
  auto run = run_captured({"/bin/sleep", "30"}, {.timeout = 200ms});
  ASSERT_TRUE(run);
  EXPECT_TRUE(run->timed_out);
  EXPECT_FALSE(run->status);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(Process, WaitForTimesOutThenTerminateEndsIt) {
  auto child = spawn({"/bin/sleep", "30"});
  ASSERT_TRUE(child);
  EXPECT_FALSE(child->wait_for(50ms));
  EXPECT_TRUE(child->running());
  const ExitStatus status = child->terminate(2s);
  EXPECT_TRUE(status.signaled());
  EXPECT_EQ(status.signal(), SIGTERM);
  EXPECT_EQ(status.text(), "killed by signal 15");
  EXPECT_FALSE(child->running());
}

TEST(Process, TerminateFallsBackToKill) {
  // The shell says when its trap is in place (a fixed sleep is too short on a loaded machine).
  const std::string ready = "/tmp/gr-process-test-" + std::to_string(::getpid()) + ".ready";
  ::unlink(ready.c_str());
  auto child =
      spawn({"/bin/sh", "-c", "trap '' TERM; : > " + ready + "; while :; do sleep 0.05; done"});
  ASSERT_TRUE(child);
  for (int i = 0; i < 1000 && ::access(ready.c_str(), F_OK) != 0; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(::access(ready.c_str(), F_OK), 0) << "the shell never installed its trap";
  ::unlink(ready.c_str());
  const ExitStatus status = child->terminate(200ms);
  EXPECT_TRUE(status.signaled());
  EXPECT_EQ(status.signal(), SIGKILL);
}

TEST(Process, DestructionEndsAndReaps) {
  pid_t pid = -1;
  {
    auto child = spawn({"/bin/sleep", "30"});
    ASSERT_TRUE(child);
    pid = child->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);  // reaped: the pid is gone
}

TEST(Process, FunctionChildRunsPreExecThenBody) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  SpawnOptions options;
  options.pre_exec = [&] { return write_all(write_end.get(), "pre ") ? 0 : 1; };
  auto child = spawn_function(
      "writer", [&] { return write_all(write_end.get(), "body") ? 4 : 1; }, options);
  ASSERT_TRUE(child);
  write_end.reset();
  std::string got;
  char buf[64];
  ssize_t n;
  while ((n = ::read(read_end.get(), buf, sizeof buf)) > 0) got.append(buf, n);
  EXPECT_EQ(got, "pre body");
  EXPECT_EQ(child->wait().exit_code(), 4);
  EXPECT_EQ(child->label(), "writer");
}

TEST(Process, PreExecFailureIsTheExitCode) {
  SpawnOptions options;
  options.pre_exec = [] { return 42; };
  auto child = spawn({"/bin/true"}, options);
  ASSERT_TRUE(child);
  EXPECT_EQ(child->wait().exit_code(), 42);
}

TEST(Process, WriteAllThroughAPipe) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  const std::string data(200000, 'x');  // more than a pipe holds: short writes
  auto reader = spawn_function("reader", [&] {
    write_end.reset();
    size_t total = 0;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(read_end.get(), buf, sizeof buf)) > 0) total += n;
    return total == data.size() ? 0 : 1;
  });
  ASSERT_TRUE(reader);
  read_end.reset();
  EXPECT_TRUE(write_all(write_end.get(), data));
  write_end.reset();
  EXPECT_TRUE(reader->wait().success());
}

TEST(Process, WriteAllReportsTheErrno) {
  auto r = write_all(-1, "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::error_code(EBADF, std::generic_category()));
}

TEST(Process, StopSignalsSetTheFlag) {
  {
    StopSignals signals;
    EXPECT_FALSE(stop_requested());
    EXPECT_TRUE(sleep_unless_stopped(10ms));
    ::raise(SIGTERM);
    EXPECT_TRUE(stop_requested());
    EXPECT_FALSE(sleep_unless_stopped(10s));
  }
  StopSignals again;  // installing clears it
  EXPECT_FALSE(stop_requested());
}

}  // namespace
}  // namespace guardrail
