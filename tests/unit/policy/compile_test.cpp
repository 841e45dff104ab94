#include "guardrail/policy/compile.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "guardrail/policy/model.hpp"
#include "guardrail/policy/parse.hpp"
#include "policy_test_helpers.hpp"

namespace guardrail::policy {
namespace {

using Bytes = std::array<std::uint8_t, 16>;

Policy parse(const std::string& spec_body) { return test_helpers::parse_spec(spec_body); }

Cidr cidr(const std::string& text) { return test_helpers::cidr_of(text); }

Bytes bytes(const std::uint8_t (&addr)[16]) {
  Bytes out;
  std::memcpy(out.data(), addr, 16);
  return out;
}

Bytes v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d};
}

struct Range {
  std::uint16_t lo, hi;
  std::uint8_t proto;
  bool operator==(const Range&) const = default;
};

std::vector<Range> ranges(const gr_portset& set) {
  std::vector<Range> out;
  for (std::uint32_t i = 0; i < set.count && i < GR_MAX_PORT_RANGES; ++i)
    out.push_back({set.ranges[i].lo, set.ranges[i].hi, set.ranges[i].proto});
  return out;
}

const gr_portset* find_flow(const CompiledPolicy& c, std::uint32_t src, std::uint32_t dst) {
  for (const auto& [key, set] : c.flows)
    if (key.src_id == src && key.dst_id == dst) return &set;
  return nullptr;
}

const std::string kTwoZones = R"(  mode: enforce
  zones:
    - name: agents
      mode: audit
      selector: {cgroups: ["/guardrail/agents/*"]}
    - name: control
      selector: {cgroups: ["/guardrail/control/*"]}
  workloads:
    - name: orchestrator
      zone: control
      cgroup: /guardrail/control/orchestrator
      addresses: ["198.18.0.2", "fd00::2"]
    - name: spire-server
      zone: control
      cgroup: /guardrail/control/spire-server
      exclusive: true
)";

TEST(PolicyCompile, ZoneAndWorkloadIdsFollowFileOrder) {
  const Policy p = parse(kTwoZones);
  auto c = compile(p, {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->name, "t");
  EXPECT_EQ(c->mode, Mode::Enforce);
  EXPECT_EQ(c->zone_names, (std::map<std::uint32_t, std::string>{{GR_ZONE_ID_MIN, "agents"},
                                                                 {GR_ZONE_ID_MIN + 1, "control"}}));
  EXPECT_EQ(c->workload_names,
            (std::map<std::uint32_t, std::string>{{GR_WORKLOAD_ID_BASE, "orchestrator"},
                                                  {GR_WORKLOAD_ID_BASE + 1, "spire-server"}}));
  EXPECT_EQ(c->workload_zone, (std::map<std::uint32_t, std::uint32_t>{
                                  {GR_WORKLOAD_ID_BASE, GR_ZONE_ID_MIN + 1},
                                  {GR_WORKLOAD_ID_BASE + 1, GR_ZONE_ID_MIN + 1}}));
  EXPECT_EQ(c->workload_flags,
            (std::map<std::uint32_t, std::uint32_t>{{GR_WORKLOAD_ID_BASE, 0u},
                                                    {GR_WORKLOAD_ID_BASE + 1, GR_WL_EXCLUSIVE}}));
  EXPECT_TRUE(c->cgroups.empty());
  EXPECT_TRUE(c->flows.empty());
  EXPECT_TRUE(c->egress.empty());
}

TEST(PolicyCompile, StaticAddressesBecomeIpv4MappedIdentities) {
  auto c = compile(parse(kTwoZones), {});
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->identities.size(), 2u);
  // Sorted by address: ::ffff:198.18.0.2 sorts before fd00::2.
  const auto& [k4, id4] = c->identities[0];
  EXPECT_EQ(k4.prefixlen, 128u);
  EXPECT_EQ(bytes(k4.addr), v4(198, 18, 0, 2));
  EXPECT_EQ(id4.workload_id, GR_WORKLOAD_ID_BASE);
  EXPECT_EQ(id4.zone_id, GR_ZONE_ID_MIN + 1u);
  EXPECT_EQ(id4.flags, 0u);  // no cgroup of this host is bound to it: not GR_WL_ON_THIS_HOST
  EXPECT_EQ(id4.reserved, 0u);
  const auto& [k6, id6] = c->identities[1];
  EXPECT_EQ(k6.prefixlen, 128u);
  EXPECT_EQ(bytes(k6.addr), (Bytes{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}));
  EXPECT_EQ(id6.workload_id, GR_WORKLOAD_ID_BASE);
}

