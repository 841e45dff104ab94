// The pipeline end to end, minus the kernel: events in, alert lines out, and every event
// accounted for exactly once (delivered, suppressed or lost).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "guardrail/pipeline/alert_pipeline.hpp"

namespace guardrail::pipeline {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

gr_net_event event(std::uint32_t workload, std::uint16_t dport) {
  gr_net_event ev{};
  ev.hdr = {GR_EV_NET_SEND, GR_EVENT_VERSION, sizeof ev, 1};
  ev.workload_id = workload;
  ev.zone_id = 1;
  ev.verdict = GR_VERDICT_BLOCKED;
  ev.direction = GR_DIR_EGRESS;
  ev.protocol = GR_PROTO_UDP;
  ev.family = 2;
  ev.dport = dport;
  return ev;
}

double metric(const std::string& text, const std::string& name) {
  std::smatch m;
  std::regex line("(^|\\n)" + std::regex_replace(name, std::regex(R"([{}\[\]()."+*?])"), R"(\$&)") +
                  " ([0-9.e+]+)");
  return std::regex_search(text, m, line) ? std::stod(m[2]) : -1;
}

std::vector<nlohmann::json> lines(const fs::path& file) {
  std::vector<nlohmann::json> out;
  std::ifstream in(file);
  for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
  return out;
}

class PipelineAccounting : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gr-pipeline-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void run(PipelineOptions options, const std::vector<gr_net_event>& events,
           std::uint64_t max_bytes = 0, int keep = 5) {
    auto sink = JsonLinesSink::open((dir_ / "alerts.json").string(), max_bytes, keep);
    ASSERT_TRUE(sink) << sink.error().message;
    events::NameTable names{"p", {{1, "agent-sandbox"}}, {}};
    const events::WallClock clock(0);
    {
      AlertPipeline p(
          options, metrics_, **sink, nullptr,
          [&](const PendingAlert& a) { return format_alert(a, names, clock, "node-1"); },
          [&](const SuppressionSummary& s) {
            return format_summary(s, names, clock, "node-1", options.summary_interval);
          });
      for (const auto& ev : events) p.submit(ev);
    }  // destruction drains and flushes every dedup window
  }

  Metrics metrics_;
  fs::path dir_;
};

TEST_F(PipelineAccounting, DedupFoldsRepeatsAndTheCountsAddUp) {
  std::vector<gr_net_event> evs(5, event(GR_WORKLOAD_ID_BASE, 9999));
  evs.push_back(event(GR_WORKLOAD_ID_BASE, 53));
  run({.dedup_window = 10s, .rate_limit = 0}, evs);
  auto alerts = lines(dir_ / "alerts.json");
  ASSERT_EQ(alerts.size(), 3u);
  EXPECT_EQ(alerts[0]["count"], 1);
  EXPECT_EQ(alerts[0]["dport"], 9999);
  EXPECT_EQ(alerts[1]["dport"], 53);
  EXPECT_EQ(alerts[2]["count"], 4);
  EXPECT_EQ(alerts[2]["node"], "node-1");
  EXPECT_TRUE(alerts[2]["labels"].is_object());
  const auto text = metrics_.scrape();
  EXPECT_EQ(metric(text, R"(guardrail_events_delivered_total{sink="jsonl"})"), 6);
  EXPECT_EQ(metric(text, R"(guardrail_alerts_total{sink="jsonl"})"), 3);
  EXPECT_EQ(metric(text, "guardrail_events_deduplicated_total"), 4);
}

TEST_F(PipelineAccounting, RateLimitSuppressesAndCounts) {
  // Repeats of one target (the first alert of a target is never limited).
  std::vector<gr_net_event> evs(10, event(GR_WORKLOAD_ID_BASE, 53));
  run({.dedup_window = 0s, .rate_limit = 0.001, .rate_burst = 3}, evs);
  const auto alerts = lines(dir_ / "alerts.json");
  ASSERT_EQ(alerts.size(), 4u);  // the burst, then the summary at shutdown
  EXPECT_EQ(alerts[3]["kind"], "suppressed");
  EXPECT_EQ(alerts[3]["suppressed"]["net_send"], 7);
  const auto text = metrics_.scrape();
  EXPECT_EQ(
      metric(text, R"(guardrail_events_suppressed_total{kind="net_send",reason="rate_limit"})"), 7);
  EXPECT_EQ(metric(text, R"(guardrail_events_delivered_total{sink="jsonl"})"), 3);
}

