// Alerts that cannot be drowned: per-kind budgets, the first alert of every distinct target, the
// suppression summary, the bounded memory of targets, and the settings' validation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "guardrail/pipeline/alert_pipeline.hpp"

namespace guardrail::pipeline {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::uint32_t kWorkload = GR_WORKLOAD_ID_BASE;

gr_net_event connect_event(std::uint16_t dport, std::uint32_t workload = kWorkload) {
  gr_net_event ev{};
  ev.hdr = {GR_EV_NET_CONNECT, GR_EVENT_VERSION, sizeof ev, 1};
  ev.workload_id = workload;
  ev.zone_id = 1;
  ev.cgroup_id = 4242;
  ev.verdict = GR_VERDICT_BLOCKED;
  ev.direction = GR_DIR_EGRESS;
  ev.protocol = GR_PROTO_TCP;
  ev.family = 2;
  ev.daddr[15] = 9;
  ev.dport = dport;
  return ev;
}

gr_host_event mount_event(const char* target, std::uint32_t workload = kWorkload) {
  gr_host_event ev{};
  ev.hdr = {GR_EV_MOUNT, GR_EVENT_VERSION, sizeof ev, 2};
  ev.workload_id = workload;
  ev.zone_id = 1;
  ev.verdict = GR_VERDICT_DETECTED;
  ev.op = GR_MOUNT_OP_MOUNT;
  std::strncpy(ev.path, target, sizeof ev.path - 1);
  return ev;
}

double metric(const std::string& text, const std::string& name) {
  std::smatch m;
  std::regex line("(^|\\n)" + std::regex_replace(name, std::regex(R"([{}\[\]()."+*?])"), R"(\$&)") +
                  " ([0-9.e+]+)");
  return std::regex_search(text, m, line) ? std::stod(m[2]) : 0;
}

class Suppression : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gr-suppression-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs the events through a pipeline (the summary interval is longer than the test, so the
  // one summary per workload comes from the flush at shutdown) and returns the alert lines.
  std::vector<nlohmann::json> run(PipelineOptions options, const std::vector<events::Event>& evs) {
    auto sink = JsonLinesSink::open((dir_ / "alerts.json").string());
    EXPECT_TRUE(sink) << sink.error().message;
    events::NameTable names{"p", {{1, "agent-sandbox"}}, {{kWorkload, "agent-a"}}};
    const events::WallClock clock(0);
    {
      AlertPipeline p(
          options, metrics_, **sink, nullptr,
          [&](const PendingAlert& a) { return format_alert(a, names, clock, "node-1"); },
          [&](const SuppressionSummary& s) {
            return format_summary(s, names, clock, "node-1", options.summary_interval);
          });
      for (const auto& ev : evs) p.submit(ev);
    }
    std::vector<nlohmann::json> out;
    std::ifstream in(dir_ / "alerts.json");
    for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
    return out;
  }

  // The identity of docs/metrics.md, without a kernel: what went in is delivered or suppressed.
  void expect_accounted(std::size_t submitted) {
    const auto text = metrics_.scrape();
    double suppressed = 0;
    std::regex series(R"((^|\n)guardrail_events_suppressed_total\{[^}]*\} ([0-9.e+]+))");
    for (std::sregex_iterator it(text.begin(), text.end(), series), end; it != end; ++it)
      suppressed += std::stod((*it)[2]);
    EXPECT_EQ(metric(text, R"(guardrail_events_delivered_total{sink="jsonl"})") + suppressed,
              double(submitted))
        << text;
  }

  static std::vector<nlohmann::json> of_kind(const std::vector<nlohmann::json>& alerts,
                                             const std::string& kind) {
    std::vector<nlohmann::json> out;
    for (const auto& a : alerts)
      if (a["kind"] == kind) out.push_back(a);
    return out;
  }

  Metrics metrics_;
  fs::path dir_;
  const PipelineOptions tight_{
      .dedup_window = 0s, .rate_limit = 0.001, .rate_burst = 3, .summary_interval = 3600s};
};

// The attack seen on the detection-only backend: refused connects to one target until the
// workload's budget is spent, then a mount. The mount has a budget of its own.
TEST_F(Suppression, FloodOfConnectsThenAMountStillAlertsTheMount) {
  std::vector<events::Event> evs(160, connect_event(8080));
  evs.push_back(mount_event("/mnt/host"));
  const auto alerts = run(tight_, evs);
  const auto mounts = of_kind(alerts, "mount");
  ASSERT_EQ(mounts.size(), 1u) << "the mount alert was drowned";
  EXPECT_EQ(mounts[0]["target"], "/mnt/host");
  EXPECT_EQ(of_kind(alerts, "net_connect").size(), 3u);  // the burst
  const auto summaries = of_kind(alerts, "suppressed");
  ASSERT_EQ(summaries.size(), 1u);
  EXPECT_EQ(summaries[0]["suppressed"], nlohmann::json({{"net_connect", 157}}));
  EXPECT_EQ(summaries[0]["workload"], "agent-a");
  expect_accounted(evs.size());
}

// The same attack with a distinct port per connect (a scan), under the default settings.
TEST_F(Suppression, AScanThenAMountUnderTheDefaults) {
  std::vector<events::Event> evs;
  for (std::uint16_t port = 1; port <= 160; port++) evs.push_back(connect_event(port));
  evs.push_back(mount_event("/mnt/host"));
  const auto alerts = run(PipelineOptions{}, evs);
  EXPECT_EQ(of_kind(alerts, "mount").size(), 1u);
  EXPECT_EQ(of_kind(alerts, "net_connect").size(), 160u) << "each port is a target of its own";
  expect_accounted(evs.size());
}

TEST_F(Suppression, TheFirstAlertOfEveryDistinctTargetIsDelivered) {
  // Burst 1: the first target spends the only token; every later first alert has none left.
  std::vector<events::Event> evs;
  for (std::uint16_t port = 1; port <= 50; port++) {
    evs.push_back(connect_event(port));
    evs.push_back(connect_event(port));  // a repeat: limited
  }
  auto options = tight_;
  options.rate_burst = 1;
  const auto alerts = run(options, evs);
  const auto connects = of_kind(alerts, "net_connect");
  ASSERT_EQ(connects.size(), 50u);
  for (std::size_t i = 0; i < connects.size(); i++) EXPECT_EQ(connects[i]["dport"], i + 1);
  const auto summaries = of_kind(alerts, "suppressed");
  ASSERT_EQ(summaries.size(), 1u);
  EXPECT_EQ(summaries[0]["suppressed_events"], 50);
  expect_accounted(evs.size());
}

TEST_F(Suppression, TheSummaryNamesKindsCountsWorkloadAndOverflow) {
  auto options = tight_;
  options.distinct_targets = 2;
  std::vector<events::Event> evs;
  for (std::uint16_t port = 1; port <= 10; port++) evs.push_back(connect_event(port));
  for (int i = 0; i < 6; i++) evs.push_back(mount_event("/mnt/x"));
  const auto alerts = run(options, evs);
  const auto summaries = of_kind(alerts, "suppressed");
  ASSERT_EQ(summaries.size(), 1u);
  const auto& s = summaries[0];
  // 10 ports: 2 remembered (first alerts, spending 2 of the 3 tokens), 8 past the memory: the
  // first of those takes the last token, 7 are suppressed. 6 mounts to one target: the first
  // and 2 more tokens, 3 suppressed.
  EXPECT_EQ(s["suppressed"], nlohmann::json({{"net_connect", 7}, {"mount", 3}}));
  EXPECT_EQ(s["suppressed_events"], 10);
  EXPECT_EQ(s["targets_overflow"], nlohmann::json({{"net_connect", 8}}));
  EXPECT_EQ(s["workload"], "agent-a");
  EXPECT_EQ(s["zone"], "agent-sandbox");
  EXPECT_EQ(s["policy"], "p");
  EXPECT_EQ(s["node"], "node-1");
  EXPECT_EQ(s["verdict"], "suppressed");
  EXPECT_EQ(s["backend"], "pipeline");
  EXPECT_EQ(s["count"], 1);
  EXPECT_EQ(s["cgroup_id"], 0) << "the last event counted was a mount, cgroup 0 here";
  EXPECT_EQ(s["interval_seconds"], 3600.0);
  const auto text = metrics_.scrape();
  EXPECT_EQ(
      metric(text, R"(guardrail_events_suppressed_total{kind="net_connect",reason="rate_limit"})"),
      7);
  EXPECT_EQ(metric(text, R"(guardrail_events_suppressed_total{kind="mount",reason="rate_limit"})"),
            3);
  EXPECT_EQ(metric(text, R"(guardrail_alert_targets_overflow_total{kind="net_connect"})"), 8);
  // The summary counts as an alert line but delivers no event.
  EXPECT_EQ(metric(text, R"(guardrail_alerts_total{sink="jsonl"})"), double(alerts.size()));
  expect_accounted(evs.size());
}

TEST_F(Suppression, NoSummaryWhenNothingWasSuppressed) {
  const auto alerts = run(tight_, {connect_event(1), connect_event(2), mount_event("/m")});
  EXPECT_EQ(alerts.size(), 3u);
  EXPECT_TRUE(of_kind(alerts, "suppressed").empty());
}

TEST_F(Suppression, AFloodOfDistinctNetworkTargetsDoesNotHideHostGuardAlerts) {
  auto options = tight_;
  options.distinct_targets = 64;
  std::vector<events::Event> evs;
  for (std::uint32_t i = 0; i < 5000; i++)
    evs.push_back(connect_event(std::uint16_t(1 + i % 60000)));
  evs.push_back(mount_event("/a"));
  evs.push_back(mount_event("/b"));
  evs.push_back(mount_event("/c"));
  evs.push_back(mount_event("/d"));  // one past the burst of 3: a new target all the same
  const auto alerts = run(options, evs);
  EXPECT_EQ(of_kind(alerts, "mount").size(), 4u);
  EXPECT_EQ(of_kind(alerts, "net_connect").size(), 64u) << "first alerts up to the memory only";
  const auto s = of_kind(alerts, "suppressed");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]["targets_overflow"]["net_connect"], 5000 - 64);
  EXPECT_FALSE(s[0]["suppressed"].contains("mount"));
  expect_accounted(evs.size());
}