TEST(PolicyCompile, BindingsMapCgroupsToNamedAndAnonymousWorkloads) {
  const Policy p = parse(kTwoZones);
  const std::vector<WorkloadBinding> bindings = {
      {"", "agents", "/guardrail/agents/b", 902, {cidr("10.0.0.2")}},
      {"spire-server", "control", "/guardrail/control/spire-server", 700, {cidr("10.1.0.9")}},
      {"", "agents", "/guardrail/agents/a", 901, {cidr("10.0.0.1"), cidr("fd00::a")}},
      {"orchestrator", "", "/guardrail/control/orchestrator", 500, {cidr("198.18.0.2")}},
      {"orchestrator", "control", "/guardrail/control/orchestrator/child", 501, {}},
  };
  auto c = compile(p, bindings);
  ASSERT_TRUE(c) << c.error().message;
  const std::uint32_t orch = GR_WORKLOAD_ID_BASE, spire = GR_WORKLOAD_ID_BASE + 1;
  const std::uint32_t anon_b = GR_WORKLOAD_ID_BASE + 2, anon_a = GR_WORKLOAD_ID_BASE + 3;
  const std::uint32_t agents = GR_ZONE_ID_MIN, control = GR_ZONE_ID_MIN + 1;
  EXPECT_EQ(c->workload_names.at(anon_b), "agents:/guardrail/agents/b");
  EXPECT_EQ(c->workload_names.at(anon_a), "agents:/guardrail/agents/a");
  EXPECT_EQ(c->workload_zone.at(anon_a), agents);
  EXPECT_EQ(c->workload_flags.at(anon_a), static_cast<std::uint32_t>(GR_WL_AUDIT));

  // Sorted by cgroup id.
  ASSERT_EQ(c->cgroups.size(), 5u);
  const std::vector<std::uint64_t> ids = {c->cgroups[0].first, c->cgroups[1].first,
                                          c->cgroups[2].first, c->cgroups[3].first,
                                          c->cgroups[4].first};
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{500, 501, 700, 901, 902}));
  auto expect_workload = [&](std::size_t i, std::uint32_t wid, std::uint32_t zid,
                             std::uint32_t flags) {
    const gr_workload& w = c->cgroups[i].second;
    EXPECT_EQ(w.workload_id, wid) << i;
    EXPECT_EQ(w.zone_id, zid) << i;
    EXPECT_EQ(w.flags, flags) << i;
    EXPECT_EQ(w.reserved, 0u) << i;
  };
  expect_workload(0, orch, control, 0);
  expect_workload(1, orch, control, 0);
  expect_workload(2, spire, control, GR_WL_EXCLUSIVE);
  expect_workload(3, anon_a, agents, GR_WL_AUDIT);
  expect_workload(4, anon_b, agents, GR_WL_AUDIT);

  // 198.18.0.2 is both static and discovered for the orchestrator: one entry.
  struct Entry {
    Bytes addr;
    std::uint32_t prefixlen, workload, zone, flags;
    bool operator==(const Entry&) const = default;
  };
  std::vector<Entry> entries;
  for (const auto& [k, v] : c->identities)
    entries.push_back({bytes(k.addr), k.prefixlen, v.workload_id, v.zone_id, v.flags});
  const Bytes fd00_2 = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  const Bytes fd00_a = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa};
  // Every one of them is bound on this host: its hooks run here.
  constexpr std::uint32_t kHere = GR_WL_ON_THIS_HOST;
  EXPECT_EQ(entries, (std::vector<Entry>{
                         {v4(10, 0, 0, 1), 128, anon_a, agents, GR_WL_AUDIT | kHere},
                         {v4(10, 0, 0, 2), 128, anon_b, agents, GR_WL_AUDIT | kHere},
                         {v4(10, 1, 0, 9), 128, spire, control, GR_WL_EXCLUSIVE | kHere},
                         {v4(198, 18, 0, 2), 128, orch, control, kHere},
                         {fd00_2, 128, orch, control, kHere},
                         {fd00_a, 128, anon_a, agents, GR_WL_AUDIT | kHere},
                     }));
}

