// WallClock::format at the ends of its range: a corrupt record's timestamp saturates instead of
// overflowing (UBSan found `boot_ns + offset` overflowing through the fuzz target).
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "guardrail/events/events.hpp"

namespace guardrail::events {
namespace {

TEST(WallClock, HugeTimestampSaturatesAtTheEndOfTheRange) {
  const WallClock clock(1'700'000'000'000'000'000);
  EXPECT_EQ(clock.format(std::numeric_limits<std::uint64_t>::max()),
            "2262-04-11T23:47:16.854775807Z");
  EXPECT_EQ(clock.format(8'026'258'961'027'812'629), "2262-04-11T23:47:16.854775807Z");
}

TEST(WallClock, TimeBeforeTheEpochIsTheEpoch) {
  EXPECT_EQ(WallClock(-5'000'000'000).format(1'000'000'000), "1970-01-01T00:00:00.000000000Z");
}

TEST(WallClock, OrdinaryTimestamps) {
  EXPECT_EQ(WallClock(1'700'000'000'000'000'000).format(123), "2023-11-14T22:13:20.000000123Z");
}

}  // namespace
}  // namespace guardrail::events
