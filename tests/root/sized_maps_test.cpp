// The maps sized from the policy (guardrail/loader/sized_maps.hpp) in the real kernel: a policy
// larger than the compiled-in map size loads into a fresh inner map the outer map holds, a smaller
// one shrinks it again, the old set is let go, and an agent made again from the pins finds the
// live inner maps. Needs root (CAP_BPF) and bpffs.
#include "guardrail/loader/sized_maps.hpp"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "guardrail/loader/pin_dir.hpp"
#include "guardrail/loader/pinning.hpp"
#include "guardrail/loader/policy_maps.hpp"

namespace guardrail {
namespace {

gr_zone_ip_key egress_key(std::uint32_t zone, std::uint32_t i) {
  gr_zone_ip_key k{};
  k.prefixlen = 32 + 128;
  k.zone_id = zone;
  k.addr[10] = k.addr[11] = 0xff;
  k.addr[12] = 198;
  k.addr[13] = static_cast<std::uint8_t>(18 + (i >> 16));
  k.addr[14] = static_cast<std::uint8_t>(i >> 8);
  k.addr[15] = static_cast<std::uint8_t>(i);
  return k;
}

gr_portset port(std::uint16_t p) {
  gr_portset set{};
  set.count = 1;
  set.ranges[0] = gr_port_range{p, p, GR_PROTO_TCP, {}};
  return set;
}

policy::CompiledPolicy policy_of(std::uint32_t egress, std::uint32_t flows, std::uint16_t p) {
  policy::CompiledPolicy c;
  c.name = "sized";
  for (std::uint32_t i = 0; i < egress; ++i) c.egress.emplace_back(egress_key(1, i), port(p));
  for (std::uint32_t i = 0; i < flows; ++i)
    c.flows.emplace_back(gr_flow_key{GR_WORKLOAD_ID_BASE + i, GR_WORKLOAD_ID_BASE}, port(p));
  return c;
}

class SizedMaps : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root to create BPF maps (run as root)";
    path_ = "/sys/fs/bpf/guardrail-sized-test-" + std::to_string(::getpid());
    auto pins = PinDir::open(path_);
    ASSERT_TRUE(pins) << pins.error().message;
    pins_.emplace(std::move(*pins));
  }
  void TearDown() override {
    maps_.reset();
    if (pins_) (void)pins_->remove_all(false);
  }
  void make() {
    maps_.reset();
    auto maps = PolicyMaps::create({.pins = &*pins_});
    ASSERT_TRUE(maps) << maps.error().message;
    maps_ = std::move(*maps);
  }
  std::uint32_t active_set() const {
    UniqueFd state = pins_->get(map_pin("policy_maps", "policy_state"));
    const std::uint32_t zero = 0;
    gr_policy_state s{};
    EXPECT_EQ(bpf_map_lookup_elem(state.get(), &zero, &s), 0);
    return s.active_set;
  }
  // The inner map the pinned outer map holds at `slot`, as the programs reach it.
  UniqueFd inner(const char* outer, std::uint32_t slot) const {
    UniqueFd fd = pins_->get(map_pin("policy_maps", outer));
    std::uint32_t id = 0;
    EXPECT_EQ(bpf_map_lookup_elem(fd.get(), &slot, &id), 0) << outer;
    return UniqueFd(bpf_map_get_fd_by_id(id));
  }
  static bpf_map_info info(int fd) {
    bpf_map_info i{};
    __u32 len = sizeof i;
    EXPECT_EQ(bpf_map_get_info_by_fd(fd, &i, &len), 0);
    return i;
  }
  static bool allows(int egress_fd, std::uint32_t i, std::uint16_t p) {
    gr_zone_ip_key k = egress_key(1, i);
    gr_portset v{};
    return bpf_map_lookup_elem(egress_fd, &k, &v) == 0 && v.count == 1 && v.ranges[0].lo == p;
  }
  std::string path_;
  std::optional<PinDir> pins_;
  std::unique_ptr<PolicyMaps> maps_;
};

