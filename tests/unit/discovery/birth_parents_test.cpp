// The birth parents' entries after compile (bpf/birth_guard.bpf.c reads them).
#include <gtest/gtest.h>

#include <algorithm>

#include "guardrail.h"
#include "guardrail/discovery/discovery.hpp"
#include "guardrail/policy/compile.hpp"

namespace guardrail::discovery {
namespace {

policy::Policy two_zones(policy::Mode sandbox_mode) {
  policy::Policy p;
  p.name = "t";
  p.zones.resize(2);
  p.zones[0].name = "trusted";
  p.zones[1].name = "sandbox";
  p.zones[1].mode = sandbox_mode;
  p.default_zone = "sandbox";
  return p;
}

gr_workload entry_of(const policy::CompiledPolicy& c, std::uint64_t cgroup_id) {
  const auto it = std::ranges::find(c.cgroups, cgroup_id, [](const auto& e) { return e.first; });
  EXPECT_NE(it, c.cgroups.end()) << cgroup_id;
  return it == c.cgroups.end() ? gr_workload{} : it->second;
}

TEST(MarkBirthParents, ExemptEntryCarriesTheBornWorkloadZoneFlagsAndLevel) {
  const auto policy = two_zones(policy::Mode::Enforce);
  std::vector<policy::WorkloadBinding> bindings{
      birth_parent_binding("/gr.slice/gr-sd.slice", 100, "sandbox"),
      {"", "trusted", "/gr.slice/gr-sd.slice/docker-x.scope", 101, {}}};
  bindings[0].anonymous_id = 1100;
  bindings[1].anonymous_id = 1101;
  auto compiled = policy::compile(policy, bindings);
  ASSERT_TRUE(compiled) << compiled.error().message;
  EXPECT_EQ(entry_of(*compiled, 100).flags, static_cast<std::uint32_t>(GR_WL_EXEMPT));

  EXPECT_EQ(mark_birth_parents(*compiled, policy, bindings), 1u);
  const gr_workload parent = entry_of(*compiled, 100);
  EXPECT_EQ(parent.flags, static_cast<std::uint32_t>(GR_WL_EXEMPT | GR_WL_BIRTH_PARENT));
  EXPECT_EQ(parent.workload_id, 1100u);
  EXPECT_EQ(parent.zone_id, 2u);  // sandbox, the second zone
  EXPECT_EQ(GR_BIRTH_FLAGS(parent.reserved), 0u);
  EXPECT_EQ(GR_BIRTH_LEVEL(parent.reserved), 3u);  // the parent sits at level 2
  EXPECT_EQ(compiled->workload_names.at(1100), "sandbox:/gr.slice/gr-sd.slice/*");
  EXPECT_EQ(compiled->workload_zone.at(1100), 2u);
  // The identified container beside it is untouched.
  EXPECT_EQ(entry_of(*compiled, 101).flags, 0u);
  EXPECT_EQ(entry_of(*compiled, 101).workload_id, 1101u);
}

TEST(MarkBirthParents, AnAuditZoneGivesItsBornChildrenAudit) {
  const auto policy = two_zones(policy::Mode::Audit);
  std::vector<policy::WorkloadBinding> bindings{
      birth_parent_binding("/system.slice", 100, "sandbox")};
  auto compiled = policy::compile(policy, bindings);
  ASSERT_TRUE(compiled) << compiled.error().message;
  ASSERT_EQ(mark_birth_parents(*compiled, policy, bindings), 1u);
  const gr_workload parent = entry_of(*compiled, 100);
  EXPECT_EQ(GR_BIRTH_FLAGS(parent.reserved), static_cast<std::uint32_t>(GR_WL_AUDIT));
  EXPECT_EQ(GR_BIRTH_LEVEL(parent.reserved), 2u);
  // No anonymous id given: one no workload holds.
  EXPECT_GE(parent.workload_id, static_cast<std::uint32_t>(GR_WORKLOAD_ID_BASE));
  EXPECT_EQ(compiled->workload_names.count(parent.workload_id), 1u);
}

TEST(MarkBirthParents, ATakenIdIsNotReusedAndPlainExemptBindingsStayPlain) {
  const auto policy = two_zones(policy::Mode::Enforce);
  std::vector<policy::WorkloadBinding> bindings{
      birth_parent_binding("/system.slice", 100, "sandbox"),
      {"", "trusted", "/g/a", 101, {}},
      {"", "", "/kubepods.slice/kube-system", 102, {}}};
  bindings[1].anonymous_id = 1200;
  bindings[0].anonymous_id = 1200;  // (never from the scan; a caller's mistake)
  bindings[2].kind = policy::BindingKind::Exempt;
  auto compiled = policy::compile(policy, bindings);
  ASSERT_TRUE(compiled) << compiled.error().message;
  ASSERT_EQ(mark_birth_parents(*compiled, policy, bindings), 1u);
  const gr_workload parent = entry_of(*compiled, 100);
  EXPECT_NE(parent.workload_id, entry_of(*compiled, 101).workload_id);
  EXPECT_EQ(entry_of(*compiled, 102).flags, static_cast<std::uint32_t>(GR_WL_EXEMPT));
}

TEST(MarkBirthParents, AZoneNotInThePolicyLeavesThePlainExemptEntry) {
  const auto policy = two_zones(policy::Mode::Enforce);
  std::vector<policy::WorkloadBinding> bindings{birth_parent_binding("/system.slice", 100, "gone")};
  auto compiled = policy::compile(policy, bindings);
  ASSERT_TRUE(compiled) << compiled.error().message;
  EXPECT_EQ(mark_birth_parents(*compiled, policy, bindings), 0u);
  EXPECT_EQ(entry_of(*compiled, 100).flags, static_cast<std::uint32_t>(GR_WL_EXEMPT));
}

}  // namespace
}  // namespace guardrail::discovery