TEST(PolicyCompile, AuditFlagFollowsZoneOverrideOfPolicyMode) {
  const Policy p = parse(R"(  mode: audit
  zones:
    - name: strict
      mode: enforce
    - name: lax
  workloads:
    - {name: s, zone: strict, addresses: [10.0.0.1], exclusive: true}
    - {name: l, zone: lax, addresses: [10.0.1.0/24]}
)");
  auto c = compile(p, {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->mode, Mode::Audit);
  ASSERT_EQ(c->identities.size(), 2u);
  EXPECT_EQ(c->identities[0].second.workload_id, GR_WORKLOAD_ID_BASE);
  EXPECT_EQ(c->identities[0].second.flags, static_cast<std::uint32_t>(GR_WL_EXCLUSIVE));
  EXPECT_EQ(c->identities[1].second.workload_id, GR_WORKLOAD_ID_BASE + 1);
  EXPECT_EQ(c->identities[1].second.flags, static_cast<std::uint32_t>(GR_WL_AUDIT));
  EXPECT_EQ(c->identities[1].first.prefixlen, 120u);  // 96 + 24
  EXPECT_EQ(bytes(c->identities[1].first.addr), v4(10, 0, 1, 0));

  const std::vector<WorkloadBinding> anon = {{"", "lax", "/x/a", 1, {}},
                                             {"", "strict", "/x/b", 2, {}}};
  auto with = compile(p, anon);
  ASSERT_TRUE(with) << with.error().message;
  EXPECT_EQ(with->cgroups[0].second.flags, static_cast<std::uint32_t>(GR_WL_AUDIT));
  EXPECT_EQ(with->cgroups[1].second.flags, 0u);
}

TEST(PolicyCompile, SameAddressForTwoWorkloadsOfTheFileIsAnError) {
  // The parser refuses this already (with positions); compile must not let it through either.
  Policy p = parse(R"(  zones:
    - name: z
  workloads:
    - {name: one, zone: z, addresses: ["198.18.0.2"]}
    - {name: two, zone: z}
)");
  p.workloads[1].addresses = {cidr("198.18.0.2")};
  auto c = compile(p, {});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message,
            "address 198.18.0.2/32 is claimed by both workload 'one' and workload 'two'; an "
            "address may belong to one workload only");
}

