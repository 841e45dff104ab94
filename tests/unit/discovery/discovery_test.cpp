#include "guardrail/discovery/discovery.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace guardrail::discovery {
namespace {
namespace fs = std::filesystem;

TEST(DiscoveryGlob, StarDoesNotCrossSlashes) {
  EXPECT_TRUE(glob_matches("/guardrail/agents/*", "/guardrail/agents/a"));
  EXPECT_FALSE(glob_matches("/guardrail/agents/*", "/guardrail/agents/a/child"));
  EXPECT_FALSE(glob_matches("/guardrail/agents/*", "/guardrail/agents"));
  EXPECT_TRUE(glob_matches("/docker/?bc", "/docker/abc"));
}

// A directory tree stands in for the cgroup hierarchy: discovery only walks and stats it.
class DiscoveryTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("gr-discovery-" + std::to_string(::getpid()));
    for (const char* d : {"/g/agents/a/child", "/g/agents/b", "/g/cp/orchestrator", "/g/other"})
      fs::create_directories(root_.string() + d);
  }
  void TearDown() override { fs::remove_all(root_); }

  policy::Policy policy() const {
    policy::Policy p;
    p.name = "t";
    p.zones.resize(2);
    p.zones[0].name = "agent-sandbox";
    p.zones[0].cgroup_globs = {"/g/agents/*"};
    p.zones[1].name = "control-plane";
    p.workloads.resize(1);
    p.workloads[0].name = "orchestrator";
    p.workloads[0].zone = "control-plane";
    p.workloads[0].cgroup = "/g/cp/orchestrator";
    return p;
  }
  fs::path root_;
};

TEST_F(DiscoveryTree, BindsNamedWorkloadsAndZoneMembersAndAttachesAtTheTop) {
  auto found = discover(policy(), root_.string(), false);
  ASSERT_TRUE(found) << found.error().message;
  std::map<std::string, std::pair<std::string, std::string>> by_path;
  for (const auto& b : found->bindings) {
    by_path[b.cgroup_path] = {b.workload, b.zone};
    EXPECT_EQ(b.cgroup_id,
              fs::status(root_.string() + b.cgroup_path).type() == fs::file_type::directory
                  ? b.cgroup_id
                  : 0);
  }
  ASSERT_EQ(by_path.size(), 3u);
  EXPECT_EQ(by_path["/g/agents/a"], std::make_pair(std::string(), std::string("agent-sandbox")));
  EXPECT_EQ(by_path["/g/agents/b"], std::make_pair(std::string(), std::string("agent-sandbox")));
  EXPECT_EQ(by_path["/g/cp/orchestrator"],
            std::make_pair(std::string("orchestrator"), std::string("control-plane")));
  std::vector<std::string> attach = found->attach_points;
  std::sort(attach.begin(), attach.end());
  EXPECT_EQ(attach, (std::vector<std::string>{root_.string() + "/g/agents/a",
                                              root_.string() + "/g/agents/b",
                                              root_.string() + "/g/cp/orchestrator"}));
}

TEST_F(DiscoveryTree, MissingRootIsAClearError) {
  auto found = discover(policy(), "/nonexistent/cgroup", false);
  ASSERT_FALSE(found);
  EXPECT_NE(found.error().message.find("/nonexistent/cgroup"), std::string::npos);
}

TEST(DiscoveryLevels, EachBoundCgroupMarksItsLevel) {
  std::vector<policy::WorkloadBinding> b(3);
  b[0].cgroup_path = "/a";
  b[1].cgroup_path = "/guardrail/agent-sandbox/x";
  b[2].cgroup_path = "/docker/abc";
  EXPECT_EQ(cgroup_levels(b), (1u << 1) | (1u << 2) | (1u << 3));
  EXPECT_EQ(cgroup_levels({}), 0u);
}

TEST(DiscoveryNetns, OwnNamespaceYieldsNoAddresses) {
  auto addrs = netns_addresses(::getpid());
  ASSERT_TRUE(addrs) << addrs.error().message;
  EXPECT_TRUE(addrs->empty());
}

}  // namespace
}  // namespace guardrail::discovery
