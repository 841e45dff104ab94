// missing_programs(): what the tamper check re-attaches, from the ids a cgroup carries.
#include "guardrail/loader/cgroup_attachments.hpp"

#include <gtest/gtest.h>

namespace guardrail {
namespace {

const std::vector<ExpectedProgram> kOurs = {
    {"guard_connect4", 10, 101}, {"guard_connect6", 11, 102}, {"guard_egress", 1, 103}};

std::vector<std::string> names(const std::vector<ExpectedProgram>& programs) {
  std::vector<std::string> out;
  for (const auto& p : programs) out.push_back(p.name);
  return out;
}

TEST(CgroupAttachments, NothingIsMissingWhenEveryIdIsFound) {
  EXPECT_TRUE(missing_programs(kOurs, {{10, {101}}, {11, {102}}, {1, {103}}}).empty());
}

TEST(CgroupAttachments, OthersProgramsDoNotCountAndDoNotHide) {
  // A foreign program next to ours is fine (ALLOW_MULTI: it can only refuse more) ...
  EXPECT_TRUE(missing_programs(kOurs, {{10, {7, 101}}, {11, {102, 8}}, {1, {103}}}).empty());
  // ... and one in place of ours (BPF_F_REPLACE, BPF_LINK_UPDATE) is a missing program.
  EXPECT_EQ(names(missing_programs(kOurs, {{10, {7}}, {11, {102}}, {1, {103}}})),
            std::vector<std::string>{"guard_connect4"});
}

TEST(CgroupAttachments, ADetachedHookOrAnAttachTypeNeverQueriedIsMissing) {
  EXPECT_EQ(names(missing_programs(kOurs, {{10, {}}, {11, {102}}})),
            (std::vector<std::string>{"guard_connect4", "guard_egress"}));
  EXPECT_EQ(names(missing_programs(kOurs, {})),
            (std::vector<std::string>{"guard_connect4", "guard_connect6", "guard_egress"}));
}

TEST(CgroupAttachments, AnIdOnTheWrongAttachTypeDoesNotCount) {
  EXPECT_EQ(names(missing_programs(kOurs, {{10, {102}}, {11, {101}}, {1, {103}}})),
            (std::vector<std::string>{"guard_connect4", "guard_connect6"}));
}

}  // namespace
}  // namespace guardrail