// Two workload cgroups that share a network namespace both claim its address: enforcement goes
// on, the address names the default zone (fail closed) and the problem is reported.
TEST(PolicyCompile, AnAddressDiscoveryFoundTwiceNamesTheDefaultZone) {
  const Policy p = parse(kTwoZones + "  defaultZone: agents\n");
  const std::vector<WorkloadBinding> bindings = {
      {"", "agents", "/guardrail/agents/a", 901, {cidr("198.18.0.2"), cidr("198.18.0.9")}},
      {"", "agents", "/guardrail/agents/b", 902, {cidr("198.18.0.9")}}};
  auto c = compile(p, bindings);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->problems.size(), 2u);
  EXPECT_EQ(c->problems[0].problem, "address_conflict");
  EXPECT_EQ(c->problems[0].subject, "198.18.0.2/32");
  EXPECT_EQ(c->problems[0].workloads,
            (std::vector<std::string>{"orchestrator", "agents:/guardrail/agents/a"}));
  EXPECT_EQ(c->problems[0].placed_in, "agents");
  EXPECT_NE(c->problems[0].message.find("default zone 'agents'"), std::string::npos)
      << c->problems[0].message;
  EXPECT_EQ(c->problems[1].subject, "198.18.0.9/32");
  const std::uint32_t agents = c->zone_names.begin()->first;
  for (const auto& [key, id] : c->identities) {
    if (bytes(key.addr) == v4(198, 18, 0, 2) || bytes(key.addr) == v4(198, 18, 0, 9)) {
      EXPECT_EQ(id.workload_id, 0u) << "no workload owns a conflicting address";
      EXPECT_EQ(id.zone_id, agents);
      EXPECT_EQ(id.flags, static_cast<std::uint32_t>(GR_WL_AUDIT));  // agents is in audit mode
    }
  }
  // Both cgroups stay bound to their own workloads.
  ASSERT_EQ(c->cgroups.size(), 2u);
  EXPECT_NE(c->cgroups[0].second.workload_id, c->cgroups[1].second.workload_id);
  // fd00::2 is the orchestrator's alone.
  EXPECT_TRUE(std::ranges::any_of(c->identities, [](const auto& e) {
    return e.first.prefixlen == 128 && e.second.workload_id == GR_WORKLOAD_ID_BASE;
  }));
}

TEST(PolicyCompile, WithoutADefaultZoneAConflictingAddressNamesNoOne) {
  Policy p = parse(R"(  zones:
    - name: z
)");
  p.default_zone.clear();
  const std::vector<WorkloadBinding> bindings = {{"", "z", "/a", 1, {cidr("198.18.0.7")}},
                                                 {"", "z", "/b", 2, {cidr("198.18.0.7")}}};
  auto c = compile(p, bindings);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->identities.empty());
  ASSERT_EQ(c->problems.size(), 1u);
  EXPECT_TRUE(c->problems[0].placed_in.empty());
}

TEST(PolicyCompile, PlaceholdersCountForDescendantsOnly) {
  const Policy p = parse(kTwoZones);
  std::vector<WorkloadBinding> bindings = {
      {"", "agents", "/guardrail/agents", 10, {}},
      {"", "agents", "/guardrail/agents/a", 11, {}},
      {"orchestrator", "control", "/guardrail/control", 13, {}}};
  bindings[0].kind = BindingKind::Placeholder;
  bindings[2].kind = BindingKind::Placeholder;
  auto c = compile(p, bindings);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->cgroups.size(), 3u);
  const auto& [id10, placeholder] = c->cgroups[0];
  EXPECT_EQ(id10, 10u);
  EXPECT_EQ(placeholder.flags, static_cast<std::uint32_t>(GR_WL_AUDIT | GR_WL_PLACEHOLDER));
  EXPECT_EQ(c->workload_names.at(placeholder.workload_id), "agents:/guardrail/agents/*");
  EXPECT_EQ(c->zone_names.at(placeholder.zone_id), "agents");
  EXPECT_EQ(c->cgroups[1].second.flags, static_cast<std::uint32_t>(GR_WL_AUDIT));
  EXPECT_NE(c->cgroups[1].second.workload_id, placeholder.workload_id);
  // A named workload's placeholder is that workload, for its descendants only.
  EXPECT_EQ(c->cgroups[2].second.workload_id, GR_WORKLOAD_ID_BASE);
  EXPECT_EQ(c->cgroups[2].second.flags, static_cast<std::uint32_t>(GR_WL_PLACEHOLDER));
}

