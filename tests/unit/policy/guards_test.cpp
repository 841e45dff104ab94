// Host guards (spec.zones[].guards): parsing, diagnostics, capability names, compilation to
// host_policy entries and the runtime socket paths, and the listing.
#include <gtest/gtest.h>

#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/describe.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/policy/parse.hpp"
#include "guardrail/policy/vocabulary.hpp"
#include "policy_test_helpers.hpp"

namespace guardrail::policy {
namespace {

constexpr std::uint64_t bit(int n) { return std::uint64_t{1} << n; }

using test_helpers::dump;
using test_helpers::parse_ok;

// The test document header, then "  zones:" (line 6) and "    - name: z" (line 7); `zone_body`
// starts at line 8.
std::string doc(const std::string& zone_body) {
  return test_helpers::doc("  zones:\n    - name: z\n" + zone_body);
}

HostGuards guards_of(const std::string& zone_body) {
  const Policy p = parse_ok(doc(zone_body));
  if (p.zones.size() != 1) return {};
  return p.zones[0].guards;
}

// Exactly one diagnostic, at line:column, whose message contains every fragment.
void expect_error(const std::string& zone_body, int line, int column,
                  std::initializer_list<std::string> fragments) {
  test_helpers::expect_one_error(doc(zone_body), line, column, fragments);
}

// --- capability names -----------------------------------------------------------------------

TEST(PolicyGuardsCapabilities, NamesAndNumbers) {
  EXPECT_EQ(kLastCapability, 40);
  EXPECT_EQ(kAllCapabilities, 0x1FFFFFFFFFFull);
  EXPECT_EQ(capability_name(0), "CAP_CHOWN");
  EXPECT_EQ(capability_name(12), "CAP_NET_ADMIN");
  EXPECT_EQ(capability_name(13), "CAP_NET_RAW");
  EXPECT_EQ(capability_name(21), "CAP_SYS_ADMIN");
  EXPECT_EQ(capability_name(38), "CAP_PERFMON");
  EXPECT_EQ(capability_name(39), "CAP_BPF");
  EXPECT_EQ(capability_name(40), "CAP_CHECKPOINT_RESTORE");
  EXPECT_EQ(capability_name(41), "CAP_41");
  EXPECT_EQ(capability_name(63), "CAP_63");

  EXPECT_EQ(capability_number("CAP_NET_RAW"), 13);
  EXPECT_EQ(capability_number("NET_RAW"), 13);
  EXPECT_EQ(capability_number("net_raw"), 13);
  EXPECT_EQ(capability_number("cap_net_raw"), 13);
  EXPECT_EQ(capability_number("Cap_Sys_Admin"), 21);
  EXPECT_EQ(capability_number("CAP_CHOWN"), 0);
  EXPECT_EQ(capability_number("checkpoint_restore"), 40);
  EXPECT_EQ(capability_number("ALL"), std::nullopt);  // a keyword of the deny list, not a cap
  EXPECT_EQ(capability_number("CAP_NET_RAWW"), std::nullopt);
  EXPECT_EQ(capability_number("CAP_"), std::nullopt);
  EXPECT_EQ(capability_number(""), std::nullopt);
  EXPECT_EQ(capability_number("CAP_41"), std::nullopt);
  EXPECT_EQ(capability_number("13"), std::nullopt);
}

TEST(PolicyGuardsCapabilities, RoundTripEveryCapability) {
  std::uint64_t all = 0;
  for (int n = 0; n <= kLastCapability; ++n) {
    const std::string name = capability_name(n);
    ASSERT_TRUE(name.starts_with("CAP_")) << n;
    EXPECT_EQ(capability_number(name), n) << name;
    EXPECT_EQ(capability_number(name.substr(4)), n) << name;
    all |= bit(n);
  }
  EXPECT_EQ(all, kAllCapabilities);
}

// --- parsing --------------------------------------------------------------------------------

TEST(PolicyGuardsParse, EveryGuard) {
  const HostGuards g = guards_of(
      "      guards:\n"  // 8
      "        capabilities: {deny: [CAP_NET_RAW, sys_admin, NET_RAW], action: kill}\n"
      "        rawSockets: {action: audit}\n"
      "        mounts: {action: deny}\n"
      "        runtimeSockets:\n"
      "          action: kill\n"
      "          paths: [/run/podman/podman.sock, /run/user/1000/podman/podman.sock,\n"
      "                  /run/podman/podman.sock]\n"
      "        bpf: {action: audit}\n");
  EXPECT_EQ(g.capabilities, Action::Kill);
  EXPECT_EQ(g.denied_caps, bit(13) | bit(21));  // the duplicate NET_RAW is ignored
  EXPECT_EQ(g.raw_sockets, Action::Audit);
  EXPECT_EQ(g.mounts, Action::Deny);
  EXPECT_EQ(g.runtime_sockets, Action::Kill);
  EXPECT_EQ(
      g.runtime_socket_paths,
      (std::vector<std::string>{"/run/podman/podman.sock", "/run/user/1000/podman/podman.sock"}));
  EXPECT_EQ(g.bpf, Action::Audit);
  EXPECT_EQ(g.pos.line, 9);
  EXPECT_EQ(g.pos.column, 9);
}

TEST(PolicyGuardsParse, ActionDefaultsToDenyAndUnlistedGuardsAreNone) {
  const HostGuards g = guards_of(
      "      guards:\n"
      "        capabilities: {deny: [CAP_BPF]}\n"
      "        rawSockets: {}\n");
  EXPECT_EQ(g.capabilities, Action::Deny);
  EXPECT_EQ(g.denied_caps, bit(39));
  EXPECT_EQ(g.raw_sockets, Action::Deny);
  EXPECT_EQ(g.mounts, Action::None);
  EXPECT_EQ(g.runtime_sockets, Action::None);
  EXPECT_TRUE(g.runtime_socket_paths.empty());
  EXPECT_EQ(g.bpf, Action::None);

  // Each guard on its own, with the default action.
  EXPECT_EQ(guards_of("      guards: {mounts: {}}\n").mounts, Action::Deny);
  EXPECT_EQ(guards_of("      guards: {bpf: {}}\n").bpf, Action::Deny);
  const HostGuards rs = guards_of("      guards: {runtimeSockets: {}}\n");
  EXPECT_EQ(rs.runtime_sockets, Action::Deny);
  EXPECT_TRUE(rs.runtime_socket_paths.empty());
}

TEST(PolicyGuardsParse, NoGuardsMeansNone) {
  for (const std::string body : {"", "      guards: {}\n"}) {
    const HostGuards g = guards_of(body);
    EXPECT_EQ(g.capabilities, Action::None) << body;
    EXPECT_EQ(g.denied_caps, 0u) << body;
    EXPECT_EQ(g.raw_sockets, Action::None) << body;
    EXPECT_EQ(g.mounts, Action::None) << body;
    EXPECT_EQ(g.runtime_sockets, Action::None) << body;
    EXPECT_EQ(g.bpf, Action::None) << body;
  }
}

TEST(PolicyGuardsParse, AllDeniesEveryCapability) {
  EXPECT_EQ(guards_of("      guards: {capabilities: {deny: [ALL]}}\n").denied_caps,
            0x1FFFFFFFFFFull);
  EXPECT_EQ(guards_of("      guards: {capabilities: {deny: [all, CAP_BPF]}}\n").denied_caps,
            kAllCapabilities);
  EXPECT_EQ(guards_of("      guards: {capabilities: {deny: [CAP_CHOWN, checkpoint_restore]}}\n")
                .denied_caps,
            bit(0) | bit(40));
}

TEST(PolicyGuardsParse, RuntimeSocketPathLimits) {
  const std::string longest = "/run/" + std::string(102, 'a');  // 107 bytes
  ASSERT_EQ(longest.size(), 107u);
  EXPECT_EQ(guards_of("      guards: {runtimeSockets: {paths: [" + longest + "]}}\n")
                .runtime_socket_paths,
            std::vector<std::string>{longest});
}

// --- diagnostics ----------------------------------------------------------------------------

TEST(PolicyGuardsErrors, UnknownCapabilitySuggestsTheNearOne) {
  expect_error(
      "      guards:\n"
      "        capabilities: {deny: [CAP_SYS_ADMIN, CAP_NET_RAWW]}\n",
      9, 46,
      {"unknown capability 'CAP_NET_RAWW'", "capabilities(7)", "did you mean 'CAP_NET_RAW'?"});
  expect_error(
      "      guards:\n"
      "        capabilities:\n"
      "          deny:\n"
      "            - net_raww\n",
      11, 15, {"unknown capability 'net_raww'", "did you mean 'CAP_NET_RAW'?"});
  expect_error("      guards: {capabilities: {deny: [AL]}}\n", 8, 38,
               {"unknown capability 'AL'", "did you mean 'ALL'?"});
  auto p = parse_policy(doc("      guards: {capabilities: {deny: [TIME_TRAVEL]}}\n"), "t.yaml");
  ASSERT_FALSE(p);
  ASSERT_EQ(p.error().size(), 1u) << dump(p.error());
  EXPECT_EQ(p.error()[0].format(),
            "t.yaml:8:38: error: unknown capability 'TIME_TRAVEL'; write a name from "
            "capabilities(7) such as CAP_NET_RAW (the CAP_ prefix and case are optional), or ALL");
}

TEST(PolicyGuardsErrors, EveryBadCapabilityIsReported) {
  auto p = parse_policy(doc("      guards:\n"
                            "        capabilities:\n"
                            "          deny: [CAP_NET_RAWW, CAP_BPF, SYS_ADMN, [x]]\n"),
                        "t.yaml");
  ASSERT_FALSE(p);
  ASSERT_EQ(p.error().size(), 3u) << dump(p.error());
  EXPECT_EQ(p.error()[0].pos.line, 10);
  EXPECT_EQ(p.error()[0].pos.column, 18);
  EXPECT_EQ(p.error()[1].pos.column, 41);
  EXPECT_NE(p.error()[1].message.find("did you mean 'CAP_SYS_ADMIN'?"), std::string::npos);
  EXPECT_EQ(p.error()[2].pos.column, 51);
  EXPECT_EQ(p.error()[2].message,
            "each capability must be a name like CAP_NET_RAW or ALL, got a list");
}

TEST(PolicyGuardsErrors, DenyListEmptyOrMissing) {
  expect_error(
      "      guards:\n"
      "        capabilities: {deny: [], action: deny}\n",
      9, 30, {"the capabilities deny list is empty", "deny: [ALL]"});
  expect_error(
      "      guards:\n"
      "        capabilities:\n"
      "          deny:\n"
      "          action: audit\n",
      10, 11, {"the capabilities deny list is empty"});
  expect_error(
      "      guards:\n"
      "        capabilities: {action: deny}\n",
      9, 23, {"missing required field 'deny' in guards.capabilities"});
  expect_error(
      "      guards:\n"
      "        capabilities:\n",
      9, 9, {"field 'capabilities' in guards is empty"});
  expect_error(
      "      guards:\n"
      "        capabilities: {deny: CAP_NET_RAW}\n",
      9, 30, {"field 'deny' must be a list", "got 'CAP_NET_RAW'"});
}

TEST(PolicyGuardsErrors, BadAction) {
  expect_error(
      "      guards:\n"
      "        rawSockets: {action: block}\n",
      9, 30, {"invalid action 'block' in guards.rawSockets; allowed: deny, audit, kill"});
  expect_error(
      "      guards:\n"
      "        mounts: {action: denny}\n",
      9, 26,
      {"invalid action 'denny' in guards.mounts; allowed: deny, audit, kill; did you "
       "mean 'deny'?"});
  expect_error(
      "      guards:\n"
      "        capabilities: {deny: [ALL], action: kil}\n",
      9, 45, {"invalid action 'kil' in guards.capabilities", "did you mean 'kill'?"});
  expect_error(
      "      guards:\n"
      "        runtimeSockets: {action: [deny]}\n",
      9, 34, {"field 'action' in guards.runtimeSockets must be a string, got a list"});
  expect_error(
      "      guards:\n"
      "        bpf:\n"
      "          action:\n",
      10, 11, {"field 'action' in guards.bpf is empty"});
}

TEST(PolicyGuardsErrors, UnknownKeysNameTheAllowedOnes) {
  expect_error(
      "      guards:\n"
      "        rawSocket: {action: deny}\n",
      9, 9,
      {"unknown field 'rawSocket' in guards; allowed: capabilities, rawSockets, mounts, "
       "runtimeSockets, bpf, hostWrites, cgroups; did you mean 'rawSockets'?"});
  expect_error(
      "      guards:\n"
      "        mounts: {action: deny, hostPaths: true}\n",
      9, 32, {"unknown field 'hostPaths' in guards.mounts; allowed: action"});
  expect_error(
      "      guards:\n"
      "        capabilities: {deny: [ALL], acton: deny}\n",
      9, 37,
      {"unknown field 'acton' in guards.capabilities; allowed: deny, action; did you "
       "mean 'action'?"});
  expect_error(
      "      guards:\n"
      "        runtimeSockets: {action: deny, path: [/run/podman/podman.sock]}\n",
      9, 40,
      {"unknown field 'path' in guards.runtimeSockets; allowed: action, mode, paths, "
       "allow; did you mean 'paths'?"});
  expect_error("      guardz: {bpf: {}}\n", 8, 7,
               {"unknown field 'guardz' in zone; allowed: name, mode, selector, egress, guards; "
                "did you mean 'guards'?"});
}

TEST(PolicyGuardsErrors, WrongShapes) {
  expect_error("      guards: [bpf]\n", 8, 15,
               {"field 'guards' must be a map with capabilities, rawSockets, mounts, "
                "runtimeSockets, bpf",
                "got a list"});
  expect_error(
      "      guards:\n"
      "        bpf: deny\n",
      9, 14, {"field 'bpf' in guards must be a map, e.g. bpf: {action: deny}; got 'deny'"});
  expect_error(
      "      guards:\n"
      "        capabilities: [ALL]\n",
      9, 23, {"field 'capabilities' in guards must be a map like", "got a list"});
  expect_error(
      "      guards:\n"
      "        runtimeSockets: deny\n",
      9, 25, {"field 'runtimeSockets' in guards must be a map like", "got 'deny'"});
  expect_error(
      "      guards:\n"
      "        runtimeSockets: {paths: /run/podman/podman.sock}\n",
      9, 33, {"field 'paths' must be a list", "got '/run/podman/podman.sock'"});
  expect_error(
      "      guards:\n"
      "        runtimeSockets: {paths: [{a: b}]}\n",
      9, 34, {"each runtime socket path must be a string", "got a map"});
}

TEST(PolicyGuardsErrors, BadRuntimeSocketPaths) {
  const std::string head =
      "      guards:\n"
      "        runtimeSockets:\n"
      "          paths:\n";  // items at line 11, column 13
  expect_error(
      head + "            - run/podman/podman.sock\n", 11, 15,
      {"runtime socket path 'run/podman/podman.sock' is not absolute", "/run/podman/podman.sock"});
  expect_error(head + "            - /run/../var/run/docker.sock\n", 11, 15,
               {"runtime socket path '/run/../var/run/docker.sock' contains '..'"});
  expect_error(head + "            - /run/podman/..\n", 11, 15, {"contains '..'"});
  expect_error(head + "            - \"\"\n", 11, 15, {"empty runtime socket path"});
  expect_error(head + "            - \"/run/a\\0b.sock\"\n", 11, 15,
               {"runtime socket path contains a NUL byte"});
  const std::string too_long = "/run/" + std::string(103, 'a');  // 108 bytes
  expect_error(head + "            - " + too_long + "\n", 11, 15,
               {"is 108 bytes long; a unix socket path has at most 107 bytes"});
  // "..." and "..x" are ordinary names.
  EXPECT_EQ(guards_of(head + "            - /run/.../..x.sock\n").runtime_socket_paths,
            std::vector<std::string>{"/run/.../..x.sock"});
}

TEST(PolicyGuardsErrors, AllProblemsAreCollected) {
  auto p = parse_policy(doc("      guards:\n"                                     // 8
                            "        capabilities: {deny: [], action: nope}\n"    // 9
                            "        rawSockets: {action: deny}\n"                // 10
                            "        mount: {}\n"                                 // 11
                            "        runtimeSockets: {paths: [relative.sock]}\n"  // 12
                            "    - name: other\n"                                 // 13
                            "      guards: {bpf: {action: 1}}\n"),                // 14
                        "t.yaml");
  ASSERT_FALSE(p);
  std::vector<std::string> lines;
  for (const auto& d : p.error()) lines.push_back(d.format());
  EXPECT_EQ(
      lines,
      (std::vector<std::string>{
          "t.yaml:9:30: error: the capabilities deny list is empty; list what to deny, "
          "e.g. deny: [ALL] or deny: [CAP_SYS_ADMIN], or remove capabilities",
          "t.yaml:9:42: error: invalid action 'nope' in guards.capabilities; allowed: "
          "deny, audit, kill",
          "t.yaml:11:9: error: unknown field 'mount' in guards; allowed: capabilities, "
          "rawSockets, mounts, runtimeSockets, bpf, hostWrites, cgroups; did you mean 'mounts'?",
          "t.yaml:12:34: error: runtime socket path 'relative.sock' is not absolute; "
          "write the full path starting with '/', e.g. /relative.sock",
          "t.yaml:14:30: error: invalid action '1' in guards.bpf; allowed: deny, audit, "
          "kill"}));
}

// --- compilation ----------------------------------------------------------------------------

const gr_host_policy* find_host_policy(const CompiledPolicy& c, std::uint32_t zone_id) {
  for (const auto& [id, p] : c.host_policies)
    if (id == zone_id) return &p;
  return nullptr;
}

struct Expected {
  std::uint64_t caps;
  std::uint8_t capabilities, raw, mounts, runtime, bpf;
  std::uint8_t unix_mode = GR_UNIX_DENYLIST;
};

void expect_host_policy(const CompiledPolicy& c, std::uint32_t zone_id, const Expected& e) {
  const gr_host_policy* p = find_host_policy(c, zone_id);
  ASSERT_NE(p, nullptr) << "zone " << zone_id;
  EXPECT_EQ(p->denied_caps, e.caps) << "zone " << zone_id;
  EXPECT_EQ(p->action[GR_GUARD_CAPABILITIES], e.capabilities) << "zone " << zone_id;
  EXPECT_EQ(p->action[GR_GUARD_RAW_SOCKETS], e.raw) << "zone " << zone_id;
  EXPECT_EQ(p->action[GR_GUARD_MOUNTS], e.mounts) << "zone " << zone_id;
  EXPECT_EQ(p->action[GR_GUARD_RUNTIME_SOCKETS], e.runtime) << "zone " << zone_id;
  EXPECT_EQ(p->action[GR_GUARD_BPF], e.bpf) << "zone " << zone_id;
  EXPECT_EQ(p->unix_mode, e.unix_mode) << "zone " << zone_id;
  EXPECT_EQ(p->reserved[0] | p->reserved[1], 0) << "zone " << zone_id;
}

const std::string kGuardedZones = R"(apiVersion: guardrail.io/v1alpha1
kind: GuardrailPolicy
metadata: {name: guarded}
spec:
  mode: enforce
  zones:
    - name: sandbox
      guards:
        capabilities: {deny: [ALL], action: kill}
        rawSockets: {action: deny}
        mounts: {action: audit}
        runtimeSockets: {paths: [/run/podman/podman.sock, /run/docker.sock]}
        bpf: {action: deny}
    - name: audited
      mode: audit
      guards:
        capabilities: {deny: [CAP_NET_RAW, CAP_SYS_ADMIN], action: kill}
        rawSockets: {action: deny}
        mounts: {action: audit}
        runtimeSockets: {paths: [/run/user/1000/podman/podman.sock, /run/podman/podman.sock]}
    - name: plain
)";

TEST(PolicyGuardsCompile, OneEntryPerZoneWithTheAuditDowngrade) {
  auto compiled = compile(parse_ok(kGuardedZones), {});
  ASSERT_TRUE(compiled) << compiled.error().message;
  ASSERT_EQ(compiled->host_policies.size(), 3u);
  EXPECT_EQ(compiled->host_policies[0].first, 1u);
  EXPECT_EQ(compiled->host_policies[1].first, 2u);
  EXPECT_EQ(compiled->host_policies[2].first, 3u);
  expect_host_policy(*compiled, 1,
                     {0x1FFFFFFFFFFull, GR_ACTION_KILL, GR_ACTION_DENY, GR_ACTION_AUDIT,
                      GR_ACTION_DENY, GR_ACTION_DENY});
  // Zone mode audit: deny and kill become audit; an unguarded bpf stays none.
  expect_host_policy(*compiled, 2,
                     {bit(13) | bit(21), GR_ACTION_AUDIT, GR_ACTION_AUDIT, GR_ACTION_AUDIT,
                      GR_ACTION_AUDIT, GR_ACTION_NONE});
  // No guards: present, all zeros.
  expect_host_policy(
      *compiled, 3,
      {0, GR_ACTION_NONE, GR_ACTION_NONE, GR_ACTION_NONE, GR_ACTION_NONE, GR_ACTION_NONE});
}

TEST(PolicyGuardsCompile, PolicyAuditModeDowngradesUnlessTheZoneEnforces) {
  std::string text = kGuardedZones;
  const std::string policy_mode = "  mode: enforce\n";
  const std::string zone_mode = "      mode: audit\n";
  text.replace(text.find(policy_mode), policy_mode.size(), "  mode: audit\n");
  text.replace(text.find(zone_mode), zone_mode.size(), "      mode: enforce\n");
  auto compiled = compile(parse_ok(text), {});
  ASSERT_TRUE(compiled) << compiled.error().message;
  expect_host_policy(*compiled, 1,
                     {0x1FFFFFFFFFFull, GR_ACTION_AUDIT, GR_ACTION_AUDIT, GR_ACTION_AUDIT,
                      GR_ACTION_AUDIT, GR_ACTION_AUDIT});
  expect_host_policy(*compiled, 2,
                     {bit(13) | bit(21), GR_ACTION_KILL, GR_ACTION_DENY, GR_ACTION_AUDIT,
                      GR_ACTION_DENY, GR_ACTION_NONE});
}

TEST(PolicyGuardsCompile, RuntimeSocketPathsAreTheDefaultsThenTheExtrasOnce) {
  ASSERT_EQ(kDefaultRuntimeSockets,
            (std::vector<std::string>{
                "/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
                "/var/run/containerd/containerd.sock", "/run/docker/containerd/containerd.sock",
                "/var/run/docker/containerd/containerd.sock", "/run/crio/crio.sock",
                "/var/run/crio/crio.sock"}));
  auto compiled = compile(parse_ok(kGuardedZones), {});
  ASSERT_TRUE(compiled) << compiled.error().message;
  std::vector<std::string> expected = kDefaultRuntimeSockets;
  expected.push_back("/run/podman/podman.sock");  // sandbox; its /run/docker.sock is a default
  expected.push_back("/run/user/1000/podman/podman.sock");  // audited; its podman.sock is known
  EXPECT_EQ(compiled->runtime_socket_paths, expected);

  // Without any runtimeSockets guard: the defaults all the same.
  auto plain = compile(parse_ok(doc("")), {});
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->runtime_socket_paths, kDefaultRuntimeSockets);
  ASSERT_EQ(plain->host_policies.size(), 1u);
  expect_host_policy(*plain, 1, {0, 0, 0, 0, 0, 0});
}