TEST_F(Suppression, DedupStillFoldsAndTheFoldedAlertIsLimitedNotTheFirst) {
  auto options = tight_;
  options.dedup_window = 10s;
  options.rate_burst = 1;
  std::vector<events::Event> evs(20, connect_event(80));
  const auto alerts = run(options, evs);
  const auto connects = of_kind(alerts, "net_connect");
  ASSERT_EQ(connects.size(), 1u) << "the first; the folded 19 found the bucket empty";
  EXPECT_EQ(connects[0]["count"], 1);
  ASSERT_EQ(of_kind(alerts, "suppressed").size(), 1u);
  EXPECT_EQ(of_kind(alerts, "suppressed")[0]["suppressed"]["net_connect"], 19);
  expect_accounted(evs.size());
}

TEST(PipelineDedupBound, PastTheBoundNewTargetsLeaveUnfoldedAndNothingGrows) {
  Deduplicator d(10s, 16);
  for (std::uint16_t port = 1; port <= 1000; port++)
    ASSERT_TRUE(d.offer(PendingAlert::of(connect_event(port)), 0)) << port;
  EXPECT_EQ(d.open_windows(), 16u);
  EXPECT_EQ(d.unfolded(), 1000u - 16);
  EXPECT_FALSE(d.offer(PendingAlert::of(connect_event(1)), 1)) << "an open window still folds";
  EXPECT_TRUE(d.offer(PendingAlert::of(mount_event("/m")), 1));
  EXPECT_EQ(d.open_windows(), 16u);
}

