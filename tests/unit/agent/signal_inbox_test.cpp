// The signal inbox: SIGHUP and the pokes of other threads arrive as what the main loop does next.
#include "signal_inbox.hpp"

#include <gtest/gtest.h>
#include <signal.h>

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
