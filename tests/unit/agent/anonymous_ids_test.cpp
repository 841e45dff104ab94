// Anonymous workload ids across a policy reload: never an id a named workload now has.
#include <gtest/gtest.h>

#include "workload_scan.hpp"

namespace guardrail::agent {
namespace {

TEST(AnonymousIds, StableAndNeverReused) {
  AnonymousIds ids(100);
  EXPECT_EQ(ids.id_of(7), 100u);
  EXPECT_EQ(ids.id_of(8), 101u);
  EXPECT_EQ(ids.id_of(7), 100u);
  ids.forget_all_but({});
  EXPECT_EQ(ids.id_of(7), 102u);
}

TEST(AnonymousIds, AReloadNamingMoreWorkloadsMovesTheOnesInTheWay) {
  AnonymousIds ids(100);  // the old policy named workloads up to id 99
  EXPECT_EQ(ids.id_of(7), 100u);
  EXPECT_EQ(ids.id_of(8), 101u);
  EXPECT_EQ(ids.id_of(9), 102u);
  ids.start_at_least(102);        // the new one names two more: 100 and 101 are theirs now
  EXPECT_EQ(ids.id_of(9), 102u);  // kept: above the named ones
  EXPECT_EQ(ids.id_of(7), 103u);
  EXPECT_EQ(ids.id_of(8), 104u);
}

TEST(AnonymousIds, AReloadNamingFewerKeepsEveryId) {
  AnonymousIds ids(100);
  EXPECT_EQ(ids.id_of(7), 100u);
  ids.start_at_least(98);
  EXPECT_EQ(ids.id_of(7), 100u);
  EXPECT_EQ(ids.id_of(8), 101u);  // and no id goes back below what was handed out
}

}  // namespace
}  // namespace guardrail::agent