TEST(PolicyCompile, FlowsUseZoneOrWorkloadIdsAndPortRanges) {
  const Policy p = parse(kTwoZones + R"(  flows:
    - from: {zone: agents}
      to: {workload: orchestrator}
      protocol: tcp
      ports: [8080, "9000-9100"]
    - from: {workload: orchestrator}
      to: {zone: agents}
    - from: {zone: control}
      to: {zone: agents}
      protocol: icmp
    - from: {zone: agents}
      to: {workload: orchestrator}
      protocol: udp
      ports: [53, 8080]
    - from: {zone: agents}
      to: {workload: orchestrator}
      protocol: tcp
      ports: [8080, 443]
)");
  auto c = compile(p, {});
  ASSERT_TRUE(c) << c.error().message;
  const std::uint32_t agents = GR_ZONE_ID_MIN, control = GR_ZONE_ID_MIN + 1,
                      orch = GR_WORKLOAD_ID_BASE;
  ASSERT_EQ(c->flows.size(), 3u);
  // Sorted by (src, dst).
  EXPECT_EQ(c->flows[0].first.src_id, agents);
  EXPECT_EQ(c->flows[0].first.dst_id, orch);
  EXPECT_EQ(c->flows[1].first.src_id, control);
  EXPECT_EQ(c->flows[1].first.dst_id, agents);
  EXPECT_EQ(c->flows[2].first.src_id, orch);
  EXPECT_EQ(c->flows[2].first.dst_id, agents);
  // Merged in file order; the repeated tcp/8080 is dropped, udp/8080 is distinct.
  EXPECT_EQ(ranges(c->flows[0].second), (std::vector<Range>{{8080, 8080, GR_PROTO_TCP},
                                                            {9000, 9100, GR_PROTO_TCP},
                                                            {53, 53, GR_PROTO_UDP},
                                                            {8080, 8080, GR_PROTO_UDP},
                                                            {443, 443, GR_PROTO_TCP}}));
  EXPECT_EQ(c->flows[0].second.count, 5u);
  EXPECT_EQ(ranges(c->flows[1].second), (std::vector<Range>{{0, 65535, GR_PROTO_ICMP}}));
  EXPECT_EQ(ranges(c->flows[2].second), (std::vector<Range>{{0, 65535, GR_PROTO_ANY}}));
  // Unused slots stay zero.
  EXPECT_EQ(c->flows[2].second.ranges[1].hi, 0);
  EXPECT_EQ(c->rule_count(), 3u);
}

std::string ports_list(int n, int first) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) out += (i ? ", " : "") + std::to_string(first + i * 2);
  return out + "]";
}

TEST(PolicyCompile, SixteenRangesFitSeventeenDoNot) {
  const std::string flow =
      "  flows:\n    - from: {zone: agents}\n      to: {workload: orchestrator}\n"
      "      protocol: tcp\n      ports: ";
  auto fits = compile(parse(kTwoZones + flow + ports_list(16, 1000) + "\n"), {});
  ASSERT_TRUE(fits) << fits.error().message;
  EXPECT_EQ(fits->flows[0].second.count, 16u);

  // Split over two rules: the merge is what overflows.
  const std::string second =
      "    - from: {zone: agents}\n      to: {workload: orchestrator}\n"
      "      ports: [22]\n";
  auto c = compile(parse(kTwoZones + flow + ports_list(16, 1000) + "\n" + second), {});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message,
            "the flow from zone 'agents' to workload 'orchestrator' needs 17 port ranges, more "
            "than the 16 one rule can hold; combine ports into fewer \"lo-hi\" ranges");
}

