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

// One allowlist zone that may reach `n` unix sockets.
std::string unix_allow_policy(std::size_t n) {
  std::string allow;
  for (std::size_t i = 0; i < n; ++i)
    allow += (i ? ", " : "") + std::string("/run/s/") + std::to_string(i) + ".sock";
  return doc(
      "  zones:\n    - name: agents\n      selector: {cgroups: [\"/g/a/*\"]}\n"
      "      guards:\n        runtimeSockets: {action: deny, mode: allowlist, allow: [" +
      allow + "]}\n");
}

// The compiled-in size is no limit any more: the agent makes the map as large as the policy needs.
TEST(PolicyCapacity, EgressBeyondTheCompiledInSizeCompiles) {
  const auto compiled = compile(parse_ok(egress_policy(GR_MAX_EGRESS_RULES + 1)), {});
  ASSERT_TRUE(compiled) << compiled.error().message;
  EXPECT_EQ(compiled->egress.size(), std::size_t{GR_MAX_EGRESS_RULES + 1});
}

// The maps sized from the policy are limited by the largest size the agent makes them.
TEST(PolicyCapacity, SizedMapsAreLimitedByTheLargestSizeTheAgentMakes) {
  const auto limit = [](std::string_view map) {
    for (const MapCapacity& m : map_capacities())
      if (m.map == map) return std::pair(m.capacity, m.constant);
    return std::pair(std::size_t{0}, std::string_view{});
  };
  EXPECT_EQ(limit("egress_allow"),
            std::pair(std::size_t{1} << 21, std::string_view("GR_LIMIT_EGRESS_RULES")));
  EXPECT_EQ(limit("identities"),
            std::pair(std::size_t{1} << 20, std::string_view("GR_LIMIT_IDENTITIES")));
  EXPECT_EQ(limit("flows").second, "GR_LIMIT_FLOWS");
  EXPECT_EQ(limit("services").second, "GR_LIMIT_SERVICES");
}

TEST(PolicyCapacity, OneUnixSocketMoreIsRefusedNamingTheLimit) {
  const auto compiled = compile(parse_ok(unix_allow_policy(GR_MAX_UNIX_ALLOW + 1)), {});
  ASSERT_FALSE(compiled);
  const std::string& m = compiled.error().message;
  for (const char* part : {"policy 't' needs 1025 entries in map unix_allow_paths",
                           "it holds 1024 (GR_MAX_UNIX_ALLOW)", "allow fewer unix sockets"})
    EXPECT_NE(m.find(part), std::string::npos) << "missing '" << part << "' in: " << m;
}

TEST(PolicyCapacity, PolicyCheckRefusesWhatTheAgentCannotLoad) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("guardrail-capacity-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << unix_allow_policy(GR_MAX_UNIX_ALLOW + 1);
  std::ostringstream out, err;
  const int rc = run_policy_check({path.string()}, out, err);
  std::filesystem::remove(path);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.str().find("GR_MAX_UNIX_ALLOW"), std::string::npos) << err.str();
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