TEST(PolicyGuardsDescribe, ListsTheGuardsPerZoneAndTheSockets) {
  auto compiled = compile(parse_ok(kGuardedZones), {});
  ASSERT_TRUE(compiled) << compiled.error().message;
  std::ostringstream out;
  describe(*compiled, out);
  const std::string text = out.str();
  const std::string expected =
      "host guards:\n"
      "  sandbox: capabilities deny ALL (41) [kill]; raw sockets [deny]; mounts [audit]; runtime "
      "sockets [deny]; bpf [deny]; cgroup writes outside the workload [deny]\n"
      "  audited: capabilities deny CAP_NET_RAW, CAP_SYS_ADMIN [audit]; raw sockets [audit]; "
      "mounts [audit]; runtime sockets [audit]; cgroup writes outside the workload [audit]\n"
      "  plain: cgroup writes outside the workload [deny]\n"
      "runtime sockets:\n"
      "  /var/run/docker.sock\n"
      "  /run/docker.sock\n"
      "  /run/containerd/containerd.sock\n"
      "  /var/run/containerd/containerd.sock\n"
      "  /run/docker/containerd/containerd.sock\n"
      "  /var/run/docker/containerd/containerd.sock\n"
      "  /run/crio/crio.sock\n"
      "  /var/run/crio/crio.sock\n"
      "  /run/podman/podman.sock\n"
      "  /run/user/1000/podman/podman.sock\n"
      "rules: 0 (0 flows, 0 egress)\n";
  test_helpers::expect_ends_with(text, expected);
}

