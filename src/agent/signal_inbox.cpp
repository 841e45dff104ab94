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

// The senders of each handled signal since the last wait(): a handler claims a slot and fills
// it (`who` last, as the mark that it is whole), wait() takes every filled slot. A handler that
// finds its slot still filled marks the signal in g_lost: the older sender is gone.
constexpr int kSlots = 16;
constexpr int kHandled[] = {SIGINT, SIGTERM, SIGHUP};
struct Slot {
  std::atomic<std::uint64_t> who{0};  // 1 << 63 | uid << 32 | pid
  std::atomic<int> code{0};
};
Slot g_slots[3][kSlots];
std::atomic<unsigned> g_next[3];
std::atomic<unsigned> g_lost{0};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

int handled_index(int sig) {
  for (int i = 0; i < 3; ++i)
    if (kHandled[i] == sig) return i;
  return -1;
}

}  // namespace

Result<SignalInbox> SignalInbox::install() {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) return fail_errno("create the signal eventfd", errno);
  g_fd = fd.get();
  struct sigaction sa {};
  sa.sa_sigaction = &SignalInbox::on_sent;  // SA_SIGINFO: who sent it, for the tamper judgement
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  for (int sig : kHandled)
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
  for (int i = 0; i < 3; ++i)
    for (Slot& slot : g_slots[i]) {
      const std::uint64_t who = slot.who.exchange(0);
      if (!who) continue;
      r.sent.push_back({.signal = kHandled[i],
                        .pid = static_cast<std::uint32_t>(who),
                        .uid = static_cast<std::uint32_t>(who >> 32) & 0x7fffffffu,
                        .code = slot.code.load()});
    }
  r.lost = g_lost.exchange(0);
  return r;
}

void SignalInbox::on_sent(int sig, siginfo_t* info, void*) {  // async-signal-safe: atomics only
  if (const int i = handled_index(sig); i >= 0 && info) {
    Slot& slot = g_slots[i][g_next[i].fetch_add(1) % kSlots];
    slot.code.store(info->si_code);
    const std::uint64_t who = (1ull << 63) | (std::uint64_t(info->si_uid & 0x7fffffffu) << 32) |
                              static_cast<std::uint32_t>(info->si_pid);
    if (slot.who.exchange(who)) g_lost.fetch_or(1u << sig);
  }
  on_signal(sig);
}

void SignalInbox::on_signal(int sig) {  // async-signal-safe: a lock-free atomic and write(2)
  g_pending.fetch_or(1u << sig);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(g_fd, &one, sizeof one);
}

}  // namespace guardrail::agent
