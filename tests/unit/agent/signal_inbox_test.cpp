// The signal inbox: SIGHUP and the pokes of other threads arrive as what the main loop does next.
#include "signal_inbox.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

namespace guardrail::agent {
namespace {

TEST(SignalInbox, SighupAndEachPokeSayWhatToDo) {
  auto inbox = SignalInbox::install();
  ASSERT_TRUE(inbox) << inbox.error().message;
  auto quiet = inbox->wait(0);
  EXPECT_FALSE(quiet.reopen || quiet.reload || quiet.rescan || quiet.check || quiet.stop);

  std::thread([] { SignalInbox::poke_reload(); }).join();  // the policy watch's thread
  auto r = inbox->wait(1000);
  EXPECT_TRUE(r.reload);
  EXPECT_FALSE(r.reopen || r.rescan || r.check || r.stop);

  ASSERT_EQ(::raise(SIGHUP), 0);  // reopen the alerts file and re-read the policy
  r = inbox->wait(1000);
  EXPECT_TRUE(r.reopen);
  EXPECT_FALSE(r.reload || r.stop);

  SignalInbox::poke();
  SignalInbox::poke_check();
  r = inbox->wait(1000);
  EXPECT_TRUE(r.rescan && r.check);
  EXPECT_FALSE(r.reload || r.reopen);
}

}  // namespace
}  // namespace guardrail::agent

namespace guardrail::agent {
namespace {

TEST(SignalInbox, EachSignalComesWithItsSender) {
  auto inbox = SignalInbox::install();
  ASSERT_TRUE(inbox) << inbox.error().message;
  inbox->wait(0);
  ASSERT_EQ(::raise(SIGHUP), 0);
  ASSERT_EQ(::raise(SIGHUP), 0);
  auto r = inbox->wait(1000);
  ASSERT_EQ(r.sent.size(), 2u);
  for (const auto& s : r.sent) {
    EXPECT_EQ(s.signal, SIGHUP);
    EXPECT_EQ(s.pid, static_cast<std::uint32_t>(::getpid()));
    EXPECT_EQ(s.uid, static_cast<std::uint32_t>(::getuid()));
    EXPECT_TRUE(s.from_process());  // raise(): SI_TKILL
  }
  EXPECT_EQ(r.lost, 0u);
  // More than the inbox keeps: the signal is marked as having lost senders.
  for (int i = 0; i < 20; ++i) ASSERT_EQ(::raise(SIGHUP), 0);
  r = inbox->wait(1000);
  EXPECT_EQ(r.sent.size(), 16u);
  EXPECT_TRUE(r.lost & (1u << SIGHUP));
  EXPECT_TRUE(inbox->wait(0).sent.empty());
}

}  // namespace
}  // namespace guardrail::agent
