#include "guardrail/policy/check.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/describe.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/policy/parse.hpp"

namespace guardrail::policy {
namespace {

const std::string kSource = GUARDRAIL_SOURCE_DIR;
const std::string kDefaultProfile = kSource + "/profiles/default.yaml";
const std::string kValid = kSource + "/tests/unit/policy/testdata/valid.yaml";
const std::string kInvalid = kSource + "/tests/unit/policy/testdata/invalid.yaml";

const char* const kValidListing = R"(policy small: mode audit
zones:
  1 agents
  2 control
workloads:
  1024 orchestrator (zone control, enforce, exclusive)
cgroups:
  (none)
identities:
  198.18.0.2/32 -> orchestrator (control)
  fd00::2/128 -> orchestrator (control)
flows:
  agents -> orchestrator: tcp/8080
  orchestrator -> agents: any
egress:
  agents -> 198.18.0.0/15: tcp/443
  agents -> 198.18.200.0/24: udp/8000-8100, tcp/443
host guards:
  agents: capabilities deny CAP_NET_RAW, CAP_SYS_ADMIN [audit]; runtime sockets [audit]; bpf [audit]; cgroup writes outside the workload [audit]
  control: cgroup writes outside the workload [deny]
runtime sockets:
  /var/run/docker.sock
  /run/docker.sock
  /run/containerd/containerd.sock
  /var/run/containerd/containerd.sock
  /run/docker/containerd/containerd.sock
  /var/run/docker/containerd/containerd.sock
  /run/crio/crio.sock
  /var/run/crio/crio.sock
  /run/podman/podman.sock
rules: 4 (2 flows, 2 egress)
containers:
  (none)
default zone: none
)";

TEST(PolicyCheck, ValidFilePrintsOkAndTheListing) {
  std::ostringstream out, err;
  EXPECT_EQ(run_policy_check({kValid}, out, err), 0);
  EXPECT_EQ(err.str(), "");
  EXPECT_EQ(out.str(), kValid + ": ok\n" + kValidListing +
                           "note: zone agents selects cgroups /guardrail/agents/*; they are "
                           "resolved at runtime by the agent\n");
}

TEST(PolicyCheck, InvalidFilePrintsEveryDiagnostic) {
  std::ostringstream out, err;
  EXPECT_EQ(run_policy_check({kInvalid}, out, err), 1);
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(err.str(), kInvalid +
                           ":9:7: error: unknown field 'egres' in zone; allowed: name, mode, "
                           "selector, egress, guards; did you mean 'egress'?\n" +
                           kInvalid +
                           ":12:22: error: unknown workload 'orchestrator' in flow 'to'; no "
                           "workloads are defined\n");
}

TEST(PolicyCheck, UnreadableFile) {
  std::ostringstream out, err;
  EXPECT_EQ(run_policy_check({kSource + "/no-such-policy.yaml"}, out, err), 1);
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(err.str(), kSource + "/no-such-policy.yaml: cannot read: No such file or directory\n");
}

TEST(PolicyCheck, ChecksEveryFileAndFailsIfAnyFails) {
  std::ostringstream out, err;
  EXPECT_EQ(run_policy_check({kInvalid, kValid}, out, err), 1);
  EXPECT_EQ(out.str().rfind(kValid + ": ok\n", 0), 0u) << out.str();
  EXPECT_NE(err.str().find(kInvalid + ":9:7: error:"), std::string::npos) << err.str();

  std::ostringstream out2, err2;
  EXPECT_EQ(run_policy_check({kValid, kDefaultProfile}, out2, err2), 0) << err2.str();
}

TEST(PolicyCheck, NoFilesIsAUsageError) {
  std::ostringstream out, err;
  EXPECT_EQ(run_policy_check({}, out, err), 1);
  EXPECT_NE(err.str().find("no files given"), std::string::npos);
}

TEST(PolicyCheck, DescribeNamesBindingsAndAnonymousWorkloads) {
  auto policy = load_policy_file(kValid);
  ASSERT_TRUE(policy);
  auto extra = parse_cidr("10.0.0.5");
  ASSERT_TRUE(extra);
  const std::vector<WorkloadBinding> bindings = {
      {"", "agents", "/guardrail/agents/a", 4242, {*extra}}};
  auto compiled = compile(*policy, bindings);
  ASSERT_TRUE(compiled) << compiled.error().message;
  std::ostringstream out;
  describe(*compiled, out);
  const std::string text = out.str();
  EXPECT_NE(text.find("  1025 agents:/guardrail/agents/a (zone agents, audit)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("cgroups:\n  4242 -> agents:/guardrail/agents/a (agents)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("identities:\n  10.0.0.5/32 -> agents:/guardrail/agents/a (agents)\n"),
            std::string::npos)
      << text;
}

TEST(PolicyDefaultProfile, ValidatesAndCompilesToTheDesignedRules) {
  auto policy = load_policy_file(kDefaultProfile);
  ASSERT_TRUE(policy) << [&] {
    std::string all;
    for (const auto& d : policy.error()) all += d.format() + "\n";
    return all;
  }();
  EXPECT_EQ(policy->name, "default");
  EXPECT_EQ(policy->mode, Mode::Enforce);
  ASSERT_EQ(policy->zones.size(), 3u);
  EXPECT_EQ(policy->zones[0].name, "agent-sandbox");
  EXPECT_EQ(policy->zones[0].cgroup_globs, std::vector<std::string>{"/guardrail/agent-sandbox/*"});
  EXPECT_EQ(policy->zones[1].name, "control-plane");
  EXPECT_EQ(policy->zones[1].cgroup_globs, std::vector<std::string>{"/guardrail/control-plane/*"});
  EXPECT_EQ(policy->zones[2].name, "data-plane");
  EXPECT_EQ(policy->zones[2].cgroup_globs, std::vector<std::string>{"/guardrail/data-plane/*"});
  const Workload* spire = policy->find_workload("spire-server");
  ASSERT_NE(spire, nullptr);
  EXPECT_TRUE(spire->exclusive);
  EXPECT_EQ(spire->cgroup, "/guardrail/control-plane/spire-server");
  ASSERT_NE(policy->find_workload("spire-agent"), nullptr);
  EXPECT_EQ(policy->find_workload("spire-agent")->cgroup, "/guardrail/control-plane/spire-agent*");

  auto compiled = compile(*policy, {});
  ASSERT_TRUE(compiled) << compiled.error().message;
  std::ostringstream out;
  describe(*compiled, out);
  const std::string text = out.str();
  for (const char* line :
       {"  agent-sandbox -> orchestrator: tcp/8080\n", "  orchestrator -> agent-sandbox: tcp/all\n",
        "  control-plane -> data-plane: tcp/all\n", "  orchestrator -> spire-server: tcp/8081\n",
        "  spire-agent -> spire-server: tcp/8081\n",
        "  agent-sandbox -> 198.18.200.0/24: tcp/443\n",
        "  1025 spire-server (zone control-plane, enforce, exclusive)\n",
        "rules: 6 (5 flows, 1 egress)\n"})
    EXPECT_NE(text.find(line), std::string::npos) << "missing " << line << " in\n" << text;
}

}  // namespace
}  // namespace guardrail::policy
