// TamperCheck: when the attachments are checked, and how a finding's window is measured.
#include "tamper_check.hpp"

#include <gtest/gtest.h>

namespace guardrail::agent {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

gr_host_event tamper(std::uint32_t cmd, std::uint64_t ts) {
  gr_host_event ev{};
  ev.hdr = {GR_EV_TAMPER, GR_EVENT_VERSION, sizeof ev, ts};
  ev.op = cmd;
  return ev;
}

std::vector<MissingProgram> connect4_missing() {
  return {{"/cg/a", "guard_connect4", 10, 101, true, ""}};
}

struct Fixture {
  int runs = 0;
  std::vector<MissingProgram> next;
  TamperCheck::Repair repair() {
    return [this] {
      ++runs;
      return std::exchange(next, {});
    };
  }
};

TEST(TamperCheck, PeriodicChecksRunOnSchedule) {
  TamperCheck check(1000 * kMs, 0);
  Fixture f;
  EXPECT_EQ(check.timeout_ms(0), 1000);
  EXPECT_FALSE(check.run(false, 500 * kMs, f.repair()).ran);
  EXPECT_TRUE(check.run(false, 1000 * kMs, f.repair()).ran);
  EXPECT_EQ(check.timeout_ms(1000 * kMs), 1000);
  EXPECT_EQ(f.runs, 1);
}

TEST(TamperCheck, WithoutAPeriodOnlyEventsTriggerIt) {
  TamperCheck check(0, 0);
  Fixture f;
  EXPECT_EQ(check.timeout_ms(0), -1);
  EXPECT_FALSE(check.run(false, 5000 * kMs, f.repair()).ran);
  EXPECT_TRUE(check.on_event(tamper(30, 1 * kMs)));  // link_get_fd_by_id: check once
  EXPECT_EQ(check.timeout_ms(0), 1);
  EXPECT_TRUE(check.run(false, 5000 * kMs, f.repair()).ran);
  EXPECT_EQ(check.timeout_ms(5000 * kMs), -1);  // nothing destructive: no burst
}

TEST(TamperCheck, ADetachEventMeasuresTheWindowFromTheEvent) {
  TamperCheck check(1000 * kMs, 0);
  Fixture f;
  ASSERT_TRUE(check.on_event(tamper(34, 100 * kMs)));  // link_detach at t=100 ms
  f.next = connect4_missing();
  auto out = check.run(false, 120 * kMs, f.repair(), [] { return 121 * kMs; });
  ASSERT_EQ(out.repairs.size(), 1u);
  EXPECT_EQ(out.repairs[0].detected_by, events::TamperSource::Event);
  EXPECT_EQ(out.repairs[0].cgroup, "/cg/a");
  EXPECT_DOUBLE_EQ(out.repairs[0].window_ms(), 21.0);
}

TEST(TamperCheck, ADetachNotYetDoneIsLookedForEveryMillisecondForAWhile) {
  TamperCheck check(0, 0);
  Fixture f;
  check.on_event(tamper(34, 100 * kMs));
  EXPECT_TRUE(check.run(false, 100 * kMs, f.repair()).repairs.empty());  // not detached yet
  EXPECT_EQ(check.timeout_ms(101 * kMs), 1);
  f.next = connect4_missing();
  auto out = check.run(false, 102 * kMs, f.repair(), [] { return 103 * kMs; });
  ASSERT_EQ(out.repairs.size(), 1u);
  EXPECT_EQ(out.repairs[0].detected_by, events::TamperSource::Event);
  EXPECT_EQ(check.timeout_ms(103 * kMs), -1);  // burst over
}

TEST(TamperCheck, ABurstThatFindsNothingEnds) {
  TamperCheck check(0, 0);
  Fixture f;
  check.on_event(tamper(34, 0));
  check.run(false, 0, f.repair());
  check.run(false, TamperCheck::kBurstNs + 1, f.repair());
  EXPECT_EQ(check.timeout_ms(TamperCheck::kBurstNs + 2), -1);
}

TEST(TamperCheck, APeriodicFindingIsBoundedByTheLastCleanCheck) {
  TamperCheck check(1000 * kMs, 0, 50 * kMs);
  Fixture f;
  check.run(false, 1000 * kMs, f.repair(), [] { return 1000 * kMs; });  // clean
  f.next = connect4_missing();
  // Re-attached at once, reported once no event explained it within the hold.
  auto out = check.run(false, 2000 * kMs, f.repair(), [] { return 2001 * kMs; });
  EXPECT_TRUE(out.repairs.empty());
  EXPECT_EQ(f.runs, 2);
  EXPECT_EQ(check.timeout_ms(2001 * kMs), 1);
  EXPECT_TRUE(check.run(false, 2030 * kMs, f.repair()).repairs.empty());
  out = check.run(false, 2050 * kMs, f.repair());
  ASSERT_EQ(out.repairs.size(), 1u);
  EXPECT_EQ(out.repairs[0].detected_by, events::TamperSource::PeriodicCheck);
  EXPECT_DOUBLE_EQ(out.repairs[0].window_ms(), 1001.0);
}

TEST(TamperCheck, AFindingWhoseEventIsStillInTheRingBufferIsCreditedToIt) {
  TamperCheck check(1000 * kMs, 0, 100 * kMs);
  Fixture f;
  f.next = connect4_missing();
  // The periodic check runs between the workload's detach (t=995 ms) and its event's arrival.
  EXPECT_TRUE(check.run(false, 1000 * kMs, f.repair(), [] { return 1001 * kMs; }).repairs.empty());
  check.on_event(tamper(34, 995 * kMs));
  auto out = check.run(false, 1010 * kMs, f.repair());
  ASSERT_EQ(out.repairs.size(), 1u);
  EXPECT_EQ(out.repairs[0].detected_by, events::TamperSource::Event);
  EXPECT_DOUBLE_EQ(out.repairs[0].window_ms(), 6.0);  // detach -> the re-attach at 1001 ms
  EXPECT_EQ(check.timeout_ms(1010 * kMs), 990);       // nothing held, no burst
}

TEST(TamperCheck, GroupsMissingProgramsByCgroup) {
  std::vector<MissingProgram> missing = {{"/a", "guard_connect4", 10, 1, true, ""},
                                         {"/b", "guard_connect4", 10, 1, true, ""},
                                         {"/a", "guard_egress", 1, 5, false, "x"}};
  auto out = group_by_cgroup(missing, events::TamperSource::Event, 5, 9);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].cgroup, "/a");
  EXPECT_EQ(out[0].missing.size(), 2u);
  EXPECT_FALSE(out[0].restored());
  EXPECT_TRUE(out[1].restored());
}

TEST(TamperCheck, OtherEventKindsAreIgnored) {
  TamperCheck check(0, 0);
  auto ev = tamper(34, 1);
  ev.hdr.type = GR_EV_BPF;
  EXPECT_FALSE(check.on_event(ev));
  EXPECT_EQ(check.timeout_ms(0), -1);
}

TEST(TamperCheck, SignalsAndPtraceOnTheAgentTakeNoProgramAway) {
  TamperCheck check(0, 0);
  for (std::uint8_t what : {GR_TAMPER_SIGNAL, GR_TAMPER_PTRACE}) {
    auto ev = tamper(9, 1);  // op 9: SIGKILL, not prog_detach
    ev.tamper = what;
    EXPECT_FALSE(check.on_event(ev));
  }
  EXPECT_EQ(check.timeout_ms(0), -1);
  EXPECT_TRUE(check.on_event(tamper(9, 1)));  // tamper 0: bpf, prog_detach
}

}  // namespace
}  // namespace guardrail::agent
