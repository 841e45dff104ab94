// The policy watch: coalescing a burst of changes into one reload, and which changes of the file
// and its directory count (in-place writes, rename over it, a ConfigMap's `..data` swap).
#include "policy_watch.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "testing/temp_dir.hpp"

namespace guardrail::agent {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t kMs = 1'000'000;

TEST(ReloadDebounce, NothingPendingIsNeverDue) {
  ReloadDebounce d(200 * kMs, 1000 * kMs);
  EXPECT_FALSE(d.pending());
  EXPECT_EQ(d.timeout_ms(5 * kMs), -1);
  EXPECT_FALSE(d.take_due(10'000 * kMs));
}

TEST(ReloadDebounce, DueOnceTheFileWasQuiet) {
  ReloadDebounce d(200 * kMs, 1000 * kMs);
  d.on_change(1000 * kMs);
  EXPECT_TRUE(d.pending());
  EXPECT_EQ(d.first_change_ns(), 1000 * kMs);
  EXPECT_EQ(d.timeout_ms(1100 * kMs), 100);
  EXPECT_FALSE(d.take_due(1199 * kMs));
  EXPECT_TRUE(d.take_due(1200 * kMs));
  EXPECT_FALSE(d.pending());
  EXPECT_FALSE(d.take_due(1300 * kMs));  // once
}

TEST(ReloadDebounce, EachChangeRestartsTheQuietPeriod) {
  ReloadDebounce d(200 * kMs, 1000 * kMs);
  d.on_change(1000 * kMs);
  d.on_change(1150 * kMs);
  EXPECT_FALSE(d.take_due(1200 * kMs));
  EXPECT_EQ(d.timeout_ms(1200 * kMs), 150);
  EXPECT_TRUE(d.take_due(1350 * kMs));
  EXPECT_EQ(d.first_change_ns(), 0u);
}

TEST(ReloadDebounce, AnEndlessBurstStillReloadsAtTheMaximumDelay) {
  ReloadDebounce d(200 * kMs, 1000 * kMs);
  int due = 0;
  for (std::uint64_t t = 1000; t < 3500; t += 50) {  // a change every 50 ms for 2.5 s
    d.on_change(t * kMs);
    due += d.take_due(t * kMs);
  }
  EXPECT_EQ(due, 2);  // at 2000 and 3050 ms: at most 1 s after the first change of each burst
}

TEST(ReloadDebounce, RoundsTheTimeoutUp) {
  ReloadDebounce d(200 * kMs, 1000 * kMs);
  d.on_change(1);
  EXPECT_EQ(d.timeout_ms(kMs / 2), 200);  // 199.5 ms left: wake at 200, not 199
  EXPECT_EQ(d.timeout_ms(300 * kMs), 0);
}

// A scratch directory for the policy file; the watch stops before it goes.
class PolicyDir : public ::testing::Test {
 protected:
  void TearDown() override { watch_.reset(); }
  static void write(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::trunc) << text;
  }
  void start(const fs::path& path, std::uint64_t quiet_ms = 30) {
    auto w = PolicyWatch::start(path.string(), {quiet_ms * kMs, 2000 * kMs}, [this] { ++calls_; });
    ASSERT_TRUE(w) << w.error().message;
    watch_ = std::move(*w);
  }
  // Waits (at most 5 s) for at least `n` calls; returns the count.
  int wait_calls(int n) {
    for (int i = 0; i < 500 && calls_ < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return calls_;
  }
  // The calls after a pause longer than any burst's quiet period.
  int settled_calls() {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return calls_;
  }
  // policy.yaml holding "one", watched.
  fs::path watched(std::uint64_t quiet_ms = 30) {
    const auto p = dir_ / "policy.yaml";
    write(p, "one");
    start(p, quiet_ms);
    return p;
  }
  test::TempDir tmp_{"guardrail-policy-watch"};
  const fs::path dir_ = tmp_.path();
  std::atomic<int> calls_{0};
  std::unique_ptr<PolicyWatch> watch_;
};

TEST_F(PolicyDir, NamesOfInterestFollowAConfigMapLink) {
  write(dir_ / "plain.yaml", "a");
  EXPECT_EQ(names_of_interest((dir_ / "plain.yaml").string()), std::set<std::string>{"plain.yaml"});
  fs::create_directory(dir_ / "..2026_12_02_01");
  write(dir_ / "..2026_12_02_01" / "policy.yaml", "a");
  fs::create_directory_symlink("..2026_12_02_01", dir_ / "..data");
  fs::create_symlink("..data/policy.yaml", dir_ / "policy.yaml");
  EXPECT_EQ(names_of_interest((dir_ / "policy.yaml").string()),
            (std::set<std::string>{"policy.yaml", "..data"}));
  fs::create_symlink(dir_ / "plain.yaml", dir_ / "absolute.yaml");
  EXPECT_EQ(names_of_interest((dir_ / "absolute.yaml").string()),
            std::set<std::string>{"absolute.yaml"});
}

TEST_F(PolicyDir, InPlaceWriteIsOneChange) {
  const auto p = watched();
  write(p, "two");
  EXPECT_GE(wait_calls(1), 1);
  EXPECT_EQ(settled_calls(), 1);
}

TEST_F(PolicyDir, OtherFilesInTheDirectoryDoNotCount) {
  const auto p = watched();
  write(dir_ / "alerts.jsonl", "{}\n");
  write(dir_ / ".policy.yaml.swp", "x");
  fs::remove(dir_ / ".policy.yaml.swp");
  EXPECT_EQ(settled_calls(), 0);
  write(p, "two");  // the watch still works
  EXPECT_GE(wait_calls(1), 1);
}

TEST_F(PolicyDir, RenameOverTheFileCountsAndTheNewFileIsWatched) {
  const auto p = watched();
  write(dir_ / "policy.yaml.tmp", "two");
  fs::rename(dir_ / "policy.yaml.tmp", p);  // what editors and `kubectl cp`-style tools do
  EXPECT_GE(wait_calls(1), 1);
  EXPECT_EQ(settled_calls(), 1);
  write(p, "three");  // an in-place write to the new inode
  EXPECT_GE(wait_calls(2), 2);
}

TEST_F(PolicyDir, DeletedAndRecreatedCounts) {
  const auto p = watched();
  fs::remove(p);
  EXPECT_GE(wait_calls(1), 1);
  const int before = settled_calls();
  write(p, "two");
  EXPECT_GT(wait_calls(before + 1), before);
}

TEST_F(PolicyDir, ConfigMapSymlinkSwapCountsEveryTime) {
  // The kubelet's atomic writer: a new timestamped directory, a `..data_tmp` symlink to it,
  // renamed over `..data`; policy.yaml -> ..data/policy.yaml never changes.
  fs::create_directory(dir_ / "..v1");
  write(dir_ / "..v1" / "policy.yaml", "one");
  fs::create_directory_symlink("..v1", dir_ / "..data");
  fs::create_symlink("..data/policy.yaml", dir_ / "policy.yaml");
  start(dir_ / "policy.yaml");
  for (int v = 2; v <= 3; ++v) {
    const std::string next = "..v" + std::to_string(v), old = "..v" + std::to_string(v - 1);
    fs::create_directory(dir_ / next);
    write(dir_ / next / "policy.yaml", "version " + std::to_string(v));
    fs::create_directory_symlink(next, dir_ / "..data_tmp");
    fs::rename(dir_ / "..data_tmp", dir_ / "..data");
    fs::remove_all(dir_ / old);
    EXPECT_GE(wait_calls(v - 1), v - 1) << "swap to " << next;
    EXPECT_EQ(settled_calls(), v - 1) << "swap to " << next;
  }
}

TEST_F(PolicyDir, ABurstOfWritesIsFewChanges) {
  const auto p = watched(150);
  for (int i = 1; i <= 20; ++i) {
    write(p, "version " + std::to_string(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_GE(wait_calls(1), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LE(calls_.load(), 3);  // 1 unless the machine stalls a write past the quiet period
}

TEST_F(PolicyDir, FirstChangeTimeIsHandedOverOnce) {
  const auto p = watched();
  write(p, "two");
  ASSERT_GE(wait_calls(1), 1);
  EXPECT_GT(watch_->take_first_change_ns(), 0u);
  EXPECT_EQ(watch_->take_first_change_ns(), 0u);
}

TEST(PolicyWatch, FailsClearlyWhenTheDirectoryIsMissing) {
  auto w = PolicyWatch::start("/nonexistent-guardrail-dir/policy.yaml", {}, [] {});
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("/nonexistent-guardrail-dir"), std::string::npos)
      << w.error().message;
}

}  // namespace
}  // namespace guardrail::agent