TEST(PipelineKindBudgets, EachKindOfAWorkloadHasItsOwnBucket) {
  RateLimiter r(KindBudget{1, 2}, {{GR_EV_MOUNT, KindBudget{1, 1}}});
  EXPECT_TRUE(r.allow(1, GR_EV_NET_CONNECT, 0));
  EXPECT_TRUE(r.allow(1, GR_EV_NET_CONNECT, 0));
  EXPECT_FALSE(r.allow(1, GR_EV_NET_CONNECT, 0));
  EXPECT_TRUE(r.allow(1, GR_EV_NET_SEND, 0)) << "net_send is not net_connect";
  EXPECT_TRUE(r.allow(1, GR_EV_MOUNT, 0));
  EXPECT_FALSE(r.allow(1, GR_EV_MOUNT, 0)) << "mount has a burst of 1 of its own";
  EXPECT_TRUE(r.allow(2, GR_EV_MOUNT, 0)) << "and per workload";
  EXPECT_TRUE(r.allow(1, GR_EV_MOUNT, kSecond));
}

TEST(PipelineKindBudgets, AZeroRateKindIsUnlimited) {
  RateLimiter r(KindBudget{1, 1}, {{GR_EV_CAPABILITY, KindBudget{0, 0}}});
  for (int i = 0; i < 100; i++) ASSERT_TRUE(r.allow(1, GR_EV_CAPABILITY, 0));
  EXPECT_FALSE(r.limits(GR_EV_CAPABILITY));
  EXPECT_TRUE(r.limits(GR_EV_NET_SEND));
  EXPECT_FALSE(RateLimiter(KindBudget{0, 1}).limits_anything());
}

TEST(PipelineKindBudgets, ParsesKindRateAndBurst) {
  auto b = parse_kind_budget("mount=5/20");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->first, GR_EV_MOUNT);
  EXPECT_EQ(b->second, (KindBudget{5, 20}));
  b = parse_kind_budget("net_connect=0.5");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->first, GR_EV_NET_CONNECT);
  EXPECT_EQ(b->second, (KindBudget{0.5, 1})) << "the burst defaults to twice the rate, >= 1";
  b = parse_kind_budget("capability=0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->second.rate, 0);
}