TEST(PolicyGuardsDefaultProfile, GuardsTheAgentSandbox) {
  auto policy = load_policy_file(std::string(GUARDRAIL_SOURCE_DIR) + "/profiles/default.yaml");
  ASSERT_TRUE(policy) << dump(policy.error());
  ASSERT_EQ(policy->zones.size(), 3u);
  const HostGuards& g = policy->zones[0].guards;
  EXPECT_EQ(policy->zones[0].name, "agent-sandbox");
  EXPECT_EQ(g.capabilities, Action::Deny);
  EXPECT_EQ(g.denied_caps, kAllCapabilities);
  EXPECT_EQ(g.raw_sockets, Action::Deny);
  EXPECT_EQ(g.mounts, Action::Deny);
  EXPECT_EQ(g.runtime_sockets, Action::Deny);
  EXPECT_TRUE(g.runtime_socket_paths.empty());
  EXPECT_EQ(g.unix_mode, UnixMode::Allowlist);
  EXPECT_EQ(g.unix_allow, std::vector<std::string>{"/run/spire/agent.sock"});
  EXPECT_EQ(g.bpf, Action::Deny);

  auto compiled = compile(*policy, {});
  ASSERT_TRUE(compiled) << compiled.error().message;
  ASSERT_EQ(compiled->host_policies.size(), 3u);
  expect_host_policy(*compiled, 1,
                     {0x1FFFFFFFFFFull, GR_ACTION_DENY, GR_ACTION_DENY, GR_ACTION_DENY,
                      GR_ACTION_DENY, GR_ACTION_DENY, GR_UNIX_ALLOWLIST});
  EXPECT_EQ(compiled->unix_allow,
            (std::vector<std::pair<std::uint32_t, std::string>>{{1, "/run/spire/agent.sock"}}));
  expect_host_policy(*compiled, 2, {0, 0, 0, 0, 0, 0});  // control-plane
  expect_host_policy(*compiled, 3, {0, 0, 0, 0, 0, 0});  // data-plane
  EXPECT_EQ(compiled->runtime_socket_paths, kDefaultRuntimeSockets);

  std::ostringstream out;
  describe(*compiled, out);
  EXPECT_NE(out.str().find("host guards:\n"
                           "  agent-sandbox: capabilities deny ALL (41) [deny]; raw sockets "
                           "[deny]; mounts [deny]; unix sockets allowlist only [deny]; bpf [deny]; "
                           "host writes (sysctls, sysfs, kernel filesystems) [deny]; cgroup "
                           "writes outside the workload [deny]\n"
                           "  control-plane: cgroup writes outside the workload [deny]\n"
                           "  data-plane: cgroup writes outside the workload [deny]\n"),
            std::string::npos)
      << out.str();
}

