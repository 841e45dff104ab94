#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "guardrail/pipeline/dedup.hpp"
#include "guardrail/pipeline/process_info.hpp"
#include "guardrail/pipeline/rate_limiter.hpp"

namespace guardrail::pipeline {
namespace {

using namespace std::chrono_literals;
constexpr std::uint64_t kSecond = 1'000'000'000;

gr_net_event event(std::uint32_t workload, std::uint16_t dport, std::uint64_t ts = 0,
                   std::uint8_t last_octet = 4) {
  gr_net_event ev{};
  ev.hdr = {GR_EV_NET_CONNECT, GR_EVENT_VERSION, sizeof ev, ts};
  ev.workload_id = workload;
  ev.direction = GR_DIR_EGRESS;
  ev.protocol = GR_PROTO_TCP;
  ev.family = 2;
  ev.daddr[15] = last_octet;
  ev.dport = dport;
  return ev;
}

TEST(PipelineDedup, FirstLeavesAtOnceRepeatsLeaveAsOneAlertWhenTheWindowCloses) {
  Deduplicator d(2s);
  auto first = d.offer(PendingAlert::of(event(1, 80, 10)), 0);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->count, 1u);
  for (std::uint64_t i = 1; i <= 4; i++)
    EXPECT_FALSE(d.offer(PendingAlert::of(event(1, 80, 10 + i)), i * kSecond / 10));
  EXPECT_TRUE(d.expire(kSecond).empty());
  auto closed = d.expire(2 * kSecond);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].count, 4u);
  EXPECT_EQ(closed[0].first_ns, 11u);
  EXPECT_EQ(closed[0].last_ns, 14u);
  EXPECT_EQ(d.open_windows(), 0u);
  // After the window a new occurrence is a first occurrence again.
  EXPECT_TRUE(d.offer(PendingAlert::of(event(1, 80)), 3 * kSecond));
}

TEST(PipelineDedup, DifferentTargetsWorkloadsAndKindsAreNotMerged) {
  Deduplicator d(10s);
  EXPECT_TRUE(d.offer(PendingAlert::of(event(1, 80)), 0));
  EXPECT_TRUE(d.offer(PendingAlert::of(event(1, 81)), 0));
  EXPECT_TRUE(d.offer(PendingAlert::of(event(2, 80)), 0));
  EXPECT_TRUE(d.offer(PendingAlert::of(event(1, 80, 0, 5)), 0));
  auto send = event(1, 80);
  send.hdr.type = GR_EV_NET_SEND;
  EXPECT_TRUE(d.offer(PendingAlert::of(send), 0));
  EXPECT_FALSE(d.offer(PendingAlert::of(event(1, 80)), 1));
}

TEST(PipelineDedup, IngressIsKeyedByTheSender) {
  Deduplicator d(10s);
  auto a = event(1, 9999);
  a.direction = GR_DIR_INGRESS;
  a.saddr[15] = 3;
  auto b = a;
  b.saddr[15] = 4;
  EXPECT_TRUE(d.offer(PendingAlert::of(a), 0));
  EXPECT_TRUE(d.offer(PendingAlert::of(b), 0));
  EXPECT_FALSE(d.offer(PendingAlert::of(a), 0));
}

TEST(PipelineDedup, ZeroWindowPassesEverything) {
  Deduplicator d(0s);
  for (int i = 0; i < 3; i++) EXPECT_TRUE(d.offer(PendingAlert::of(event(1, 80)), 0));
  EXPECT_TRUE(d.flush().empty());
}

TEST(PipelineDedup, FlushReturnsOpenRepeats) {
  Deduplicator d(10s);
  d.offer(PendingAlert::of(event(1, 80)), 0);
  d.offer(PendingAlert::of(event(1, 80)), 1);
  d.offer(PendingAlert::of(event(1, 80)), 2);
  d.offer(PendingAlert::of(event(2, 80)), 3);
  auto open = d.flush();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].count, 2u);
}

TEST(PipelineRateLimit, BurstThenRefillAtTheRate) {
  RateLimiter r(2, 3);  // 2/s, burst 3
  EXPECT_TRUE(r.allow(1, 0));
  EXPECT_TRUE(r.allow(1, 0));
  EXPECT_TRUE(r.allow(1, 0));
  EXPECT_FALSE(r.allow(1, 0));
  EXPECT_TRUE(r.allow(2, 0)) << "workloads have buckets of their own";
  EXPECT_FALSE(r.allow(1, kSecond / 4));  // half a token
  EXPECT_TRUE(r.allow(1, kSecond / 2));   // one token
  EXPECT_FALSE(r.allow(1, kSecond / 2));
  EXPECT_TRUE(r.allow(1, 10 * kSecond));
  EXPECT_TRUE(r.allow(1, 10 * kSecond));
  EXPECT_TRUE(r.allow(1, 10 * kSecond));
  EXPECT_FALSE(r.allow(1, 10 * kSecond)) << "refill stops at the burst";
}

TEST(PipelineRateLimit, ZeroRateIsUnlimited) {
  RateLimiter r(0, 1);
  for (int i = 0; i < 1000; i++) ASSERT_TRUE(r.allow(1, 0));
}

TEST(PipelineRateLimit, ForgetsIdleWorkloads) {
  RateLimiter r(1, 1);
  r.allow(1, 0);
  r.allow(2, 0);
  EXPECT_EQ(r.tracked(), 2u);
  r.allow(3, 120 * kSecond);
  EXPECT_EQ(r.tracked(), 1u);
}

TEST(PipelineProcess, ParsesThePpidPastACommWithParentheses) {
  EXPECT_EQ(parse_ppid("1234 (a) b (c)) S 77 1234 1234 0 -1"), 77);
  EXPECT_EQ(parse_ppid("garbage"), 0);
}

TEST(PipelineProcess, ReadsThisProcess) {
  ProcessInfoCache cache;
  auto info = cache.lookup(::getpid(), 0);
  EXPECT_NE(info.exe.find("guardrail_pipeline_tests"), std::string::npos) << info.exe;
  EXPECT_EQ(info.ppid, ::getppid());
  EXPECT_TRUE(cache.lookup(0, 0).exe.empty());
}

}  // namespace
}  // namespace guardrail::pipeline

namespace guardrail::pipeline {
namespace {

gr_host_event capability_event(std::uint32_t workload, int cap) {
  gr_host_event ev{};
  ev.hdr = {GR_EV_CAPABILITY, GR_EVENT_VERSION, sizeof ev, 0};
  ev.workload_id = workload;
  ev.capability = cap;
  return ev;
}

TEST(PipelineDedup, HostEventsAreKeyedByWhatTheyAreAbout) {
  Deduplicator d(std::chrono::seconds(10));
  EXPECT_TRUE(d.offer(PendingAlert::of(capability_event(1, 13)), 0));
  EXPECT_TRUE(d.offer(PendingAlert::of(capability_event(1, 12)), 0));
  EXPECT_TRUE(d.offer(PendingAlert::of(capability_event(2, 13)), 0));
  EXPECT_FALSE(d.offer(PendingAlert::of(capability_event(1, 13)), 1));
  auto mount = capability_event(1, 0);
  mount.hdr.type = GR_EV_MOUNT;
  std::strcpy(mount.path, "/a");
  EXPECT_TRUE(d.offer(PendingAlert::of(mount), 0));
  std::strcpy(mount.path, "/b");
  EXPECT_TRUE(d.offer(PendingAlert::of(mount), 0));
}

}  // namespace
}  // namespace guardrail::pipeline
