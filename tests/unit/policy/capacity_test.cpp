// The map capacities (guardrail/policy/capacity.hpp): compile() refuses what the kernel maps
// cannot hold, naming the map, the limit and the count, so `policy check` and the agent agree.
#include "guardrail/policy/capacity.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "guardrail/policy/check.hpp"
#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/parse.hpp"
#include "policy_test_helpers.hpp"

namespace guardrail::policy {
namespace {

using test_helpers::doc;
using test_helpers::parse_ok;

// One zone whose egress allowlist has `n` distinct /32 rules (generated: 16 K rules are 400 KB).
std::string egress_policy(std::size_t n) {
  std::string body =
      "  zones:\n    - name: agents\n      selector: {cgroups: [\"/g/a/*\"]}\n"
      "      egress:\n";
  for (std::size_t i = 0; i < n; ++i)
    body += "        - {cidr: 10." + std::to_string(i >> 16 & 255) + "." +
            std::to_string(i >> 8 & 255) + "." + std::to_string(i & 255) + "/32}\n";
  return doc(body);
}

TEST(PolicyCapacity, EgressUpToTheMapSizeCompiles) {
  const auto compiled = compile(parse_ok(egress_policy(GR_MAX_EGRESS_RULES)), {});
  ASSERT_TRUE(compiled) << compiled.error().message;
  EXPECT_EQ(compiled->egress.size(), std::size_t{GR_MAX_EGRESS_RULES});
}

TEST(PolicyCapacity, OneEgressRuleMoreIsRefusedNamingTheLimit) {
  const auto compiled = compile(parse_ok(egress_policy(GR_MAX_EGRESS_RULES + 1)), {});
  ASSERT_FALSE(compiled);
  const std::string& m = compiled.error().message;
  for (const char* part : {"policy 't' needs 16385 entries in map egress_allow",
                           "it holds 16384 (GR_MAX_EGRESS_RULES)", "fewer, wider CIDRs"})
    EXPECT_NE(m.find(part), std::string::npos) << "missing '" << part << "' in: " << m;
}

TEST(PolicyCapacity, PolicyCheckRefusesWhatTheAgentCannotLoad) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("guardrail-capacity-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << egress_policy(GR_MAX_EGRESS_RULES + 1);
  std::ostringstream out, err;
  const int rc = run_policy_check({path.string()}, out, err);
  std::filesystem::remove(path);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.str().find("GR_MAX_EGRESS_RULES"), std::string::npos) << err.str();
  EXPECT_EQ(out.str(), "");
}

// The 100 K-entry allowlist of the issue is 2.6 MB: refused by the size limit, with a message.
TEST(PolicyCapacity, HundredThousandEntryAllowlistIsRefused) {
  const std::string text = egress_policy(100'000);
  ASSERT_GT(text.size(), kMaxPolicyBytes);
  const auto p = parse_policy(text, "t.yaml");
  ASSERT_FALSE(p);
  ASSERT_EQ(p.error().size(), 1u);
  EXPECT_NE(p.error()[0].message.find("more than 1048576 bytes"), std::string::npos);
}

TEST(PolicyCapacity, UnixAllowlistBeyondTheMap) {
  std::string allow;
  for (std::size_t i = 0; i <= GR_MAX_UNIX_ALLOW; ++i)
    allow += (i ? ", " : "") + std::string("/run/s/") + std::to_string(i) + ".sock";
  const auto compiled = compile(
      parse_ok(
          doc("  zones:\n    - name: agents\n      selector: {cgroups: [\"/g/a/*\"]}\n"
              "      guards:\n        runtimeSockets: {action: deny, mode: allowlist, allow: [" +
              allow + "]}\n")),
      {});
  ASSERT_FALSE(compiled);
  EXPECT_NE(compiled.error().message.find("1025 entries in map unix_allow_paths"),
            std::string::npos)
      << compiled.error().message;
}

TEST(PolicyCapacity, EveryMapIsListedWithItsConstant) {
  for (const MapCapacity& m : map_capacities()) {
    EXPECT_GT(m.capacity, 0u) << m.map;
    EXPECT_FALSE(m.constant.empty()) << m.map;
    EXPECT_EQ(m.count(CompiledPolicy{}), 0u) << m.map;
  }
  EXPECT_EQ(map_capacities().size(), 9u);
}

}  // namespace
}  // namespace guardrail::policy