// --- unix sockets: allowlist mode ---------------------------------------------------------

TEST(PolicyGuardsUnixSockets, AllowlistModeParsesAndCompiles) {
  const HostGuards g = guards_of(
      "      guards:\n"
      "        runtimeSockets:\n"
      "          mode: allowlist\n"
      "          allow: [/run/spire/agent.sock, '@spire', /run/spire/agent.sock]\n");
  EXPECT_EQ(g.runtime_sockets, Action::Deny);
  EXPECT_EQ(g.unix_mode, UnixMode::Allowlist);
  EXPECT_EQ(g.unix_allow, (std::vector<std::string>{"/run/spire/agent.sock", "@spire"}));

  // The default mode is denylist; an empty allowlist refuses every unix address.
  EXPECT_EQ(guards_of("      guards: {runtimeSockets: {}}\n").unix_mode, UnixMode::Denylist);
  EXPECT_EQ(guards_of("      guards: {runtimeSockets: {mode: denylist}}\n").unix_mode,
            UnixMode::Denylist);
  const HostGuards empty =
      guards_of("      guards: {runtimeSockets: {mode: allowlist, allow: []}}\n");
  EXPECT_EQ(empty.unix_mode, UnixMode::Allowlist);
  EXPECT_TRUE(empty.unix_allow.empty());

  auto compiled = compile(parse_ok(doc("      guards:\n"
                                       "        runtimeSockets:\n"
                                       "          action: audit\n"
                                       "          mode: allowlist\n"
                                       "          allow: [/run/a.sock, '@b']\n")),
                          {});
  ASSERT_TRUE(compiled) << compiled.error().message;
  expect_host_policy(*compiled, 1, {0, 0, 0, 0, GR_ACTION_AUDIT, 0, GR_UNIX_ALLOWLIST});
  EXPECT_EQ(compiled->unix_allow,
            (std::vector<std::pair<std::uint32_t, std::string>>{{1, "/run/a.sock"}, {1, "@b"}}));
  // The runtime-socket denylist stays (the LSM backend still names it in alerts).
  EXPECT_EQ(compiled->runtime_socket_paths, kDefaultRuntimeSockets);

  std::ostringstream out;
  describe(*compiled, out);
  EXPECT_NE(out.str().find("unix sockets allowed (allowlist zones; every other unix address is "
                           "refused):\n  z: /run/a.sock\n  z: @b\n"),
            std::string::npos)
      << out.str();
}

