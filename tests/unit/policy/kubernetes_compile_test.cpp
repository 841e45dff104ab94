// Compiling what Kubernetes discovery finds: exempt pods, pods on other nodes, Services.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/parse.hpp"
#include "policy_test_helpers.hpp"

namespace guardrail::policy {
namespace {

Policy parse(const std::string& spec_body) { return test_helpers::parse_spec(spec_body); }

Cidr cidr(const std::string& text) { return test_helpers::cidr_of(text); }

const std::string kPolicy = R"(  defaultZone: agents
  zones:
    - name: agents
    - name: control
  workloads:
    - {name: orchestrator, zone: control, pod: "control/orchestrator-*"}
  flows:
    - {from: {zone: agents}, to: {workload: orchestrator}, protocol: tcp, ports: [8080]}
)";

WorkloadBinding pod(std::string workload, std::string zone, std::string display,
                    std::vector<Cidr> ips, BindingKind kind, std::uint64_t cgroup = 0) {
  WorkloadBinding b{std::move(workload), std::move(zone), "", cgroup, std::move(ips)};
  b.kind = kind;
  b.display_name = std::move(display);
  if (cgroup) b.cgroup_path = "/kubepods/pod-" + std::to_string(cgroup);
  return b;
}

// Two orchestrator pods on other nodes, at 198.18.11.5 and .6.
std::vector<WorkloadBinding> two_orchestrators_elsewhere() {
  return {pod("orchestrator", "control", "control/orchestrator-0", {cidr("198.18.11.5")},
              BindingKind::Remote),
          pod("orchestrator", "control", "control/orchestrator-1", {cidr("198.18.11.6")},
              BindingKind::Remote)};
}

ServiceBinding service(const char* ip, std::uint16_t port, std::uint16_t target,
                       std::vector<Cidr> backends) {
  return {.service = "ns/svc",
          .cluster_ip = cidr(ip),
          .protocol = IPPROTO_TCP,
          .port = port,
          .target_port = target,
          .backends = std::move(backends)};
}

const gr_identity* identity_at(const CompiledPolicy& c, const Cidr& address) {
  for (const auto& [key, id] : c.identities)
    if (std::memcmp(key.addr, address.addr.data(), 16) == 0) return &id;
  return nullptr;
}

TEST(KubernetesCompile, AnExemptPodIsACgroupEntryWithNoWorkloadAndNoAddress) {
  const std::vector<WorkloadBinding> bindings = {
      pod("", "", "kube-system/coredns", {cidr("198.18.10.9")}, BindingKind::Exempt, 77)};
  auto c = compile(parse(kPolicy), bindings);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->cgroups.size(), 1u);
  EXPECT_EQ(c->cgroups[0].first, 77u);
  EXPECT_EQ(c->cgroups[0].second.workload_id, 0u);
  EXPECT_EQ(c->cgroups[0].second.zone_id, 0u);
  EXPECT_EQ(c->cgroups[0].second.flags, static_cast<std::uint32_t>(GR_WL_EXEMPT));
  EXPECT_TRUE(c->identities.empty()) << "an exempt pod's address names nobody (the world)";
}

TEST(KubernetesCompile, APodElsewhereIsAnIdentityWithoutACgroupHere) {
  const std::vector<WorkloadBinding> bindings = {
      pod("", "agents", "agents/agent-1", {cidr("198.18.10.3")}, BindingKind::Workload, 41),
      pod("", "agents", "agents/agent-2", {cidr("198.18.11.3")}, BindingKind::Remote),
      pod("orchestrator", "control", "control/orchestrator-0", {cidr("198.18.11.5")},
          BindingKind::Remote)};
  auto c = compile(parse(kPolicy), bindings);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->cgroups.size(), 1u) << "only the pod on this node has a cgroup entry";
  const gr_identity* here = identity_at(*c, cidr("198.18.10.3"));
  const gr_identity* there = identity_at(*c, cidr("198.18.11.3"));
  const gr_identity* orch = identity_at(*c, cidr("198.18.11.5"));
  ASSERT_TRUE(here && there && orch);
  EXPECT_NE(here->workload_id, there->workload_id) << "two agents are two workloads";
  EXPECT_EQ(here->zone_id, there->zone_id);
  EXPECT_TRUE(here->flags & GR_WL_ON_THIS_HOST);
  EXPECT_FALSE(there->flags & GR_WL_ON_THIS_HOST) << "its hooks run on another node";
  EXPECT_EQ(orch->workload_id, static_cast<std::uint32_t>(GR_WORKLOAD_ID_BASE));
  EXPECT_EQ(c->workload_names.at(there->workload_id), "agents:agents/agent-2");
}