TEST(PipelineKindBudgets, BadSpecsSayWhatIsWrong) {
  auto error = [](std::string_view spec) {
    auto b = parse_kind_budget(spec);
    return b ? std::string("accepted") : b.error().message;
  };
  EXPECT_NE(error("mount").find("expected KIND=RATE or KIND=RATE/BURST"), std::string::npos);
  const auto unknown = error("frobnicate=1");
  EXPECT_NE(unknown.find("unknown kind 'frobnicate'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("net_connect, net_send"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("bpf"), std::string::npos) << unknown;
  EXPECT_NE(error("mount=fast").find("the rate 'fast' is not a number"), std::string::npos);
  EXPECT_NE(error("mount=").find("the rate '' is not a number"), std::string::npos);
  EXPECT_NE(error("mount=-1").find("the rate must not be negative"), std::string::npos);
  EXPECT_NE(error("mount=5/x").find("the burst 'x' is not a number"), std::string::npos);
  EXPECT_NE(error("mount=5/0.5").find("the burst must be at least 1"), std::string::npos);
  EXPECT_NE(error("mount=inf").find("is not a number"), std::string::npos);
}

TEST(PipelineDistinctTargets, BoundedPerKindUnderAFloodOfDistinctTargets) {
  DistinctTargets t(100, 600s);
  std::size_t full = 0;
  for (int i = 0; i < 100000; i++)
    if (t.offer(GR_EV_NET_CONNECT, "net-" + std::to_string(i), 0) == DistinctTargets::Seen::Full)
      full++;
  EXPECT_EQ(full, 100000u - 100);
  EXPECT_EQ(t.tracked(GR_EV_NET_CONNECT), 100u);
  EXPECT_EQ(t.offer(GR_EV_NET_CONNECT, "net-7", 0), DistinctTargets::Seen::Known);
  EXPECT_EQ(t.offer(GR_EV_MOUNT, "mount-/x", 0), DistinctTargets::Seen::New)
      << "the mount kind's memory is its own";
  EXPECT_EQ(t.tracked(), 101u);
}

TEST(PipelineDistinctTargets, ATargetIsForgottenAfterTheMemory) {
  DistinctTargets t(2, 10s);
  EXPECT_EQ(t.offer(1, "a", 0), DistinctTargets::Seen::New);
  EXPECT_EQ(t.offer(1, "b", 5 * kSecond), DistinctTargets::Seen::New);
  EXPECT_EQ(t.offer(1, "c", 6 * kSecond), DistinctTargets::Seen::Full);
  EXPECT_EQ(t.offer(1, "a", 9 * kSecond), DistinctTargets::Seen::Known);
  // "a" was first seen at 0: gone at 10 s, which makes room for "c".
  EXPECT_EQ(t.offer(1, "c", 10 * kSecond), DistinctTargets::Seen::New);
  EXPECT_EQ(t.offer(1, "a", 11 * kSecond), DistinctTargets::Seen::Full);
  EXPECT_EQ(t.offer(1, "a", 15 * kSecond), DistinctTargets::Seen::New);
  EXPECT_EQ(t.tracked(1), 2u);
}

TEST(PipelineSuppressionLedger, ReportsOncePerIntervalAndOnlyWhatWasCounted) {
  SuppressionLedger ledger(10s);
  EXPECT_TRUE(ledger.take(0).empty());
  ledger.suppressed(connect_event(1), 4);
  ledger.suppressed(connect_event(2, kWorkload + 1), 1);
  ledger.suppressed(mount_event("/x"), 2);
  ledger.overflowed(connect_event(3));
  EXPECT_TRUE(ledger.take(9 * kSecond).empty()) << "the interval has not ended";
  auto summaries = ledger.take(10 * kSecond);
  ASSERT_EQ(summaries.size(), 2u);
  EXPECT_EQ(summaries[0].workload_id, kWorkload);
  EXPECT_EQ(summaries[0].suppressed_events(), 6u);
  EXPECT_EQ(summaries[0].suppressed.at(GR_EV_NET_CONNECT), 4u);
  EXPECT_EQ(summaries[0].suppressed.at(GR_EV_MOUNT), 2u);
  EXPECT_EQ(summaries[0].overflow.at(GR_EV_NET_CONNECT), 1u);
  EXPECT_EQ(summaries[1].suppressed_events(), 1u);
  EXPECT_TRUE(ledger.take(25 * kSecond).empty()) << "nothing new, no summary";
  ledger.suppressed(connect_event(1), 1);
  EXPECT_TRUE(ledger.take(26 * kSecond).empty()) << "the next interval started at 25 s";
  EXPECT_EQ(ledger.flush().size(), 1u);
}

}  // namespace
}  // namespace guardrail::pipeline
