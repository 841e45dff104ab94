#include "guardrail/policy/parse.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "guardrail/policy/model.hpp"
#include "policy_test_helpers.hpp"

namespace guardrail::policy {
namespace {

using test_helpers::doc;
using test_helpers::dump;
using test_helpers::errors_of;
using test_helpers::expect_one_error;
using test_helpers::expect_only_error;

const std::string kZone =
    "  zones:\n"
    "    - name: z\n";  // lines 6-7

TEST(PolicyParse, ParsesTheFullFormat) {
  const std::string text = doc(R"(  mode: audit
  zones:
    - name: agent-sandbox
      mode: enforce
      selector:
        cgroups: ["/guardrail/agent-sandbox/*", "/guardrail/extra-agents/a?"]
      egress:
        - cidr: 198.18.200.0/24
          protocol: tcp
          ports: [443, "8000-8100"]
        - cidr: 2001:db8::/32
    - name: control-plane
  workloads:
    - name: orchestrator
      zone: control-plane
      cgroup: /guardrail/control-plane/orchestrator
      addresses: ["198.18.0.2", "fd00::2"]
      exclusive: true
    - name: remote
      zone: control-plane
  flows:
    - from: {zone: agent-sandbox}
      to: {workload: orchestrator}
      protocol: tcp
      ports: [8080]
    - from:
        workload: orchestrator
      to:
        zone: agent-sandbox
      protocol: icmp
)");
  auto parsed = parse_policy(text, "full.yaml");
  ASSERT_TRUE(parsed) << dump(parsed.error());
  const Policy& p = *parsed;
  EXPECT_EQ(p.file, "full.yaml");
  EXPECT_EQ(p.name, "t");
  EXPECT_EQ(p.mode, Mode::Audit);

  ASSERT_EQ(p.zones.size(), 2u);
  const Zone& sandbox = p.zones[0];
  EXPECT_EQ(sandbox.name, "agent-sandbox");
  EXPECT_EQ(sandbox.mode, Mode::Enforce);
  EXPECT_EQ(sandbox.cgroup_globs,
            (std::vector<std::string>{"/guardrail/agent-sandbox/*", "/guardrail/extra-agents/a?"}));
  EXPECT_EQ(sandbox.pos.file, "full.yaml");
  EXPECT_EQ(sandbox.pos.line, 8);
  EXPECT_EQ(sandbox.pos.column, 7);
  ASSERT_EQ(sandbox.egress.size(), 2u);
  EXPECT_EQ(sandbox.egress[0].cidr.text, "198.18.200.0/24");
  EXPECT_EQ(sandbox.egress[0].cidr.prefix_len, 24);
  EXPECT_EQ(sandbox.egress[0].protocol, Protocol::Tcp);
  EXPECT_EQ(sandbox.egress[0].ports, (std::vector<PortRange>{{443, 443}, {8000, 8100}}));
  EXPECT_EQ(sandbox.egress[0].pos.line, 13);
  EXPECT_EQ(sandbox.egress[1].cidr.family, AF_INET6);
  EXPECT_EQ(sandbox.egress[1].protocol, Protocol::Any);
  EXPECT_TRUE(sandbox.egress[1].ports.empty());
  EXPECT_EQ(p.zones[1].name, "control-plane");
  EXPECT_FALSE(p.zones[1].mode.has_value());
  EXPECT_TRUE(p.zones[1].cgroup_globs.empty());

  ASSERT_EQ(p.workloads.size(), 2u);
  const Workload& o = p.workloads[0];
  EXPECT_EQ(o.name, "orchestrator");
  EXPECT_EQ(o.zone, "control-plane");
  EXPECT_EQ(o.cgroup, "/guardrail/control-plane/orchestrator");
  ASSERT_EQ(o.addresses.size(), 2u);
  EXPECT_EQ(o.addresses[0].text, "198.18.0.2");
  EXPECT_EQ(o.addresses[0].prefix_len, 32);
  EXPECT_EQ(o.addresses[1].family, AF_INET6);
  EXPECT_TRUE(o.exclusive);
  EXPECT_EQ(o.pos.line, 19);
  const Workload& remote = p.workloads[1];
  EXPECT_TRUE(remote.cgroup.empty());
  EXPECT_TRUE(remote.addresses.empty());
  EXPECT_FALSE(remote.exclusive);

  ASSERT_EQ(p.flows.size(), 2u);
  const Flow& f = p.flows[0];
  EXPECT_EQ(f.from.kind, Peer::Kind::Zone);
  EXPECT_EQ(f.from.name, "agent-sandbox");
  EXPECT_EQ(f.from.pos.line, 27);
  EXPECT_EQ(f.from.pos.column, 13);
  EXPECT_EQ(f.to.kind, Peer::Kind::Workload);
  EXPECT_EQ(f.to.name, "orchestrator");
  EXPECT_EQ(f.protocol, Protocol::Tcp);
  EXPECT_EQ(f.ports, (std::vector<PortRange>{{8080, 8080}}));
  EXPECT_EQ(f.pos.line, 27);
  EXPECT_EQ(f.pos.column, 7);
  EXPECT_EQ(p.flows[1].from.kind, Peer::Kind::Workload);
  EXPECT_EQ(p.flows[1].to.kind, Peer::Kind::Zone);
  EXPECT_EQ(p.flows[1].protocol, Protocol::Icmp);
  EXPECT_TRUE(p.flows[1].ports.empty());

  EXPECT_EQ(p.find_zone("control-plane"), &p.zones[1]);
  EXPECT_EQ(p.find_zone("nope"), nullptr);
  EXPECT_EQ(p.find_workload("remote"), &p.workloads[1]);
  EXPECT_EQ(p.find_workload("agent-sandbox"), nullptr);
}

TEST(PolicyParse, DefaultsAreEnforceAnyProtocolAllPorts) {
  auto p =
      parse_policy(doc(kZone + "  flows:\n    - {from: {zone: z}, to: {zone: z}}\n"), "t.yaml");
  ASSERT_TRUE(p) << dump(p.error());
  EXPECT_EQ(p->mode, Mode::Enforce);
  ASSERT_EQ(p->flows.size(), 1u);
  EXPECT_EQ(p->flows[0].protocol, Protocol::Any);
  EXPECT_TRUE(p->flows[0].ports.empty());
  EXPECT_TRUE(p->workloads.empty());
}

TEST(PolicyParse, DiagnosticFormat) {
  Diagnostic d{{"p.yaml", 12, 7}, "something is wrong; fix it"};
  EXPECT_EQ(d.format(), "p.yaml:12:7: error: something is wrong; fix it");
  Diagnostic unplaced{{"p.yaml", 0, 0}, "cannot read: No such file or directory"};
  EXPECT_EQ(unplaced.format(), "p.yaml: error: cannot read: No such file or directory");
}

// ---- the document ------------------------------------------------------------------------

TEST(PolicyParse, YamlSyntaxError) {
  expect_one_error("apiVersion: guardrail.io/v1alpha1\nspec: [1, 2\nkind: x\n", 3, 5,
                   {"invalid YAML", "did not find expected ',' or ']'"});
}

TEST(PolicyParse, EmptyFile) {
  expect_one_error("", 1, 1, {"policy file is empty"});
  expect_one_error("# only a comment\n", 1, 1, {"policy file is empty"});
}

TEST(PolicyParse, DocumentMustBeAMap) {
  expect_one_error("- a\n- b\n", 1, 1, {"must be a map", "got a list"});
  expect_one_error("\n  hello\n", 2, 3, {"must be a map", "got 'hello'"});
}

TEST(PolicyParse, OnlyOneDocument) {
  expect_one_error(doc(kZone) + "---\nkind: x\n", 9, 1, {"more than one YAML document"});
  // Document markers around one policy are fine.
  auto p = parse_policy("---\n" + doc(kZone) + "---\n", "t.yaml");
  EXPECT_TRUE(p) << dump(p.error());
}

TEST(PolicyParse, WrongApiVersionAndKind) {
  const auto diagnostics = errors_of(
      "apiVersion: guardrail.io/v1\nkind: Policy\nmetadata: {name: t}\nspec:\n" + kZone.substr(0));
  ASSERT_EQ(diagnostics.size(), 2u) << dump(diagnostics);
  EXPECT_EQ(diagnostics[0].format(),
            "t.yaml:1:13: error: unsupported apiVersion 'guardrail.io/v1'; use apiVersion: "
            "guardrail.io/v1alpha1");
  EXPECT_EQ(diagnostics[1].format(),
            "t.yaml:2:7: error: unsupported kind 'Policy'; use kind: GuardrailPolicy");
}

TEST(PolicyParse, MissingApiVersionAndKindPointAtTheDocument) {
  const auto diagnostics = errors_of("metadata: {name: t}\nspec:\n" + kZone);
  ASSERT_EQ(diagnostics.size(), 2u) << dump(diagnostics);
  EXPECT_EQ(diagnostics[0].pos.line, 1);
  EXPECT_EQ(diagnostics[0].pos.column, 1);
  EXPECT_EQ(diagnostics[0].message,
            "missing required field 'apiVersion' in policy; add apiVersion: guardrail.io/v1alpha1");
  EXPECT_EQ(diagnostics[1].message,
            "missing required field 'kind' in policy; add kind: GuardrailPolicy");
}

TEST(PolicyParse, MissingMetadataAndSpec) {
  const auto diagnostics = errors_of("apiVersion: guardrail.io/v1alpha1\nkind: GuardrailPolicy\n");
  ASSERT_EQ(diagnostics.size(), 2u) << dump(diagnostics);
  EXPECT_EQ(diagnostics[0].format(),
            "t.yaml:1:1: error: missing required field 'metadata' in policy; add metadata: "
            "{name: NAME}");
  EXPECT_EQ(diagnostics[1].pos.line, 1);
  EXPECT_NE(diagnostics[1].message.find("missing required field 'spec'"), std::string::npos);
}

TEST(PolicyParse, MetadataName) {
  const std::string head = "apiVersion: guardrail.io/v1alpha1\nkind: GuardrailPolicy\n";
  expect_one_error(head + "metadata:\n  name: t\n  labels: x\nspec:\n" + kZone, 5, 3,
                   {"unknown field 'labels' in metadata; allowed: name"});
  // Without a name, the unknown field and the missing name are both reported.
  const auto both = errors_of(head + "metadata:\n  labels: x\nspec:\n" + kZone);
  ASSERT_EQ(both.size(), 2u) << dump(both);
  EXPECT_EQ(both[0].format(),
            "t.yaml:4:3: error: unknown field 'labels' in metadata; allowed: name");
  EXPECT_EQ(
      both[1].format(),
      "t.yaml:4:3: error: missing required field 'name' in metadata; add name: <policy name>");
  expect_one_error(head + "metadata:\n  name: \"\"\nspec:\n" + kZone, 4, 9,
                   {"field 'name' in metadata is empty"});
  expect_one_error(head + "metadata: {}\nspec:\n" + kZone, 3, 11,
                   {"missing required field 'name' in metadata"});
  expect_one_error(head + "metadata: [a]\nspec:\n" + kZone, 3, 11,
                   {"field 'metadata' must be a map", "got a list"});
}

TEST(PolicyParse, MissingOrEmptyZones) {
  expect_one_error(doc("  mode: audit\n"), 6, 3, {"missing required field 'zones' in spec"});
  expect_one_error(doc("  zones: []\n"), 6, 10, {"spec.zones is empty; define at least one zone"});
}

TEST(PolicyParse, WrongTypes) {
  expect_one_error(doc("  zones: {name: z}\n"), 6, 10,
                   {"field 'zones' must be a list", "got a map"});
  expect_one_error(doc(kZone + "  workloads: orchestrator\n"), 8, 14,
                   {"field 'workloads' must be a list", "got 'orchestrator'"});
  expect_one_error(doc("  zones:\n    - z\n"), 7, 7, {"each zone must be a map", "got 'z'"});
  expect_one_error(doc("  zones:\n    - name: [z]\n"), 7, 13,
                   {"field 'name' in zone must be a string, got a list"});
  expect_one_error(doc("  zones:\n    - name: z\n      egress: {cidr: 10.0.0.0/8}\n"), 8, 15,
                   {"field 'egress' must be a list"});
  expect_one_error(doc(kZone + "  flows:\n    - from: z\n      to: {zone: z}\n"), 9, 13,
                   {"flow 'from' must be a map naming one peer", "got 'z'"});
  expect_one_error(doc(kZone + "  workloads:\n    - {name: w, zone: z, exclusive: maybe}\n"), 9, 37,
                   {"field 'exclusive' must be true or false, got 'maybe'"});
}

TEST(PolicyParse, EmptySpecIsNotAMap) {
  expect_one_error(
      "apiVersion: guardrail.io/v1alpha1\nkind: GuardrailPolicy\nmetadata: {name: t}\nspec:\n", 4,
      1, {"field 'spec' must be a map", "got nothing"});
}

// ---- unknown and repeated fields, at every level ----------------------------------------

TEST(PolicyParse, UnknownFieldAtTopLevel) {
  expect_one_error(doc(kZone) + "specs: {}\n", 8, 1,
                   {"unknown field 'specs' in policy; allowed: apiVersion, kind, metadata, spec"});
}

TEST(PolicyParse, UnknownFieldInSpec) {
  expect_one_error(
      doc(kZone + "  flow: []\n"), 8, 3,
      {"unknown field 'flow' in spec; allowed: mode, defaultZone, quarantineOn, zones, "
       "workloads, flows; did you mean 'flows'?"});
}

TEST(PolicyParse, UnknownFieldInZoneNamesItAndTheAllowedOnes) {
  expect_only_error(
      doc(kZone + "      egres: []\n"),
      "t.yaml:8:7: error: unknown field 'egres' in zone; allowed: name, mode, selector, "
      "egress, guards; did you mean 'egress'?");
}

TEST(PolicyParse, UnknownFieldsInNestedMaps) {
  expect_one_error(doc(kZone + "      selector: {cgroup: [/a/b]}\n"), 8, 18,
                   {"unknown field 'cgroup' in selector; allowed: cgroups, labels, names, images, "
                    "namespaces, matchExpressions; did you mean 'cgroups'?"});
  expect_one_error(
      doc(kZone + "      egress:\n        - {cidr: 10.0.0.0/8, port: [1]}\n"), 9, 30,
      {"unknown field 'port' in egress rule; allowed: cidr, cidrFile, protocol, ports"});
  expect_one_error(doc(kZone + "  workloads:\n    - {name: w, zone: z, address: [10.0.0.1]}\n"), 9,
                   26,
                   {"unknown field 'address' in workload; allowed: name, zone, cgroup, container, "
                    "pod, addresses, addressFile, exclusive"});
  expect_one_error(doc(kZone + "  flows:\n    - {from: {zone: z}, to: {zone: z}, proto: tcp}\n"), 9,
                   40, {"unknown field 'proto' in flow; allowed: from, to, protocol, ports"});
  expect_one_error(doc(kZone + "  flows:\n    - {from: {zone: z, label: x}, to: {zone: z}}\n"), 9,
                   24, {"unknown field 'label' in flow peer; allowed: zone, workload"});
}

TEST(PolicyParse, RepeatedField) {
  expect_one_error(doc(kZone + "      name: y\n"), 8, 7,
                   {"duplicate field 'name' in zone (first given at line 7)"});
}

// ---- values --------------------------------------------------------------------------------

TEST(PolicyParse, InvalidMode) {
  expect_one_error(doc("  mode: block\n" + kZone), 6, 9,
                   {"invalid mode 'block'; allowed: enforce, audit"});
  expect_one_error(doc(kZone + "      mode: Audit\n"), 8, 13,
                   {"invalid mode 'Audit'; allowed: enforce, audit"});
}

TEST(PolicyParse, InvalidZoneName) {
  expect_one_error(doc("  zones:\n    - name: Agent_Sandbox\n"), 7, 13,
                   {"invalid zone name 'Agent_Sandbox'", "lowercase letters, digits and '-'"});
  expect_one_error(doc("  zones:\n    - name: -a\n"), 7, 13, {"invalid zone name '-a'"});
  expect_one_error(doc("  zones:\n    - name: " + std::string(64, 'a') + "\n"), 7, 13,
                   {"at most 63"});
}

TEST(PolicyParse, MissingZoneName) {
  expect_one_error(doc("  zones:\n    - mode: audit\n"), 7, 7,
                   {"missing required field 'name' in zone"});
}

TEST(PolicyParse, DuplicateZoneSaysWhereTheFirstWas) {
  expect_only_error(
      doc("  zones:\n    - name: x\n    - name: y\n    - name: x\n"),
      "t.yaml:9:13: error: duplicate zone 'x' (first defined at line 7); zone names must be "
      "unique");
}

TEST(PolicyParse, DuplicateWorkload) {
  expect_one_error(
      doc(kZone + "  workloads:\n    - {name: w, zone: z}\n    - {name: w, zone: z}\n"), 10, 14,
      {"duplicate workload 'w' (first defined at line 9)"});
}

TEST(PolicyParse, WorkloadNamedLikeAZone) {
  expect_one_error(doc(kZone + "  workloads:\n    - {name: z, zone: z}\n"), 9, 14,
                   {"workload 'z' has the same name as the zone defined at line 7"});
}

TEST(PolicyParse, UnknownZoneInWorkload) {
  expect_one_error(doc(kZone + "  workloads:\n    - name: w\n      zone: zz\n"), 10, 13,
                   {"unknown zone 'zz'; defined zones: z"});
}

TEST(PolicyParse, MissingWorkloadZone) {
  expect_one_error(doc(kZone + "  workloads:\n    - name: w\n"), 9, 7,
                   {"missing required field 'zone' in workload"});
}

TEST(PolicyParse, UnknownZoneAndWorkloadInFlowPeers) {
  const auto diagnostics = errors_of(
      doc(kZone + "  workloads:\n    - {name: w, zone: z}\n  flows:\n    - from: {zone: nope}\n"
                  "      to: {workload: ww}\n"));
  ASSERT_EQ(diagnostics.size(), 2u) << dump(diagnostics);
  EXPECT_EQ(diagnostics[0].format(),
            "t.yaml:11:20: error: unknown zone 'nope' in flow 'from'; defined zones: z");
  EXPECT_EQ(diagnostics[1].format(),
            "t.yaml:12:22: error: unknown workload 'ww' in flow 'to'; defined workloads: w");
}

TEST(PolicyParse, UnknownWorkloadWhenNoneAreDefined) {
  expect_one_error(doc(kZone + "  flows:\n    - {from: {workload: w}, to: {zone: z}}\n"), 9, 25,
                   {"unknown workload 'w' in flow 'from'; no workloads are defined"});
}

TEST(PolicyParse, PeerNeedsExactlyOneOfZoneAndWorkload) {
  const std::string wl = "  workloads:\n    - {name: w, zone: z}\n";
  expect_one_error(
      doc(kZone + wl + "  flows:\n    - from: {zone: z, workload: w}\n      to: {zone: z}\n"), 11,
      13, {"flow 'from' names both a zone and a workload", "exactly one of zone: or workload:"});
  expect_one_error(doc(kZone + wl + "  flows:\n    - from: {zone: z}\n      to: {}\n"), 12, 11,
                   {"flow 'to' names no peer", "exactly one of zone: or workload:"});
}

TEST(PolicyParse, FlowNeedsFromAndTo) {
  expect_one_error(doc(kZone + "  flows:\n    - to: {zone: z}\n"), 9, 7,
                   {"missing required field 'from' in flow"});
}

TEST(PolicyParse, InvalidProtocol) {
  expect_one_error(doc(kZone + "  flows:\n    - {from: {zone: z}, to: {zone: z}, protocol: TCP}\n"),
                   9, 50, {"invalid protocol 'TCP'; allowed: tcp, udp, icmp, any"});
}

TEST(PolicyParse, PortsWithIcmp) {
  expect_one_error(
      doc(kZone + "      egress:\n        - {cidr: 10.0.0.0/8, protocol: icmp, ports: [1]}\n"), 9,
      53, {"ports are not allowed with protocol icmp", "remove ports"});
}

TEST(PolicyParse, PortOutOfRange) {
  const auto diagnostics =
      errors_of(doc(kZone + "  flows:\n    - from: {zone: z}\n      to: {zone: z}\n"
                            "      ports: [0, 65536, \"0-10\", -1]\n"));
  ASSERT_EQ(diagnostics.size(), 4u) << dump(diagnostics);
  EXPECT_EQ(diagnostics[0].format(),
            "t.yaml:11:15: error: port 0 is out of range; ports are 1-65535");
  EXPECT_EQ(diagnostics[1].format(),
            "t.yaml:11:18: error: port 65536 is out of range; ports are 1-65535");
  EXPECT_EQ(diagnostics[2].format(),
            "t.yaml:11:25: error: port range '0-10': port 0 is out of range; ports are 1-65535");
  EXPECT_EQ(diagnostics[3].format(),
            "t.yaml:11:33: error: port -1 is out of range; ports are 1-65535");
}

TEST(PolicyParse, BadPortRange) {
  const std::string flow = "  flows:\n    - from: {zone: z}\n      to: {zone: z}\n      ports: ";
  expect_one_error(doc(kZone + flow + "[\"8100-8000\"]\n"), 11, 15,
                   {"bad port range '8100-8000'", "write \"8000-8100\""});
  expect_one_error(doc(kZone + flow + "[\"80-\"]\n"), 11, 15, {"invalid port range '80-'"});
  expect_one_error(doc(kZone + flow + "[https]\n"), 11, 15, {"invalid port 'https'"});
  expect_one_error(doc(kZone + flow + "[[80]]\n"), 11, 15,
                   {"each port must be a number or a \"lo-hi\" range, got a list"});
  expect_one_error(doc(kZone + flow + "443\n"), 11, 14, {"field 'ports' must be a list"});
  expect_one_error(doc(kZone + flow + "[]\n"), 11, 14,
                   {"ports is empty; omit ports to allow every port"});
}

TEST(PolicyParse, PortRangesParse) {
  auto p = parse_policy(
      doc(kZone + "  flows:\n    - from: {zone: z}\n      to: {zone: z}\n"
                  "      ports: [1, 65535, \"1-65535\", \"22\", 8000-8000, \"10 - 20\"]\n"),
      "t.yaml");
  ASSERT_TRUE(p) << dump(p.error());
  EXPECT_EQ(p->flows[0].ports,
            (std::vector<PortRange>{
                {1, 1}, {65535, 65535}, {1, 65535}, {22, 22}, {8000, 8000}, {10, 20}}));
}

TEST(PolicyParse, BadCidrSaysWhy) {
  const std::string egress = "      egress:\n        - cidr: ";
  expect_one_error(doc(kZone + egress + "example.com\n"), 9, 17,
                   {"invalid cidr: 'example.com' is not an IPv4 or IPv6 address"});
  expect_one_error(
      doc(kZone + egress + "10.0.0.0/40\n"), 9, 17,
      {"invalid cidr: '10.0.0.0/40': prefix length /40 is out of range for IPv4; use 0-32"});
  expect_one_error(doc(kZone + egress + "198.18.200.1/24\n"), 9, 17,
                   {"invalid cidr: '198.18.200.1/24' has host bits set; use the network address "
                    "198.18.200.0/24"});
  expect_one_error(doc(kZone + "      egress:\n        - protocol: tcp\n"), 9, 11,
                   {"missing required field 'cidr' in egress rule"});
}

TEST(PolicyParse, BadWorkloadAddress) {
  expect_one_error(
      doc(kZone + "  workloads:\n    - name: w\n      zone: z\n      addresses: [10.0.0.1, "
                  "10.0.0.300]\n"),
      11, 29, {"invalid address: '10.0.0.300' is not an IPv4 or IPv6 address"});
}

TEST(PolicyParse, StaticAddressClaimedByTwoWorkloads) {
  expect_one_error(doc(kZone + "  workloads:\n    - {name: a, zone: z, addresses: [10.0.0.1]}\n"
                               "    - {name: b, zone: z, addresses: [\"10.0.0.1/32\"]}\n"),
                   10, 38, {"address 10.0.0.1/32 is already claimed by workload 'a' (line 9)"});
}

// ---- selectors and globs ---------------------------------------------------------------

TEST(PolicyParse, EmptySelector) {
  expect_one_error(doc(kZone + "      selector:\n"), 8, 7,
                   {"empty selector", "add cgroups: [\"/guardrail/z/*\"]"});
  expect_one_error(doc(kZone + "      selector: {}\n"), 8, 17, {"empty selector"});
  expect_one_error(doc(kZone + "      selector:\n        cgroups: []\n"), 9, 18,
                   {"empty selector"});
  expect_one_error(doc(kZone + "      selector:\n        cgroups:\n"), 9, 9, {"empty selector"});
  expect_one_error(doc(kZone + "      selector:\n        cgroups: [\"\"]\n"), 9, 19,
                   {"empty cgroup glob"});
  expect_one_error(doc(kZone + "      selector: [/a/b]\n"), 8, 17,
                   {"field 'selector' must be a map"});
}

TEST(PolicyParse, BadGlobs) {
  const std::string sel = "      selector:\n        cgroups: [";
  expect_one_error(doc(kZone + sel + "guardrail/z]\n"), 9, 19,
                   {"cgroup glob 'guardrail/z' must start with '/'", "write '/guardrail/z'"});
  expect_one_error(doc(kZone + sel + "/]\n"), 9, 19, {"cgroup glob '/' selects the root cgroup"});
  expect_one_error(doc(kZone + sel + "\"/*\"]\n"), 9, 19,
                   {"cgroup glob '/*' has a wildcard in its first component"});
  expect_one_error(doc(kZone + sel + "\"/**\"]\n"), 9, 19, {"cgroup glob '/**' has a wildcard"});
  expect_one_error(doc(kZone + sel + "/a/]\n"), 9, 19, {"ends with '/'"});
  expect_one_error(doc(kZone + sel + "/a//b]\n"), 9, 19, {"empty path component"});
  expect_one_error(doc(kZone + sel + "/a/../b]\n"), 9, 19, {"contains '..'"});
  expect_one_error(doc(kZone + "  workloads:\n    - {name: w, zone: z, cgroup: w}\n"), 9, 34,
                   {"cgroup glob 'w' must start with '/'"});
  expect_one_error(doc(kZone + "  workloads:\n    - name: w\n      zone: z\n      cgroup:\n"), 11,
                   7, {"a cgroup glob must be a string", "got nothing"});
}

// ---- all at once -------------------------------------------------------------------------

TEST(PolicyParse, ReportsEveryErrorInFileOrder) {
  const std::string text = doc(R"(  mode: strict
  zones:
    - name: a
      egres: []
    - name: a
  workloads:
    - {name: w, zone: b}
  flows:
    - from: {zone: a}
      to: {workload: x}
      protocol: tcp
      ports: [99999]
)");
  const auto diagnostics = errors_of(text);
  std::vector<std::string> lines;
  for (const auto& d : diagnostics) lines.push_back(d.format());
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "t.yaml:6:9: error: invalid mode 'strict'; allowed: enforce, audit",
                       "t.yaml:9:7: error: unknown field 'egres' in zone; allowed: name, mode, "
                       "selector, egress, guards; did you mean 'egress'?",
                       "t.yaml:10:13: error: duplicate zone 'a' (first defined at line 8); zone "
                       "names must be unique",
                       "t.yaml:12:23: error: unknown zone 'b'; defined zones: a",
                       "t.yaml:15:22: error: unknown workload 'x' in flow 'to'; defined "
                       "workloads: w",
                       "t.yaml:17:15: error: port 99999 is out of range; ports are 1-65535",
                   }));
}

TEST(PolicyParse, LoadPolicyFileReportsUnreadableFile) {
  auto p = load_policy_file("/nonexistent/policy.yaml");
  ASSERT_FALSE(p);
  ASSERT_EQ(p.error().size(), 1u);
  EXPECT_EQ(p.error()[0].format(),
            "/nonexistent/policy.yaml: error: cannot read: No such file or directory");
}

}  // namespace
}  // namespace guardrail::policy