TEST(KubernetesCompile, AServiceIsItsBackendsIdentityOnTheirPort) {
  const std::vector<WorkloadBinding> bindings = two_orchestrators_elsewhere();
  const std::vector<ServiceBinding> services = {
      service("198.19.0.10", 80, 8080, {cidr("198.18.11.5"), cidr("198.18.11.6")})};
  auto c = compile(parse(kPolicy), bindings, services);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->services.size(), 1u);
  const auto& [key, value] = c->services[0];
  EXPECT_EQ(std::memcmp(key.addr, cidr("198.19.0.10").addr.data(), 16), 0);
  EXPECT_EQ(key.port, 80);
  EXPECT_EQ(key.protocol, IPPROTO_TCP);
  EXPECT_EQ(value.workload_id, static_cast<std::uint32_t>(GR_WORKLOAD_ID_BASE));
  EXPECT_EQ(value.target_port, 8080);
  EXPECT_TRUE(c->problems.empty());
}

TEST(KubernetesCompile, AServiceWhoseBackendsDisagreeIsTheDefaultZoneAndReported) {
  const std::vector<WorkloadBinding> bindings = {
      pod("orchestrator", "control", "control/orchestrator-0", {cidr("198.18.11.5")},
          BindingKind::Remote),
      pod("", "agents", "agents/agent-2", {cidr("198.18.11.3")}, BindingKind::Remote)};
  const std::vector<ServiceBinding> services = {
      service("198.19.0.10", 80, 8080, {cidr("198.18.11.5"), cidr("198.18.11.3")})};
  auto c = compile(parse(kPolicy), bindings, services);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->services.size(), 1u);
  EXPECT_EQ(c->services[0].second.workload_id, 0u);
  EXPECT_EQ(c->services[0].second.zone_id, static_cast<std::uint32_t>(GR_ZONE_ID_MIN));
  ASSERT_EQ(c->problems.size(), 1u);
  EXPECT_EQ(c->problems[0].problem, "service_conflict");
  EXPECT_EQ(c->problems[0].placed_in, "agents");
}

TEST(KubernetesCompile, AServiceOfTheWorldOrOfNobodyHasNoEntry) {
  const std::vector<ServiceBinding> services = {
      service("198.19.0.10", 53, 53, {cidr("198.18.10.9")}),  // an exempt pod's: the world
      service("198.19.0.11", 80, 80, {})};                    // no ready backend
  auto c = compile(parse(kPolicy), {}, services);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->services.empty());
}

TEST(KubernetesCompile, AServiceWithSomeBackendsInTheWorldIsAConflict) {
  const std::vector<WorkloadBinding> bindings = {pod("orchestrator", "control",
                                                     "control/orchestrator-0",
                                                     {cidr("198.18.11.5")}, BindingKind::Remote)};
  const std::vector<ServiceBinding> services = {
      service("198.19.0.10", 80, 8080, {cidr("198.18.11.5"), cidr("203.0.113.7")})};
  auto c = compile(parse(kPolicy), bindings, services);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->services.size(), 1u);
  EXPECT_EQ(c->services[0].second.workload_id, 0u) << "half its backends are no orchestrator";
  EXPECT_EQ(c->problems.size(), 1u);
}

TEST(KubernetesCompile, ANamedTargetPortOnDifferentNumbersIsAConflict) {
  const std::vector<WorkloadBinding> bindings = two_orchestrators_elsewhere();
  const std::vector<ServiceBinding> services = {
      service("198.19.0.10", 80, 8080, {cidr("198.18.11.5")}),
      service("198.19.0.10", 80, 9090, {cidr("198.18.11.6")})};
  auto c = compile(parse(kPolicy), bindings, services);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->services.size(), 1u) << "one entry per address, port and protocol";
  EXPECT_EQ(c->services[0].second.workload_id, 0u);
  ASSERT_EQ(c->problems.size(), 1u);
  EXPECT_NE(c->problems[0].message.find("different ports"), std::string::npos)
      << c->problems[0].message;
}

}  // namespace
}  // namespace guardrail::policy