TEST(PolicyCompile, EgressKeysCarryZoneAndMappedPrefix) {
  const Policy p = parse(R"(  zones:
    - name: a
    - name: b
      egress:
        - cidr: 198.18.200.0/24
          protocol: tcp
          ports: [443, "8000-8100"]
        - cidr: 2001:db8::/32
          protocol: udp
)");
  auto c = compile(p, {});
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->egress.size(), 2u);
  const auto& [k4, s4] = c->egress[0];
  EXPECT_EQ(k4.prefixlen, 32u + 96u + 24u);
  EXPECT_EQ(k4.zone_id, GR_ZONE_ID_MIN + 1u);
  EXPECT_EQ(bytes(k4.addr), v4(198, 18, 200, 0));
  EXPECT_EQ(ranges(s4), (std::vector<Range>{{443, 443, GR_PROTO_TCP}, {8000, 8100, GR_PROTO_TCP}}));
  const auto& [k6, s6] = c->egress[1];
  EXPECT_EQ(k6.prefixlen, 32u + 32u);
  EXPECT_EQ(k6.zone_id, GR_ZONE_ID_MIN + 1u);
  EXPECT_EQ(bytes(k6.addr), (Bytes{0x20, 0x01, 0x0d, 0xb8}));
  EXPECT_EQ(ranges(s6), (std::vector<Range>{{0, 65535, GR_PROTO_UDP}}));
  EXPECT_EQ(c->rule_count(), 2u);
}

// Host services (reached inside one network namespace, owned by no workload) are named only by
// rules for loopback: those also go under GR_ZONE_LOCAL_HOST; 0.0.0.0/0 and ::/0 never do.
TEST(PolicyCompile, OnlyLoopbackRulesNameHostServices) {
  const Policy p = parse(R"(  zones:
    - name: a
      egress:
        - {cidr: 0.0.0.0/0, protocol: tcp, ports: [443]}
        - {cidr: "::/0", protocol: tcp, ports: [443]}
        - {cidr: 127.0.0.53, protocol: udp, ports: [53]}
        - {cidr: "::1", protocol: tcp, ports: [8080]}
)");
  auto c = compile(p, {});
  ASSERT_TRUE(c) << c.error().message;
  std::vector<std::pair<Bytes, std::uint32_t>> host;
  std::size_t world = 0;
  for (const auto& [k, s] : c->egress) {
    if (k.zone_id == (GR_ZONE_ID_MIN | GR_ZONE_LOCAL_HOST))
      host.emplace_back(bytes(k.addr), k.prefixlen);
    else
      ++world;
  }
  const Bytes ipv6_loopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(host, (std::vector<std::pair<Bytes, std::uint32_t>>{{ipv6_loopback, 32 + 128},
                                                                {v4(127, 0, 0, 53), 32 + 128}}));
  EXPECT_EQ(world, 4u);
}

TEST(PolicyCompile, MoreSpecificEgressPrefixesInheritContainingOnes) {
  const Policy p = parse(R"(  zones:
    - name: a
      egress:
        - {cidr: 198.18.0.0/15, protocol: tcp, ports: [443]}
        - {cidr: 198.18.200.0/24, protocol: tcp, ports: [8443]}
        - {cidr: 198.18.200.7, protocol: udp, ports: [53]}
        - {cidr: 198.18.200.0/24, protocol: tcp, ports: [443]}
        - {cidr: 10.0.0.0/8, protocol: any}
    - name: b
      egress:
        - {cidr: 198.18.200.0/25, protocol: tcp, ports: [22]}
)");
  auto c = compile(p, {});
  ASSERT_TRUE(c) << c.error().message;
  struct Entry {
    std::uint32_t zone, prefixlen;
    Bytes addr;
    std::vector<Range> ranges;
    bool operator==(const Entry&) const = default;
  };
  std::vector<Entry> got;
  for (const auto& [k, s] : c->egress)
    got.push_back({k.zone_id, k.prefixlen, bytes(k.addr), ranges(s)});
  const Range tcp443{443, 443, GR_PROTO_TCP}, tcp8443{8443, 8443, GR_PROTO_TCP},
      udp53{53, 53, GR_PROTO_UDP};
  EXPECT_EQ(got, (std::vector<Entry>{
                     {1, 32 + 104, v4(10, 0, 0, 0), {{0, 65535, GR_PROTO_ANY}}},
                     {1, 32 + 111, v4(198, 18, 0, 0), {tcp443}},
                     // Its own 8443 and 443 (written twice: once), nothing new from the /15.
                     {1, 32 + 120, v4(198, 18, 200, 0), {tcp8443, tcp443}},
                     // Own udp/53, then the /24's ranges, then the /15's (already there).
                     {1, 32 + 128, v4(198, 18, 200, 7), {udp53, tcp8443, tcp443}},
                     // Zone b inherits nothing from zone a.
                     {2, 32 + 121, v4(198, 18, 200, 0), {{22, 22, GR_PROTO_TCP}}},
                 }));
}

