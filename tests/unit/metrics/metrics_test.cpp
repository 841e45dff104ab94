#include "guardrail/metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "guardrail/metrics/violation_counters.hpp"

namespace guardrail {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST(Metrics, CountsViolationsByKindVerdictAndZone) {
  Metrics m;
  m.count_violation("net_connect", "blocked", "agent-sandbox");
  m.count_violation("net_connect", "blocked", "agent-sandbox");
  m.count_violation("east_west_bypass", "audited", "agent-sandbox");
  const auto text = m.scrape();
  EXPECT_TRUE(has_line(
      text,
      R"(guardrail_violations_total{kind="net_connect",verdict="blocked",zone="agent-sandbox"} 2)"))
      << text;
  EXPECT_TRUE(has_line(
      text,
      R"(guardrail_violations_total{kind="east_west_bypass",verdict="audited",zone="agent-sandbox"} 1)"))
      << text;
}

TEST(Metrics, TamperChecksRepairsAndTheirWindow) {
  Metrics m;
  auto text = m.scrape();
  // Present from the start, so a rule can tell "never tampered" from "not exported".
  EXPECT_TRUE(has_line(text, R"(guardrail_tamper_total{detected_by="event"} 0)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_tamper_total{detected_by="periodic_check"} 0)"));
  EXPECT_TRUE(has_line(text, R"(guardrail_reattach_total{result="ok"} 0)"));
  m.set_guard_interruptible("network", true);
  m.count_tamper_check();
  m.count_tamper_check();
  m.count_tamper_repair("event", 0.02, 1, 0);
  m.count_tamper_repair("periodic_check", 0.7, 2, 1);
  text = m.scrape();
  EXPECT_TRUE(has_line(text, R"(guardrail_guard_interruptible{guard="network"} 1)")) << text;
  EXPECT_TRUE(has_line(text, "guardrail_tamper_checks_total 2")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_tamper_total{detected_by="event"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_reattach_total{result="ok"} 3)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_reattach_total{result="failed"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_tamper_window_seconds_count{detected_by="event"} 1)"))
      << text;
  EXPECT_TRUE(
      has_line(text, R"(guardrail_tamper_window_seconds_bucket{detected_by="event",le="0.025"} 1)"))
      << text;
  EXPECT_TRUE(has_line(text, "guardrail_tamper_last_window_seconds 0.7")) << text;
}

TEST(Metrics, ExportsPolicyBackendsBuildAndKernelCounters) {
  Metrics m;
  m.set_policy_rules(7);
  m.set_guard_backends({{Guard::Network, Backend::CgroupSockAddrSkb, "prevention"}});
  std::uint64_t lost = 3;
  m.export_kernel({.events_submitted = [] { return std::uint64_t{10}; },
                   .events_lost = [&] { return lost; },
                   .ringbuf_unread_bytes = [] { return std::uint64_t{128}; },
                   .ringbuf_size_bytes = 4096,
                   .program_stats =
                       [] {
                         return std::vector<ProgramStats>{{"guard_egress", 7, 2'000'000'000}};
                       }});
  lost = 5;  // read at scrape time, not when registered
  m.count_lost(LossStage::Queue, 2);
  const auto text = m.scrape();
  EXPECT_TRUE(has_line(text, "guardrail_policy_rules 7")) << text;
  EXPECT_TRUE(has_line(
      text, R"(guardrail_guard_backend{backend="cgroup_sock_addr+cgroup_skb",guard="network"} 1)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_events_lost_total{stage="ringbuf"} 5)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_events_lost_total{stage="queue"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_events_lost_total{stage="webhook"} 0)")) << text;
  EXPECT_TRUE(has_line(text, "guardrail_ringbuf_unread_bytes 128")) << text;
  EXPECT_TRUE(has_line(text, "guardrail_ringbuf_size_bytes 4096")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_bpf_prog_runs_total{program="guard_egress"} 7)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_bpf_prog_run_seconds_total{program="guard_egress"} 2)"))
      << text;
  EXPECT_TRUE(has_line(text, "guardrail_events_total 10")) << text;
  EXPECT_TRUE(
      has_line(text, std::string("guardrail_build_info{version=\"") + GUARDRAIL_VERSION + "\"} 1"))
      << text;
}

TEST(Metrics, CountsDeliveriesSuppressionsAndDedup) {
  Metrics m;
  m.count_delivered("jsonl", 4);
  m.count_delivered("webhook", 6, 2);
  m.count_suppressed("rate_limit", "net_connect", 3);
  m.count_suppressed("rate_limit", "mount", 1);
  m.count_targets_overflow("net_send");
  m.count_deduplicated(4);
  m.observe_latency(0.002);
  m.set_policy_generation(3);
  const auto text = m.scrape();
  EXPECT_TRUE(has_line(text, R"(guardrail_events_delivered_total{sink="jsonl"} 4)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_alerts_total{sink="jsonl"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_events_delivered_total{sink="webhook"} 6)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_alerts_total{sink="webhook"} 2)")) << text;
  EXPECT_TRUE(has_line(
      text, R"(guardrail_events_suppressed_total{kind="net_connect",reason="rate_limit"} 3)"))
      << text;
  EXPECT_TRUE(
      has_line(text, R"(guardrail_events_suppressed_total{kind="mount",reason="rate_limit"} 1)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_alert_targets_overflow_total{kind="net_send"} 1)"))
      << text;
  // Every kind starts at 0, so that increase() sees the first suppression.
  EXPECT_TRUE(
      has_line(text, R"(guardrail_events_suppressed_total{kind="bpf",reason="rate_limit"} 0)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_alert_targets_overflow_total{kind="capability"} 0)"))
      << text;
  EXPECT_TRUE(has_line(text, "guardrail_events_deduplicated_total 4")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_event_latency_seconds_bucket{le="0.005"} 1)")) << text;
  EXPECT_TRUE(has_line(text, "guardrail_policy_generation 3")) << text;
}

TEST(Metrics, ServeFailsWithTheAddressAndTheFix) {
  Metrics m;
  auto r = m.serve("203.0.113.1:1");  // not an address of this machine
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("203.0.113.1:1"), std::string::npos);
  EXPECT_NE(r.error().message.find("--metrics-address"), std::string::npos);
}

// Every one of `lines` is in `text`.
void expect_lines(const std::string& text, std::initializer_list<const char*> lines) {
  for (const char* line : lines) EXPECT_TRUE(has_line(text, line)) << line << "\n" << text;
}

TEST(ViolationCounters, CountsUnderTheSameSeriesAsCountViolationAndNamesTheZoneOnce) {
  Metrics m;
  ViolationCounters counters(m);
  int named = 0;
  auto zone = [&] {
    named++;
    return std::string("agent-sandbox");
  };
  for (int i = 0; i < 3; i++) counters.count(GR_EV_NET_CONNECT, GR_VERDICT_BLOCKED, 7, 1, zone);
  m.count_violation("net_connect", "blocked", "agent-sandbox");
  counters.count(GR_EV_NET_CONNECT, GR_VERDICT_AUDITED, 7, 1, zone);
  EXPECT_EQ(named, 2);  // once per (kind, verdict, zone)
  EXPECT_EQ(counters.cached(), 2u);
  expect_lines(
      m.scrape(),
      {R"(guardrail_violations_total{kind="net_connect",verdict="blocked",zone="agent-sandbox"} 4)",
       R"(guardrail_violations_total{kind="net_connect",verdict="audited",zone="agent-sandbox"} 1)"});
}

TEST(ViolationCounters, AZoneRenamedAtASwapCountsUnderItsNewName) {
  Metrics m;
  ViolationCounters counters(m);
  std::string name = "payments";
  auto zone = [&] { return name; };
  counters.count(GR_EV_NET_CONNECT, GR_VERDICT_BLOCKED, 3, 1, zone);
  counters.count(GR_EV_NET_CONNECT, GR_VERDICT_BLOCKED, 3, 1, zone);
  // The swap: zone id 3 is now called "billing", in the name table's next generation.
  name = "billing";
  counters.count(GR_EV_NET_CONNECT, GR_VERDICT_BLOCKED, 3, 2, zone);
  // Another zone of the same kind and verdict is its own series.
  name = "frontend";
  counters.count(GR_EV_NET_CONNECT, GR_VERDICT_BLOCKED, 4, 2, zone);
  expect_lines(
      m.scrape(),
      {R"(guardrail_violations_total{kind="net_connect",verdict="blocked",zone="payments"} 2)",
       R"(guardrail_violations_total{kind="net_connect",verdict="blocked",zone="billing"} 1)",
       R"(guardrail_violations_total{kind="net_connect",verdict="blocked",zone="frontend"} 1)"});
}

TEST(Metrics, SuppressedCountsOfAnyReasonAndKindFindTheirSeries) {
  Metrics m;
  m.count_suppressed("rate_limit", "net_connect", 2);
  m.count_suppressed("rate_limit", "net_connect", 3);
  m.count_suppressed("other", "net_connect", 1);        // not made at construction
  m.count_suppressed("rate_limit", "no_such_kind", 4);  // neither
  m.count_targets_overflow("net_connect");
  m.count_targets_overflow("no_such_kind");
  expect_lines(m.scrape(),
               {R"(guardrail_events_suppressed_total{kind="net_connect",reason="rate_limit"} 5)",
                R"(guardrail_events_suppressed_total{kind="net_connect",reason="other"} 1)",
                R"(guardrail_events_suppressed_total{kind="no_such_kind",reason="rate_limit"} 4)",
                R"(guardrail_alert_targets_overflow_total{kind="net_connect"} 1)",
                R"(guardrail_alert_targets_overflow_total{kind="no_such_kind"} 1)"});
}

}  // namespace
}  // namespace guardrail
