// SIGINT, SIGTERM and SIGHUP, turned into a readable fd. A handler rather than a blocked-signal
// wait: library threads (civetweb's, behind /metrics) reset their signal masks, so a
// process-directed signal may land on any thread.
#pragma once

#include <signal.h>

#include <cstdint>
#include <vector>

#include "guardrail/util/result.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail::agent {

class SignalInbox {
 public:
  // One SIGINT, SIGTERM or SIGHUP and who sent it (siginfo: si_pid, si_uid, si_code; pid 0
  // for the kernel or a sender outside this PID namespace).
  struct Sent {
    int signal = 0;
    std::uint32_t pid = 0;
    std::uint32_t uid = 0;
    int code = 0;  // si_code: <= 0 a process sent it (SI_USER, SI_QUEUE, SI_TKILL), > 0 the kernel
    bool from_process() const { return code <= 0; }
  };

  struct Received {
    bool stop = false;    // SIGINT or SIGTERM
    bool reopen = false;  // SIGHUP
    bool rescan = false;  // poke(): something changed, scan now
    bool check = false;   // poke_check(): a tamper event, check the attachments now
    bool reload = false;  // poke_reload(): the policy file changed, re-read it
    bool sockets = false;  // poke_sockets(): a followed unix socket path changed
    int stop_signal = 0;
    // Every SIGINT, SIGTERM and SIGHUP since the last wait(), with its sender, in no particular
    // order. `lost` names a signal (bit n: signal n) that arrived more often than the inbox
    // keeps senders for (16 per signal between two waits): some of its senders are unknown.
    std::vector<Sent> sent;
    unsigned lost = 0;
  };

  static Result<SignalInbox> install();
  // Wakes wait() from any thread, asking for a re-scan.
  static void poke();
  // Wakes wait() from any thread, asking for a tamper check.
  static void poke_check();
  // Wakes wait() from any thread, asking for a policy reload.
  static void poke_reload();
  // Wakes wait() from any thread: a runtime or allowed unix socket path changed, re-resolve it.
  static void poke_sockets();
  // What arrived within timeout_ms (nothing when the time passed quietly).
  Received wait(int timeout_ms);

 private:
  explicit SignalInbox(UniqueFd fd) : fd_(std::move(fd)) {}
  static void on_signal(int sig);
  static void on_sent(int sig, siginfo_t* info, void* context);
  UniqueFd fd_;
};

}  // namespace guardrail::agent