// A prefix named by several rules (a list file and an inline rule), or twice in one list file,
// is one entry: its ranges merged in rule order, then what containing prefixes add.
TEST(PolicyCompile, EgressPrefixesRepeatedAcrossRulesAndListFilesAreOneEntry) {
  Policy p = parse("  zones:\n    - name: a\n");
  const auto cidr = [](const std::string& text) { return *parse_cidr(text); };
  EgressRule listed{
      .cidr_file = "/lists/a.txt",
      .file_cidrs = {cidr("198.18.1.0/24"), cidr("198.18.1.5/32"), cidr("198.18.1.0/24")},
      .protocol = Protocol::Tcp,
      .ports = {{443, 443}}};
  EgressRule inline_rule{
      .cidr = cidr("198.18.1.5/32"), .protocol = Protocol::Udp, .ports = {{53, 53}}};
  p.zones[0].egress = {listed, inline_rule};
  auto c = compile(p, {});
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->egress.size(), 2u);
  const Range tcp443{443, 443, GR_PROTO_TCP}, udp53{53, 53, GR_PROTO_UDP};
  EXPECT_EQ(c->egress[0].first.prefixlen, 32u + 96u + 24u);
  EXPECT_EQ(ranges(c->egress[0].second), (std::vector<Range>{tcp443}));
  EXPECT_EQ(bytes(c->egress[1].first.addr), v4(198, 18, 1, 5));
  EXPECT_EQ(ranges(c->egress[1].second), (std::vector<Range>{tcp443, udp53}));
}

TEST(PolicyCompile, InheritedEgressRangesCountTowardsTheLimit) {
  const Policy p = parse(
      "  zones:\n    - name: a\n      egress:\n"
      "        - {cidr: 10.0.0.0/8, protocol: tcp, ports: " +
      ports_list(10, 1000) +
      "}\n        - {cidr: 10.1.0.0/16, protocol: udp, ports: " + ports_list(7, 2000) + "}\n");
  auto c = compile(p, {});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message,
            "egress of zone 'a' to 10.1.0.0/16 (with the ranges it inherits from containing "
            "prefixes) needs 17 port ranges, more than the 16 one rule can hold; combine ports "
            "into fewer \"lo-hi\" ranges");
}

TEST(PolicyCompile, RejectsInconsistentBindings) {
  const Policy p = parse(kTwoZones);
  const std::vector<WorkloadBinding> unknown = {{"ghost", "control", "/g", 1, {}}};
  auto c = compile(p, unknown);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, "cgroup /g is bound to unknown workload 'ghost'");

  const std::vector<WorkloadBinding> wrong_zone = {{"orchestrator", "agents", "/o", 1, {}}};
  c = compile(p, wrong_zone);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message,
            "cgroup /o is bound to workload 'orchestrator' in zone 'agents', but the workload "
            "belongs to zone 'control'");

  const std::vector<WorkloadBinding> no_zone = {{"", "nowhere", "/n", 1, {}}};
  c = compile(p, no_zone);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, "cgroup /n is bound to unknown zone 'nowhere'");

  const std::vector<WorkloadBinding> twice = {{"", "agents", "/a", 7, {}},
                                              {"orchestrator", "", "/o", 7, {}}};
  c = compile(p, twice);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, "cgroup id 7 is bound twice (/a and /o)");
}

}  // namespace
}  // namespace guardrail::policy