TEST(PolicyGuardsUnixSockets, DenylistZoneCompilesNoAllowEntries) {
  auto compiled = compile(parse_ok(doc("      guards: {runtimeSockets: {action: deny}}\n")), {});
  ASSERT_TRUE(compiled) << compiled.error().message;
  expect_host_policy(*compiled, 1, {0, 0, 0, 0, GR_ACTION_DENY, 0, GR_UNIX_DENYLIST});
  EXPECT_TRUE(compiled->unix_allow.empty());
  std::ostringstream out;
  describe(*compiled, out);
  EXPECT_EQ(out.str().find("unix sockets allowed"), std::string::npos) << out.str();
}

TEST(PolicyGuardsUnixSockets, Errors) {
  expect_error("      guards: {runtimeSockets: {mode: allowlst}}\n", 8, 39,
               {"invalid mode 'allowlst' in guards.runtimeSockets; allowed: denylist, allowlist; "
                "did you mean 'allowlist'?"});
  expect_error("      guards: {runtimeSockets: {allow: [/run/a.sock]}}\n", 8, 40,
               {"field 'allow' in guards.runtimeSockets needs mode: allowlist"});
  expect_error("      guards: {runtimeSockets: {mode: allowlist, allow: [run/spire/agent.sock]}}\n",
               8, 58,
               {"allowed unix socket 'run/spire/agent.sock' is not absolute",
                "/run/spire/agent.sock", "'@run/spire/agent.sock'"});
  expect_error(
      "      guards: {runtimeSockets: {mode: allowlist, allow: [/run//spire/./x/../agent.sock]}}\n",
      8, 58, {"is not in canonical form", "write /run/spire/agent.sock"});
  expect_error("      guards: {runtimeSockets: {mode: allowlist, allow: [/run/spire/]}}\n", 8, 58,
               {"is not in canonical form", "write /run/spire"});
  expect_error(
      "      guards: {runtimeSockets: {mode: allowlist, allow: [/proc/self/root/run/a.sock]}}\n", 8,
      58, {"is under /proc"});
  const std::string too_long = "/run/" + std::string(103, 'a');  // 108 bytes
  expect_error("      guards: {runtimeSockets: {mode: allowlist, allow: [" + too_long + "]}}\n", 8,
               58, {"is 108 bytes long; a unix socket path (sun_path) has at most 107 bytes"});
  expect_error("      guards: {runtimeSockets: {mode: allowlist, allow: ['@']}}\n", 8, 58,
               {"'@' has no name"});
  expect_error("      guards: {runtimeSockets: {mode: allowlist, allow: ['@" +
                   std::string(108, 'n') + "']}}\n",
               8, 58, {"has a 108-byte name; an abstract name has at most 107 bytes"});
  expect_error("      guards: {runtimeSockets: {mode: allowlist, allow: /run/a.sock}}\n", 8, 57,
               {"field 'allow' must be a list, e.g. [/run/spire/agent.sock, '@name']"});
}

