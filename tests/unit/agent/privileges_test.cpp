#include "privileges.hpp"

#include <gtest/gtest.h>

namespace guardrail::agent {
namespace {

constexpr std::uint64_t bit(int n) { return std::uint64_t{1} << n; }

TEST(AgentPrivileges, NamesWhatIsMissing) {
  EXPECT_EQ(missing_capabilities(0), "CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON, CAP_SYS_ADMIN");
  EXPECT_EQ(missing_capabilities(bit(39) | bit(12) | bit(38)), "CAP_SYS_ADMIN");
  EXPECT_EQ(missing_capabilities(~std::uint64_t{0}), "");
}

TEST(AgentPrivileges, SysAdminStandsInForBpfAndPerfmon) {
  EXPECT_EQ(missing_capabilities(bit(21) | bit(12)), "");
  EXPECT_EQ(missing_capabilities(bit(21)), "CAP_NET_ADMIN");
}

}  // namespace
}  // namespace guardrail::agent
