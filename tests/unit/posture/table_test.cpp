// The table of checks against the policy's vocabulary: spec.quarantineOn accepts exactly the
// names of policy::kPostureChecks, so the table must implement each of them, once, in that order.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "guardrail/policy/vocabulary.hpp"
#include "guardrail/posture/checks.hpp"

namespace guardrail::posture {
namespace {

std::vector<std::string> table_names() {
  std::vector<std::string> out;
  for (const Check* check : check_table()) out.emplace_back(check->name);
  return out;
}

TEST(PostureCheckTable, NamesThePolicysChecksInTheSameOrder) {
  EXPECT_EQ(table_names(), policy::kPostureChecks);
}

TEST(PostureCheckTable, NamesEachCheckOnceWithAnImplementation) {
  const auto names = table_names();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  const auto& vocabulary = policy::kPostureChecks;
  EXPECT_EQ(std::set<std::string>(vocabulary.begin(), vocabulary.end()).size(), vocabulary.size());
  for (const Check* check : check_table()) EXPECT_NE(check->run, nullptr) << check->name;
}

}  // namespace
}  // namespace guardrail::posture
