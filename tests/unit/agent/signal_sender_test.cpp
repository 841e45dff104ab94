// Who sent the agent a stop or reload signal: a workload's is ignored, the operator's obeyed.
#include "signal_sender.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstring>
#include <map>

namespace guardrail::agent {
namespace {

constexpr std::uint64_t kNow = 100'000'000'000ull;

SignalInbox::Sent term_from(std::uint32_t pid, int code = 0 /* SI_USER */) {
  return {.signal = SIGTERM, .pid = pid, .uid = 0, .code = code};
}

gr_signal_sender record(std::uint32_t flags = 0, std::uint64_t age_ns = 1'000'000) {
  gr_signal_sender r{};
  r.ts_ns = kNow - age_ns;
  r.cgroup_id = 77;
  r.workload_id = GR_WORKLOAD_ID_BASE + 3;
  r.zone_id = 2;
  r.workload_flags = flags;
  r.tid = 4321;
  std::strcpy(r.comm, "sh");
  return r;
}

TEST(SignalSender, TheKernelsRecordNamesAWorkloadSender) {
  SenderSources s{.kernel_records = true, .record = record(), .now_ns = kNow};
  auto j = judge_sender(term_from(4321), s);
  EXPECT_EQ(j.kind, SenderKind::Workload);
  EXPECT_EQ(j.how, "kernel");
  EXPECT_EQ(j.workload_id, GR_WORKLOAD_ID_BASE + 3);
  EXPECT_EQ(j.zone_id, 2u);
  EXPECT_EQ(j.cgroup_id, 77u);
  EXPECT_EQ(j.comm, "sh");
  EXPECT_EQ(j.tid, 4321u);
  EXPECT_FALSE(j.killed);
}

TEST(SignalSender, NoKernelRecordIsTheOperatorWithoutLookingAtProc) {
  bool read_proc = false;
  SenderSources s{.kernel_records = true, .now_ns = kNow, .proc_cgroup = [&](std::uint32_t) {
                    read_proc = true;
                    return std::optional<std::string>("0::/workload\n");
                  }};
  auto j = judge_sender(term_from(99), s);
  EXPECT_EQ(j.kind, SenderKind::Operator);
  EXPECT_FALSE(read_proc);
}

TEST(SignalSender, AStaleOrFutureRecordIsAnotherSignals) {
  SenderSources s{
      .kernel_records = true, .record = record(0, kSignalRecordMaxAgeNs + 1), .now_ns = kNow};
  EXPECT_EQ(judge_sender(term_from(1), s).kind, SenderKind::Operator);
  s.record = record(0, 0);
  s.record->ts_ns = kNow + 5;
  EXPECT_EQ(judge_sender(term_from(1), s).kind, SenderKind::Operator);
}

TEST(SignalSender, AuditModeAndKillAreCarried) {
  SenderSources s{.kernel_records = true, .record = record(GR_WL_AUDIT), .now_ns = kNow};
  EXPECT_EQ(judge_sender(term_from(1), s).kind, SenderKind::AuditWorkload);
  s.record = record();
  s.record->killed = 1;
  EXPECT_TRUE(judge_sender(term_from(1), s).killed);
}

TEST(SignalSender, TheKernelsOwnSignalsAreNotJudged) {
  // A terminal hang-up: si_code SI_KERNEL (0x80), pid 0. Even a record does not change it.
  SenderSources s{.kernel_records = true, .record = record(), .now_ns = kNow};
  auto j = judge_sender(term_from(0, 0x80), s);
  EXPECT_EQ(j.kind, SenderKind::Operator);
  EXPECT_EQ(j.how, "kernel_signal");
}

// Without a kernel record: the sender's cgroup, by the programs' rule.
struct Tree {
  std::map<std::string, std::uint64_t> ids;
  std::map<std::uint64_t, gr_workload> entries;
  std::optional<OwnedBy> owner(const std::string& path) const {
    return workload_of_path(
        path,
        [&](const std::string& p) -> std::optional<std::uint64_t> {
          auto it = ids.find(p);
          if (it == ids.end()) return std::nullopt;
          return it->second;
        },
        [&](std::uint64_t id) -> const gr_workload* {
          auto it = entries.find(id);
          return it == entries.end() ? nullptr : &it->second;
        });
  }
};

Tree sample_tree() {
  Tree t;
  t.ids = {{"/", 1},
           {"/docker", 10},
           {"/docker/abc", 11},
           {"/docker/abc/sub", 12},
           {"/user.slice", 20},
           {"/gr/agents", 30},
           {"/gr/agents/a", 31}};
  t.entries[10] = {GR_WORKLOAD_ID_BASE, 1, GR_WL_PLACEHOLDER, 0};  // the runtime's parent
  t.entries[11] = {GR_WORKLOAD_ID_BASE + 1, 1, 0, 0};
  t.entries[31] = {GR_WORKLOAD_ID_BASE + 2, 2, GR_WL_AUDIT, 0};
  return t;
}

TEST(SignalSender, Cgroup2PathIsTheUnifiedLine) {
  EXPECT_EQ(cgroup2_path("12:pids:/x\n1:name=systemd:/y\n0::/docker/abc\n"), "/docker/abc");
  EXPECT_EQ(cgroup2_path("0::/\n"), "/");
  EXPECT_FALSE(cgroup2_path("3:cpu:/a\n"));
  EXPECT_FALSE(cgroup2_path(""));
}

TEST(SignalSender, WorkloadOfPathFollowsThePlaceholderRule) {
  const Tree t = sample_tree();
  auto own = t.owner("/docker/abc");
  ASSERT_TRUE(own);
  EXPECT_EQ(own->workload.workload_id, GR_WORKLOAD_ID_BASE + 1);
  EXPECT_EQ(own->cgroup_id, 11u);
  // A child of a workload is that workload's.
  own = t.owner("/docker/abc/sub");
  ASSERT_TRUE(own);
  EXPECT_EQ(own->workload.workload_id, GR_WORKLOAD_ID_BASE + 1);
  EXPECT_EQ(own->cgroup_id, 12u);
  // The placeholder's cgroup itself is no workload (dockerd lives there on some hosts).
  EXPECT_FALSE(t.owner("/docker"));
  EXPECT_FALSE(t.owner("/user.slice"));
  EXPECT_FALSE(t.owner("/"));
  EXPECT_FALSE(t.owner("/gone"));
}

TEST(SignalSender, WithoutAKernelRecordTheSendersCgroupDecides) {
  const Tree t = sample_tree();
  std::map<std::uint32_t, std::string> procs = {
      {100, "0::/docker/abc/sub\n"}, {200, "0::/user.slice\n"}, {300, "0::/gr/agents/a\n"}};
  SenderSources s{.proc_cgroup = [&](std::uint32_t pid) -> std::optional<std::string> {
                    auto it = procs.find(pid);
                    if (it == procs.end()) return std::nullopt;
                    return it->second;
                  },
                  .owner = [&](const std::string& p) { return t.owner(p); }};
  auto j = judge_sender(term_from(100), s);
  EXPECT_EQ(j.kind, SenderKind::Workload);
  EXPECT_EQ(j.how, "cgroup");
  EXPECT_EQ(j.workload_id, GR_WORKLOAD_ID_BASE + 1);
  EXPECT_EQ(j.cgroup_id, 12u);
  EXPECT_EQ(judge_sender(term_from(200), s).kind, SenderKind::Operator);
  EXPECT_EQ(judge_sender(term_from(300), s).kind, SenderKind::AuditWorkload);
  // Gone before the agent looked, or outside this PID namespace: the operator (documented).
  j = judge_sender(term_from(400), s);
  EXPECT_EQ(j.kind, SenderKind::Operator);
  EXPECT_EQ(j.how, "unknown_cgroup");
  EXPECT_EQ(judge_sender(term_from(0), s).how, "no_pid");
}

}  // namespace
}  // namespace guardrail::agent
