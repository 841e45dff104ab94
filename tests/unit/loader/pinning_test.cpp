// The pin directory's layout and what is refused before anything is pinned (no root needed).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "guardrail/loader/pin_dir.hpp"
#include "guardrail/loader/pinning.hpp"

namespace guardrail {
namespace {

TEST(Pinning, EveryObjectHasItsOwnPlaceAndCgroupLinksNameTheirCgroup) {
  EXPECT_EQ(map_pin("policy_maps", "events"), "maps/policy_maps/events");
  EXPECT_EQ(program_pin("net_guard", "guard_connect4"), "progs/net_guard/guard_connect4");
  EXPECT_EQ(link_pin("lsm_guard", "guard_capable"), "links/lsm_guard/guard_capable");
  EXPECT_EQ(cgroup_link_pin("net_guard", "guard_egress", 4242),
            "links/net_guard/guard_egress@4242");
}

TEST(Pinning, AdoptionSumsEveryCountAndKeepsEveryNote) {
  Adoption a{.maps_reused = 3, .programs_kept = 2, .links_kept = 5, .notes = {"one"}};
  Adoption b{.maps_created = 1, .programs_replaced = 1, .links_replaced = 4, .links_new = 2,
             .links_removed = 1, .notes = {"two"}};
  a += b;
  EXPECT_EQ(a.maps_reused, 3u);
  EXPECT_EQ(a.maps_created, 1u);
  EXPECT_EQ(a.programs_kept, 2u);
  EXPECT_EQ(a.programs_replaced, 1u);
  EXPECT_EQ(a.links_kept, 5u);
  EXPECT_EQ(a.links_replaced, 4u);
  EXPECT_EQ(a.links_new, 2u);
  EXPECT_EQ(a.links_removed, 1u);
  EXPECT_EQ(a.notes, (std::vector<std::string>{"one", "two"}));
  EXPECT_TRUE(a.adopted());
}

TEST(Pinning, AFirstStartAdoptsNothing) {
  Adoption fresh{.maps_created = 30, .programs_new = 7, .links_new = 25};
  EXPECT_FALSE(fresh.adopted());
}

TEST(PinDir, ADirectoryOffBpffsIsRefusedWithTheFix) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("guardrail-pin-test-" + std::to_string(::getpid()));
  auto pins = PinDir::open(dir.string());
  ASSERT_FALSE(pins);
  EXPECT_NE(pins.error().message.find("not on bpffs"), std::string::npos)
      << pins.error().message;
  EXPECT_NE(pins.error().message.find("--pin-dir"), std::string::npos) << pins.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir)) << "nothing may be made off bpffs";
}

TEST(PinDir, NothingPinnedWhereNothingExists) {
  EXPECT_FALSE(PinDir::holds_pins("/nonexistent/guardrail-pins"));
}

}  // namespace
}  // namespace guardrail
