#include "guardrail/metrics/violation_counters.hpp"

#include <gtest/gtest.h>

#include <string>

namespace guardrail {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
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
  const auto text = m.scrape();
  EXPECT_TRUE(has_line(
      text,
      R"(guardrail_violations_total{kind="net_connect",verdict="blocked",zone="agent-sandbox"} 4)"))
      << text;
  EXPECT_TRUE(has_line(
      text,
      R"(guardrail_violations_total{kind="net_connect",verdict="audited",zone="agent-sandbox"} 1)"))
      << text;
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
  const auto text = m.scrape();
  EXPECT_TRUE(has_line(
      text,
      R"(guardrail_violations_total{kind="net_connect",verdict="blocked",zone="payments"} 2)"))
      << text;
  EXPECT_TRUE(has_line(
      text, R"(guardrail_violations_total{kind="net_connect",verdict="blocked",zone="billing"} 1)"))
      << text;
  EXPECT_TRUE(has_line(
      text,
      R"(guardrail_violations_total{kind="net_connect",verdict="blocked",zone="frontend"} 1)"))
      << text;
}

TEST(Metrics, DeliveredCountsGoToTheSinksSeries) {
  Metrics m;
  m.count_delivered("jsonl", 3);
  m.count_delivered("jsonl", 0, 1);
  m.count_delivered("webhook", 5, 2);
  const auto text = m.scrape();
  EXPECT_TRUE(has_line(text, R"(guardrail_events_delivered_total{sink="jsonl"} 3)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_alerts_total{sink="jsonl"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_events_delivered_total{sink="webhook"} 5)")) << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_alerts_total{sink="webhook"} 2)")) << text;
}

TEST(Metrics, SuppressedCountsOfAnyReasonAndKindFindTheirSeries) {
  Metrics m;
  m.count_suppressed("rate_limit", "net_connect", 2);
  m.count_suppressed("rate_limit", "net_connect", 3);
  m.count_suppressed("other", "net_connect", 1);        // not made at construction
  m.count_suppressed("rate_limit", "no_such_kind", 4);  // neither
  m.count_targets_overflow("net_connect");
  m.count_targets_overflow("no_such_kind");
  const auto text = m.scrape();
  EXPECT_TRUE(has_line(
      text, R"(guardrail_events_suppressed_total{kind="net_connect",reason="rate_limit"} 5)"))
      << text;
  EXPECT_TRUE(
      has_line(text, R"(guardrail_events_suppressed_total{kind="net_connect",reason="other"} 1)"))
      << text;
  EXPECT_TRUE(has_line(
      text, R"(guardrail_events_suppressed_total{kind="no_such_kind",reason="rate_limit"} 4)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_alert_targets_overflow_total{kind="net_connect"} 1)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(guardrail_alert_targets_overflow_total{kind="no_such_kind"} 1)"))
      << text;
}

}  // namespace
}  // namespace guardrail