TEST_F(PipelineAccounting, AFullQueueCountsItsLossesAndNothingElseIsLost) {
  std::vector<gr_net_event> evs;
  for (std::uint16_t port = 1; port <= 2000; port++)
    evs.push_back(event(GR_WORKLOAD_ID_BASE, port));
  run({.dedup_window = 0s, .rate_limit = 0, .queue_capacity = 4}, evs);
  const auto text = metrics_.scrape();
  const double delivered = metric(text, R"(guardrail_events_delivered_total{sink="jsonl"})");
  const double lost = double(metrics_.lost(LossStage::Queue));
  EXPECT_EQ(delivered + lost, 2000);
  EXPECT_EQ(lines(dir_ / "alerts.json").size(), std::size_t(delivered));
}

TEST_F(PipelineAccounting, ABatchOfManyAlertsIsWrittenAndCountedWhole) {
  // More alerts than one write-out holds (in one batch or several, as the pipeline takes them).
  std::vector<gr_net_event> evs;
  for (std::uint16_t port = 1; port <= 1500; port++)
    evs.push_back(event(GR_WORKLOAD_ID_BASE, port));
  run({.dedup_window = 0s, .rate_limit = 0, .queue_capacity = 4096}, evs);
  const auto alerts = lines(dir_ / "alerts.json");
  ASSERT_EQ(alerts.size(), 1500u);
  for (std::size_t i = 0; i < alerts.size(); i++) EXPECT_EQ(alerts[i]["dport"], i + 1);
  const auto text = metrics_.scrape();
  EXPECT_EQ(metric(text, R"(guardrail_events_delivered_total{sink="jsonl"})"), 1500);
  EXPECT_EQ(metric(text, R"(guardrail_alerts_total{sink="jsonl"})"), 1500);
  EXPECT_EQ(metrics_.lost(LossStage::AlertsFile), 0u);
}

TEST_F(PipelineAccounting, AlertsThatCannotBeWrittenAreCountedLostAtTheAlertsFile) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no writable /dev/full here";
  auto sink = JsonLinesSink::open("/dev/full");
  ASSERT_TRUE(sink) << sink.error().message;
  events::NameTable names{"p", {{1, "agent-sandbox"}}, {}};
  const events::WallClock clock(0);
  {
    AlertPipeline p(
        {.dedup_window = 0s, .rate_limit = 0}, metrics_, **sink, nullptr,
        [&](const PendingAlert& a) { return format_alert(a, names, clock, "node-1"); },
        [&](const SuppressionSummary& s) {
          return format_summary(s, names, clock, "node-1", 30s);
        });
    for (std::uint16_t port = 1; port <= 600; port++) p.submit(event(GR_WORKLOAD_ID_BASE, port));
  }
  const auto text = metrics_.scrape();
  EXPECT_EQ(metric(text, R"(guardrail_events_delivered_total{sink="jsonl"})"), 0);
  EXPECT_EQ(metrics_.lost(LossStage::AlertsFile) + metrics_.lost(LossStage::Queue), 600u);
}

TEST_F(PipelineAccounting, TheAlertsFileRotatesBySize) {
  std::vector<gr_net_event> evs;
  for (std::uint16_t port = 1; port <= 40; port++) evs.push_back(event(GR_WORKLOAD_ID_BASE, port));
  run({.dedup_window = 0s, .rate_limit = 0}, evs, 4000, 2);
  EXPECT_TRUE(fs::exists(dir_ / "alerts.json"));
  EXPECT_TRUE(fs::exists(dir_ / "alerts.json.1"));
  EXPECT_TRUE(fs::exists(dir_ / "alerts.json.2"));
  EXPECT_FALSE(fs::exists(dir_ / "alerts.json.3"));
  for (const char* f : {"alerts.json", "alerts.json.1", "alerts.json.2"})
    EXPECT_LE(fs::file_size(dir_ / f), 4000u) << f;
}

TEST(JsonLinesSinkReopen, WritesToAFreshFileAfterTheOldOneWasMoved) {
  const fs::path dir = fs::temp_directory_path() / ("gr-reopen-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto sink = JsonLinesSink::open((dir / "a.json").string());
  ASSERT_TRUE(sink);
  ASSERT_TRUE((*sink)->write({{"n", 1}}));
  fs::rename(dir / "a.json", dir / "a.json.old");
  (*sink)->request_reopen();
  ASSERT_TRUE((*sink)->write({{"n", 2}}));
  EXPECT_EQ(lines(dir / "a.json.old").size(), 1u);
  auto fresh = lines(dir / "a.json");
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0]["n"], 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace guardrail::pipeline
