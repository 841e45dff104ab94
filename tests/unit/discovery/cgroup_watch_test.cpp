#include "guardrail/discovery/cgroup_watch.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace guardrail::discovery {
namespace {
namespace fs = std::filesystem;

TEST(CgroupWatchDirs, PlaceholdersAndTheParentsOfWorkloads) {
  std::vector<policy::WorkloadBinding> b(2);
  b[0].cgroup_path = "/g/agents";
  b[0].kind = policy::BindingKind::Placeholder;
  b[1].cgroup_path = "/g/agents/a";
  EXPECT_EQ(directories_to_watch(b, "/R"),
            (std::set<std::string>{"/R/g", "/R/g/agents", "/R/g/agents/a/cgroup.events"}));
  b[1].addresses.push_back(policy::Cidr{});
  EXPECT_EQ(directories_to_watch(b, "/R"), (std::set<std::string>{"/R/g", "/R/g/agents"}));
}

// Waits (bounded) for the watch to wake; a test of behaviour, not of speed.
bool woke_within(const std::atomic<int>& wakes, int before) {
  for (int i = 0; i < 200 && wakes.load() == before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return wakes.load() > before;
}

TEST(CgroupWatchEvents, ADirectoryMadeOrRemovedWakes) {
  const fs::path root = fs::temp_directory_path() / ("gr-cgwatch-" + std::to_string(::getpid()));
  fs::create_directories(root);
  std::atomic<int> wakes = 0;
  auto watch = CgroupWatch::start([&] { ++wakes; });
  ASSERT_TRUE(watch) << watch.error().message;
  (*watch)->watch({root.string(), (root / "missing").string()});
  EXPECT_EQ((*watch)->watched(), std::set<std::string>{root.string()});
  int before = wakes.load();
  std::ofstream(root / "file") << "x";  // a file is no cgroup
  fs::create_directory(root / "child");
  EXPECT_TRUE(woke_within(wakes, before));
  before = wakes.load();
  fs::remove(root / "child");
  EXPECT_TRUE(woke_within(wakes, before));
  (*watch)->watch({});
  EXPECT_TRUE((*watch)->watched().empty());
  watch->reset();
  fs::remove_all(root);
}

}  // namespace
}  // namespace guardrail::discovery
