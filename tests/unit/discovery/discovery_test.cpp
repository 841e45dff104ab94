#include "guardrail/discovery/discovery.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

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
  std::map<std::string, policy::BindingKind> kinds;
  for (const auto& b : found->bindings) {
    by_path[b.cgroup_path] = {b.workload, b.zone};
    kinds[b.cgroup_path] = b.kind;
    EXPECT_EQ(b.cgroup_id,
              fs::status(root_.string() + b.cgroup_path).type() == fs::file_type::directory
                  ? b.cgroup_id
                  : 0);
  }
  ASSERT_EQ(by_path.size(), 4u);
  EXPECT_EQ(by_path["/g/agents/a"], std::make_pair(std::string(), std::string("agent-sandbox")));
  EXPECT_EQ(by_path["/g/agents/b"], std::make_pair(std::string(), std::string("agent-sandbox")));
  EXPECT_EQ(by_path["/g/cp/orchestrator"],
            std::make_pair(std::string("orchestrator"), std::string("control-plane")));
  // The glob's parent: a new child is the zone's from its first instruction.
  EXPECT_EQ(by_path["/g/agents"], std::make_pair(std::string(), std::string("agent-sandbox")));
  EXPECT_EQ(kinds["/g/agents"], policy::BindingKind::Placeholder);
  EXPECT_EQ(kinds["/g/agents/a"], policy::BindingKind::Workload);
  std::vector<std::string> attach = found->attach_points;
  std::sort(attach.begin(), attach.end());
  EXPECT_EQ(attach, (std::vector<std::string>{root_.string() + "/g/agents",
                                              root_.string() + "/g/cp/orchestrator"}));
}

TEST(DiscoveryPlaceholders, ParentOfTheFirstWildcard) {
  policy::Policy p;
  p.default_zone = "sandbox";
  p.zones.resize(4);
  p.zones[0].name = "sandbox";
  p.zones[0].cgroup_globs = {"/g/agents/*", "/k/*/pod*"};
  p.zones[1].name = "other";
  p.zones[1].cgroup_globs = {"/g/others/x-*", "/system.slice/docker-*.scope", "/*/y", "/exact/a"};
  p.zones[2].name = "a";
  p.zones[2].cgroup_globs = {"/mixed/a-*"};
  p.zones[3].name = "b";
  p.zones[3].cgroup_globs = {"/mixed/b-*"};
  p.workloads.resize(1);
  p.workloads[0].zone = "other";
  p.workloads[0].cgroup = "/named/w-*";
  p.workloads.push_back(p.workloads[0]);
  p.workloads[1].name = "w2";
  p.workloads[1].cgroup = "/all/*";
  p.workloads[0].name = "w";
  std::map<std::string, std::pair<std::string, std::string>> got;
  for (const auto& ph : placeholders_for(p)) got[ph.parent] = {ph.workload, ph.zone};
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(got, (std::map<std::string, P>{
                     {"/g/agents", P("", "sandbox")},
                     {"/k", P("", "sandbox")},         // wildcard above the last: default zone
                     {"/g/others", P("", "sandbox")},  // not every child: default zone
                     {"/mixed", P("", "sandbox")},
                     {"/named", P("", "sandbox")},
                     {"/all", P("w2", "other")},  // a named workload's `*`: that workload
                 }));
  // Without a default zone, a parent the selectors disagree on gets no placeholder.
  p.default_zone.clear();
  got.clear();
  for (const auto& ph : placeholders_for(p)) got[ph.parent] = {ph.workload, ph.zone};
  EXPECT_FALSE(got.contains("/mixed"));
  EXPECT_FALSE(got.contains("/k"));
  EXPECT_FALSE(got.contains("/g/others"));
  EXPECT_TRUE(got.contains("/g/agents"));
  EXPECT_TRUE(got.contains("/all"));
}

TEST_F(DiscoveryTree, AParentThatIsAWorkloadItselfHoldsNoPlaceholder) {
  policy::Policy p = policy();
  p.zones[1].cgroup_globs = {"/g/*"};
  auto found = discover(p, root_.string(), false);
  ASSERT_TRUE(found) << found.error().message;
  std::map<std::string, policy::WorkloadBinding> by_path;
  for (const auto& b : found->bindings) by_path[b.cgroup_path] = b;
  // /g/agents is a member of control-plane ("/g/*"): its children are its own, not a
  // placeholder's; /g holds the placeholder for "/g/*".
  EXPECT_EQ(by_path["/g/agents"].kind, policy::BindingKind::Workload);
  EXPECT_EQ(by_path["/g/agents"].zone, "control-plane");
  EXPECT_EQ(by_path["/g"].kind, policy::BindingKind::Placeholder);
  EXPECT_EQ(by_path["/g"].zone, "control-plane");
  EXPECT_EQ(by_path["/g/agents/a"].kind, policy::BindingKind::Workload);
}

TEST_F(DiscoveryTree, DockerParentsArePlaceholdersOfTheDefaultZone) {
  policy::Policy p = policy();
  p.default_zone = "agent-sandbox";
  auto found = discover(p, root_.string(), false, nullptr, {"/custom-parent"});
  ASSERT_TRUE(found) << found.error().message;
  const auto it = std::ranges::find(found->bindings, std::string("/custom-parent"),
                                    &policy::WorkloadBinding::cgroup_path);
  ASSERT_NE(it, found->bindings.end()) << "the parent is made and bound before any container";
  EXPECT_TRUE(fs::is_directory(root_.string() + "/custom-parent"));
  EXPECT_EQ(it->kind, policy::BindingKind::Placeholder);
  EXPECT_EQ(it->zone, "agent-sandbox");
  EXPECT_TRUE(std::ranges::count(found->attach_points, root_.string() + "/custom-parent"));
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

namespace guardrail::discovery {
namespace {

// A zone's label selector is the same for containers as for pods (labels and matchExpressions
// all hold); a zone that lists Kubernetes namespaces selects no container by its labels.
TEST(DiscoveryContainers, MatchExpressionsSelectContainersAndNamespacesDoNot) {
  using Op = policy::LabelExpression::Op;
  policy::Policy p;
  p.default_zone = "fallback";
  p.zones.resize(3);
  p.zones[0].name = "pods-only";
  p.zones[0].namespaces = {"prod"};
  p.zones[0].match_labels = {{"app", "web"}};
  p.zones[1].name = "web";
  p.zones[1].match_labels = {{"app", "web"}};
  p.zones[1].match_expressions = {{"tier", Op::NotIn, {"debug"}}};
  p.zones[2].name = "fallback";
  docker::Container c;
  c.name = "c";
  c.labels = {{"app", "web"}};
  EXPECT_EQ(place_container(p, c).second, "web") << "NotIn holds for an absent key";
  c.labels["tier"] = "debug";
  EXPECT_EQ(place_container(p, c).second, "fallback");
  p.zones[1].match_labels.clear();
  c.labels = {{"tier", "front"}};
  EXPECT_EQ(place_container(p, c).second, "web") << "matchExpressions alone select";
  p.zones[1].match_expressions.clear();
  EXPECT_EQ(place_container(p, c).second, "fallback") << "no label selector left";
}

}  // namespace
}  // namespace guardrail::discovery