TEST(PolicyGuardsUnixSockets, LongestAllowedAddresses) {
  const std::string path = "/run/" + std::string(102, 'a');  // 107 bytes
  const std::string abstract = "@" + std::string(107, 'n');  // a 107-byte name
  const HostGuards g = guards_of("      guards: {runtimeSockets: {mode: allowlist, allow: [" +
                                 path + ", '" + abstract + "']}}\n");
  EXPECT_EQ(g.unix_allow, (std::vector<std::string>{path, abstract}));
}

// --- host writes and the cgroup guard --------------------------------------------------------

TEST(PolicyGuardsHostWrites, ParsesActionAndPathsOnce) {
  const HostGuards g = guards_of(
      "      guards:\n"
      "        hostWrites: {action: kill, paths: [/etc, /var/lib/kubelet, /etc]}\n"
      "        cgroups: {action: audit}\n");
  EXPECT_EQ(g.host_writes, Action::Kill);
  EXPECT_EQ(g.host_write_paths, (std::vector<std::string>{"/etc", "/var/lib/kubelet"}));
  EXPECT_EQ(g.cgroups, Action::Audit);
  const HostGuards bare = guards_of("      guards: {hostWrites: {}}\n");
  EXPECT_EQ(bare.host_writes, Action::Deny);
  EXPECT_TRUE(bare.host_write_paths.empty());
  EXPECT_EQ(bare.cgroups, Action::None);  // compiled as deny: on for every workload
  EXPECT_EQ(guards_of("      guards: {hostWrites: }\n").host_writes, Action::Deny);
}