TEST_F(SizedMaps, APolicyLargerThanTheCompiledSizeLoadsIntoAFreshInnerMap) {
  make();
  const std::uint32_t n = GR_MAX_EGRESS_RULES + 4000;
  ASSERT_TRUE(maps_->apply(policy_of(n, GR_MAX_FLOWS + 10, 443), 0, GR_WORKLOAD_ID_BASE));
  const std::uint32_t set = active_set();
  UniqueFd egress = inner("egress_allow", set);
  ASSERT_TRUE(egress);
  EXPECT_EQ(info(egress.get()).max_entries, sized_entries(kSizedMaps[2], n));
  EXPECT_GT(info(egress.get()).max_entries, std::uint32_t{GR_MAX_EGRESS_RULES});
  EXPECT_TRUE(allows(egress.get(), 0, 443));
  EXPECT_TRUE(allows(egress.get(), n - 1, 443));
  EXPECT_FALSE(allows(egress.get(), n, 443));
  // The flows HASH map, filled in one batch, holds every pair too.
  UniqueFd flows = inner("flows", set);
  gr_flow_key last{GR_WORKLOAD_ID_BASE + GR_MAX_FLOWS + 9, GR_WORKLOAD_ID_BASE};
  gr_portset v{};
  EXPECT_EQ(bpf_map_lookup_elem(flows.get(), &last, &v), 0);
  // The set's pin is the map the outer map holds (a restarted agent adopts what runs).
  UniqueFd pinned = pins_->get(map_pin("policy_maps", "egress_allow_" + std::to_string(set)));
  EXPECT_EQ(info(pinned.get()).id, info(egress.get()).id);
  // The old set was let go: an empty one of the compiled-in size stands in the inactive slot.
  UniqueFd old = inner("egress_allow", set ^ 1);
  EXPECT_EQ(info(old.get()).max_entries, std::uint32_t{GR_MAX_EGRESS_RULES});
  gr_zone_ip_key first = egress_key(1, 0);
  gr_portset v0{};
  EXPECT_NE(bpf_map_lookup_elem(old.get(), &first, &v0), 0);
}

TEST_F(SizedMaps, ASmallerPolicyShrinksTheMapAgain) {
  make();
  const std::uint32_t n = GR_MAX_EGRESS_RULES * 2;
  ASSERT_TRUE(maps_->apply(policy_of(n, 0, 443), 0, GR_WORKLOAD_ID_BASE));
  ASSERT_TRUE(maps_->apply(policy_of(10, 0, 80), 0, GR_WORKLOAD_ID_BASE));
  UniqueFd egress = inner("egress_allow", active_set());
  EXPECT_EQ(info(egress.get()).max_entries, std::uint32_t{GR_MAX_EGRESS_RULES});
  EXPECT_TRUE(allows(egress.get(), 9, 80));
  EXPECT_FALSE(allows(egress.get(), 10, 443));
}

TEST_F(SizedMaps, AnAgentMadeAgainFromThePinsFindsTheLiveInnerMaps) {
  make();
  const std::uint32_t n = GR_MAX_EGRESS_RULES + 1;
  ASSERT_TRUE(maps_->apply(policy_of(n, 0, 443), 0, GR_WORKLOAD_ID_BASE));
  make();  // a restart: every map adopted, none fresh, although the sets' sizes differ now
  EXPECT_EQ(maps_->adoption().maps_created, 0u);
  for (const auto& note : maps_->adoption().notes) ADD_FAILURE() << note;
  const std::uint32_t set = active_set();
  EXPECT_TRUE(allows(inner("egress_allow", set).get(), n - 1, 443));
  // The adopted agent swaps on: the next policy goes into the other slot, the live one stays.
  ASSERT_TRUE(maps_->apply(policy_of(n + 1, 0, 8443), 0, GR_WORKLOAD_ID_BASE));
  EXPECT_EQ(active_set(), set ^ 1);
  EXPECT_TRUE(allows(inner("egress_allow", set ^ 1).get(), n, 8443));
}

}  // namespace
}  // namespace guardrail
