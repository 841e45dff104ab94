#include <gtest/gtest.h>

#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/policy/parse.hpp"

namespace guardrail::policy {
namespace {

const std::string kHead =
    "apiVersion: guardrail.io/v1alpha1\nkind: GuardrailPolicy\nmetadata: {name: q}\nspec:\n";
const std::string kZones = "  zones:\n    - name: agent-sandbox\n";

TEST(PolicyQuarantine, ParsesTheChecks) {
  auto p = parse_policy(kHead + "  quarantineOn: [not_privileged, no_runtime_socket]\n" + kZones,
                        "q.yaml");
  ASSERT_TRUE(p) << p.error()[0].format();
  EXPECT_EQ(p->quarantine_on, (std::vector<std::string>{"not_privileged", "no_runtime_socket"}));
}

TEST(PolicyQuarantine, AnUnknownCheckIsNamedWithItsPositionAndTheNearestName) {
  auto p = parse_policy(kHead + "  quarantineOn: [not_privileged, no_runtime_sockets]\n" + kZones,
                        "q.yaml");
  ASSERT_FALSE(p);
  ASSERT_EQ(p.error().size(), 1u);
  EXPECT_EQ(p.error()[0].pos.line, 5);
  EXPECT_EQ(p.error()[0].pos.column, 34);
  EXPECT_NE(p.error()[0].message.find("unknown posture check 'no_runtime_sockets'"),
            std::string::npos);
  EXPECT_NE(p.error()[0].message.find("did you mean 'no_runtime_socket'"), std::string::npos);
}

TEST(PolicyQuarantine, AQuarantinedBindingCarriesTheFlagOnItsCgroupOnly) {
  auto p = parse_policy(kHead + kZones, "q.yaml");
  ASSERT_TRUE(p);
  std::vector<WorkloadBinding> b(2);
  b[0] = {"", "agent-sandbox", "/docker/a", 11, {}, true};
  b[1] = {"", "agent-sandbox", "/docker/b", 12, {}, false};
  auto c = compile(*p, b);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->cgroups.size(), 2u);
  for (const auto& [id, w] : c->cgroups)
    EXPECT_EQ((w.flags & GR_WL_QUARANTINE) != 0, id == 11) << id;
}

}  // namespace
}  // namespace guardrail::policy