TEST(PolicyGuardsHostWrites, Errors) {
  expect_error("      guards: {hostWrites: {paths: [etc]}}\n", 8, 37,
               {"host path 'etc' is not absolute", "/etc"});
  expect_error("      guards: {hostWrites: {paths: [/etc/../root]}}\n", 8, 37, {"'..'"});
  expect_error("      guards: {hostWrites: [/etc]}\n", 8, 28,
               {"'hostWrites' in guards must be a map", "paths: [/etc"});
  expect_error("      guards: {hostWrites: {path: [/etc]}}\n", 8, 29, {"path", "paths"});
  expect_error("      guards: {cgroups: {action: none}}\n", 8, 34, {"action"});
}

TEST(PolicyGuardsHostWrites, CompilesFlagsPathsAndAnAlwaysOnCgroupGuard) {
  const std::string text = test_helpers::doc(
      "  zones:\n"
      "    - name: writer\n"
      "      guards: {hostWrites: {paths: [/etc, /srv/data]}}\n"
      "    - name: sysctl-only\n"
      "      guards: {hostWrites: {action: audit}, cgroups: {action: kill}}\n"
      "    - name: plain\n"
      "    - name: watched\n"
      "      mode: audit\n");
  auto compiled = compile(parse_ok(text), {});
  ASSERT_TRUE(compiled) << compiled.error().message;
  ASSERT_EQ(compiled->host_policies.size(), 4u);
  const auto& writer = compiled->host_policies[0].second;
  EXPECT_EQ(writer.action[GR_GUARD_HOST_WRITES], GR_ACTION_DENY);
  EXPECT_EQ(writer.flags, GR_HP_WRITE_PATHS);
  EXPECT_EQ(writer.action[GR_GUARD_CGROUPS], GR_ACTION_DENY);
  const auto& sysctl_only = compiled->host_policies[1].second;
  EXPECT_EQ(sysctl_only.action[GR_GUARD_HOST_WRITES], GR_ACTION_AUDIT);
  EXPECT_EQ(sysctl_only.flags, 0);
  EXPECT_EQ(sysctl_only.action[GR_GUARD_CGROUPS], GR_ACTION_KILL);
  // No guards at all: the cgroup guard denies all the same; an audit zone only reports.
  EXPECT_EQ(compiled->host_policies[2].second.action[GR_GUARD_HOST_WRITES], GR_ACTION_NONE);
  EXPECT_EQ(compiled->host_policies[2].second.action[GR_GUARD_CGROUPS], GR_ACTION_DENY);
  EXPECT_EQ(compiled->host_policies[3].second.action[GR_GUARD_CGROUPS], GR_ACTION_AUDIT);
  const std::uint32_t writer_id = compiled->host_policies[0].first;
  EXPECT_EQ(compiled->host_write_paths, (std::vector<std::pair<std::uint32_t, std::string>>{
                                            {writer_id, "/etc"}, {writer_id, "/srv/data"}}));
  std::ostringstream listing;
  describe(*compiled, listing);
  EXPECT_NE(listing.str().find("host writes (sysctls, sysfs, kernel filesystems, listed paths) "
                               "[deny]; cgroup writes outside the workload [deny]"),
            std::string::npos)
      << listing.str();
  EXPECT_NE(listing.str().find("  writer: /srv/data\n"), std::string::npos) << listing.str();
}

}  // namespace
}  // namespace guardrail::policy
