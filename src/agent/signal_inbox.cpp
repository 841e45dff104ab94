#include "signal_inbox.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace guardrail::agent {
namespace {

constexpr int kRescanBit = 0;  // no signal has number 0
constexpr int kCheckBit = 31;  // above every signal the inbox handles (SIGINT, SIGTERM, SIGHUP)
constexpr int kReloadBit = 30;
constexpr int kSocketsBit = 29;
int g_fd = -1;
std::atomic<unsigned> g_pending{0};

}  // namespace

Result<SignalInbox> SignalInbox::install() {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) return fail_errno("create the signal eventfd", errno);
  g_fd = fd.get();
  struct sigaction sa {};
  sa.sa_handler = &SignalInbox::on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    if (::sigaction(sig, &sa, nullptr) != 0) return fail_errno("install a signal handler", errno);
  return SignalInbox(std::move(fd));
}

void SignalInbox::poke() { on_signal(kRescanBit); }
void SignalInbox::poke_check() { on_signal(kCheckBit); }
void SignalInbox::poke_reload() { on_signal(kReloadBit); }
void SignalInbox::poke_sockets() { on_signal(kSocketsBit); }

SignalInbox::Received SignalInbox::wait(int timeout_ms) {
  pollfd p{fd_.get(), POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) > 0) {
    std::uint64_t value = 0;
    [[maybe_unused]] auto n = ::read(fd_.get(), &value, sizeof value);
  }
  const unsigned bits = g_pending.exchange(0);
  Received r;
  r.reopen = bits & (1u << SIGHUP);
  r.rescan = bits & (1u << kRescanBit);
  r.check = bits & (1u << kCheckBit);
  r.reload = bits & (1u << kReloadBit);
  r.sockets = bits & (1u << kSocketsBit);
  r.stop_signal = (bits & (1u << SIGINT)) ? SIGINT : (bits & (1u << SIGTERM)) ? SIGTERM : 0;
  r.stop = r.stop_signal != 0;
  return r;
}

void SignalInbox::on_signal(int sig) {  // async-signal-safe: a lock-free atomic and write(2)
  g_pending.fetch_or(1u << sig);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(g_fd, &one, sizeof one);
}

}  // namespace guardrail::agent
