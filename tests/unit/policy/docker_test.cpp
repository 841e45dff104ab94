// Container selectors (labels, name and image globs), workload containers and the default zone.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "guardrail/policy/check.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/policy/parse.hpp"
#include "policy_test_helpers.hpp"

namespace guardrail::policy {
namespace {

const std::string kSource = GUARDRAIL_SOURCE_DIR;

using test_helpers::doc;
using test_helpers::dump;
using test_helpers::parse_ok;

using test_helpers::errors;
using test_helpers::expect_errors;
using test_helpers::zone_with_selector;

const std::string kEmptySelector =
    "empty selector: it selects no cgroups, no containers and no pods; add cgroups: "
    "[\"/guardrail/z/*\"], labels: {guardrail.io/zone: z}, names: [\"z-*\"], images: "
    "[\"registry.local/z/*\"] or namespaces: [z], or remove selector";

// ---- parsing ------------------------------------------------------------------------------

TEST(PolicyDockerParse, ParsesEveryContainerField) {
  const Policy p = parse_ok(doc(R"(  defaultZone: control
  zones:
    - name: agent-sandbox
      selector:
        cgroups: ["/guardrail/agent-sandbox/*"]
        labels:
          guardrail.io/zone: agent-sandbox
          tier: "1"
          empty: ""
        names: ["agent-*", "worker-?"]
        images: ["registry.local/agents/*", "python:3.12"]
    - name: control
  workloads:
    - name: orchestrator
      zone: control
      container: orchestrator
    - name: both
      zone: control
      cgroup: /guardrail/control/both
      container: "both-[0-9]*"
)"));
  ASSERT_EQ(p.zones.size(), 2u);
  const Zone& z = p.zones[0];
  EXPECT_EQ(z.cgroup_globs, std::vector<std::string>{"/guardrail/agent-sandbox/*"});
  EXPECT_EQ(z.match_labels,
            (std::map<std::string, std::string>{
                {"guardrail.io/zone", "agent-sandbox"}, {"tier", "1"}, {"empty", ""}}));
  EXPECT_EQ(z.name_globs, (std::vector<std::string>{"agent-*", "worker-?"}));
  EXPECT_EQ(z.image_globs, (std::vector<std::string>{"registry.local/agents/*", "python:3.12"}));
  EXPECT_TRUE(p.zones[1].match_labels.empty());
  EXPECT_TRUE(p.zones[1].name_globs.empty());
  EXPECT_TRUE(p.zones[1].image_globs.empty());
  EXPECT_EQ(p.default_zone, "control");
  EXPECT_EQ(p.effective_default_zone(), "control");
  ASSERT_EQ(p.workloads.size(), 2u);
  EXPECT_EQ(p.workloads[0].container, "orchestrator");
  EXPECT_EQ(p.workloads[0].cgroup, "");
  EXPECT_EQ(p.workloads[1].container, "both-[0-9]*");
  EXPECT_EQ(p.workloads[1].cgroup, "/guardrail/control/both");
}

TEST(PolicyDockerParse, AnyOneNonEmptySelectorFieldIsEnough) {
  EXPECT_EQ(parse_ok(zone_with_selector("        labels: {a: b}\n")).zones[0].match_labels,
            (std::map<std::string, std::string>{{"a", "b"}}));
  EXPECT_EQ(parse_ok(zone_with_selector("        names: [n]\n")).zones[0].name_globs,
            std::vector<std::string>{"n"});
  EXPECT_EQ(parse_ok(zone_with_selector("        images: [i]\n")).zones[0].image_globs,
            std::vector<std::string>{"i"});
  // Empty fields beside a non-empty one select nothing more, and are not an error.
  const Policy p =
      parse_ok(zone_with_selector("        cgroups: []\n        labels: {}\n        names:\n"
                                  "        images: [\"reg/*\"]\n"));
  EXPECT_TRUE(p.zones[0].cgroup_globs.empty());
  EXPECT_TRUE(p.zones[0].match_labels.empty());
  EXPECT_TRUE(p.zones[0].name_globs.empty());
  EXPECT_EQ(p.zones[0].image_globs, std::vector<std::string>{"reg/*"});
}

// ---- selector errors ----------------------------------------------------------------------

TEST(PolicyDockerErrors, EmptySelectorListsAllFourFields) {
  expect_errors({
      {zone_with_selector(""), "t.yaml:8:7: error: " + kEmptySelector + "\n"},
      {zone_with_selector("        labels: {}\n"), "t.yaml:9:17: error: " + kEmptySelector + "\n"},
      {zone_with_selector("        images:\n"), "t.yaml:9:9: error: " + kEmptySelector + "\n"},
      // Reported at the first empty field in the file, not in alphabetical order.
      {zone_with_selector("        names: []\n        cgroups: []\n"),
       "t.yaml:9:16: error: " + kEmptySelector + "\n"},
      {doc("  zones:\n    - name: z\n      selector: {}\n"),
       "t.yaml:8:17: error: " + kEmptySelector + "\n"},
  });
}

TEST(PolicyDockerErrors, UnknownSelectorFieldListsTheAllowedOnes) {
  // Only the unknown field is reported (it is most likely the misspelt selector).
  EXPECT_EQ(errors(zone_with_selector("        label: {a: b}\n")),
            "t.yaml:9:9: error: unknown field 'label' in selector; allowed: cgroups, labels, "
            "names, images, namespaces, matchExpressions; did you mean 'labels'?\n");
  EXPECT_EQ(errors(zone_with_selector("        names: [a]\n        image: [b]\n")),
            "t.yaml:10:9: error: unknown field 'image' in selector; allowed: cgroups, labels, "
            "names, images, namespaces, matchExpressions; did you mean 'images'?\n");
}

TEST(PolicyDockerErrors, SelectorNotAMapNamesTheFields) {
  EXPECT_EQ(errors(doc("  zones:\n    - name: z\n      selector: [/a/b]\n")),
            "t.yaml:8:17: error: field 'selector' must be a map with cgroups, labels, names, "
            "images, namespaces, matchExpressions, e.g. {cgroups: [\"/guardrail/z/*\"]}, got a "
            "list\n");
}

TEST(PolicyDockerErrors, LabelTypes) {
  expect_errors({
      {zone_with_selector("        labels: [a]\n"),
       "t.yaml:9:17: error: field 'labels' in selector must be a map of label names to "
       "values, e.g. {guardrail.io/zone: agent-sandbox}; got a list\n"},
      {zone_with_selector("        labels: agent\n"),
       "t.yaml:9:17: error: field 'labels' in selector must be a map of label names to "
       "values, e.g. {guardrail.io/zone: agent-sandbox}; got 'agent'\n"},
      {zone_with_selector("        labels: {a: [b]}\n"),
       "t.yaml:9:21: error: the value of label 'a' must be a string, got a list\n"},
      {zone_with_selector("        labels: {a: {b: c}}\n"),
       "t.yaml:9:21: error: the value of label 'a' must be a string, got a map\n"},
      {zone_with_selector("        labels:\n          team:\n"),
       "t.yaml:10:11: error: label 'team' has no value; write team: VALUE, or team: \"\" "
       "to match an empty value\n"},
      {zone_with_selector("        labels: {\"\": x}\n"),
       "t.yaml:9:18: error: empty label name; write name: value, e.g. {guardrail.io/zone: "
       "agent-sandbox}\n"},
      {zone_with_selector("        labels: {[a]: x}\n"),
       "t.yaml:9:18: error: a label name must be a string like guardrail.io/zone, got a "
       "list\n"},
      {zone_with_selector("        labels:\n          a: x\n          a: y\n"),
       "t.yaml:11:11: error: duplicate label 'a' (first given at line 10); keep only one\n"},
  });
}

TEST(PolicyDockerErrors, NameAndImageGlobTypes) {
  expect_errors({
      {zone_with_selector("        names: agent-*\n"),
       "t.yaml:9:16: error: field 'names' must be a list, e.g. [\"z-*\"]; got 'agent-*'\n"},
      {zone_with_selector("        images: {a: b}\n"),
       "t.yaml:9:17: error: field 'images' must be a list, e.g. [\"registry.local/z/*\"]; "
       "got a map\n"},
      {zone_with_selector("        names: [ok, {a: b}]\n"),
       "t.yaml:9:21: error: a container name glob must be a string like \"z-*\", got a "
       "map\n"},
      {zone_with_selector("        images: [[a]]\n"),
       "t.yaml:9:18: error: an image glob must be a string like \"registry.local/z/*\", got "
       "a list\n"},
      {zone_with_selector("        names: [\"\"]\n"),
       "t.yaml:9:17: error: empty container name glob; write a glob like agent-*\n"},
      {zone_with_selector("        images: [\"\"]\n"),
       "t.yaml:9:18: error: empty image glob; write a glob like registry.local/agents/*\n"},
      {zone_with_selector("        names: [\"/agent-*\"]\n"),
       "t.yaml:9:17: error: container name glob '/agent-*' starts with '/'; names are "
       "matched without Docker's leading '/', write 'agent-*'\n"},
      {zone_with_selector("        names: [\"/\"]\n"),
       "t.yaml:9:17: error: container name glob '/' starts with '/'; names are matched "
       "without Docker's leading '/', write a glob like agent-*\n"},
  });
}

// ---- workload container -------------------------------------------------------------------

TEST(PolicyDockerErrors, WorkloadContainer) {
  const std::string zone = "  zones:\n    - name: z\n  workloads:\n";  // workload at line 9
  expect_errors({
      {doc(zone + "    - {name: w, zone: z, container: /orchestrator}\n"),
       "t.yaml:9:37: error: container name glob '/orchestrator' starts with '/'; names are "
       "matched without Docker's leading '/', write 'orchestrator'\n"},
      {doc(zone + "    - {name: w, zone: z, container: \"\"}\n"),
       "t.yaml:9:37: error: empty container name glob; write a glob like agent-*\n"},
      {doc(zone + "    - {name: w, zone: z, container: [a]}\n"),
       "t.yaml:9:37: error: field 'container' in workload must be a string, got a list\n"},
      {doc(zone + "    - name: w\n      zone: z\n      container:\n"),
       "t.yaml:11:7: error: field 'container' in workload is empty; give it a value\n"},
      {doc(zone + "    - {name: w, zone: z, containr: a}\n"),
       "t.yaml:9:26: error: unknown field 'containr' in workload; allowed: name, zone, "
       "cgroup, container, pod, addresses, addressFile, exclusive; did you mean 'container'?\n"},
  });
}

// ---- default zone -------------------------------------------------------------------------

TEST(PolicyDockerErrors, DefaultZoneMustNameAZone) {
  const std::string zones = "  zones:\n    - name: agent-sandbox\n    - name: control\n";
  expect_errors({
      {doc("  defaultZone: agent-sandbx\n" + zones),
       "t.yaml:6:16: error: unknown zone 'agent-sandbx' in defaultZone; defined zones: "
       "agent-sandbox, control; did you mean 'agent-sandbox'?\n"},
      // Zones given after defaultZone count too.
      {doc(zones + "  defaultZone: nope\n"),
       "t.yaml:9:16: error: unknown zone 'nope' in defaultZone; defined zones: "
       "agent-sandbox, control\n"},
      {doc(zones + "  defaultZone: \"\"\n"),
       "t.yaml:9:16: error: field 'defaultZone' in spec is empty; name the zone of "
       "containers no selector names (e.g. agent-sandbox), or remove it\n"},
      {doc(zones + "  defaultZone:\n"),
       "t.yaml:9:3: error: field 'defaultZone' in spec is empty; give it a value\n"},
      {doc(zones + "  defaultZone: [control]\n"),
       "t.yaml:9:16: error: field 'defaultZone' in spec must be a string, got a list\n"},
      {doc("  defaultZone: a\n  zones: []\n"),
       "t.yaml:6:16: error: unknown zone 'a' in defaultZone; no zones are defined\n"
       "t.yaml:7:10: error: spec.zones is empty; define at least one zone\n"},
      {doc("  defaultZon: a\n" + zones),
       "t.yaml:6:3: error: unknown field 'defaultZon' in spec; allowed: mode, defaultZone, "
       "quarantineOn, zones, workloads, flows; did you mean 'defaultZone'?\n"},
  });
}

TEST(PolicyDockerDefaultZone, Resolution) {
  // Not set, agent-sandbox exists: agent-sandbox.
  Policy p = parse_ok(doc("  zones:\n    - name: control\n    - name: agent-sandbox\n"));
  EXPECT_EQ(p.default_zone, "");
  EXPECT_EQ(p.effective_default_zone(), "agent-sandbox");
  // Not set, no agent-sandbox: none.
  p = parse_ok(doc("  zones:\n    - name: control\n    - name: agents\n"));
  EXPECT_EQ(p.default_zone, "");
  EXPECT_EQ(p.effective_default_zone(), "");
  // Set: that zone, even when agent-sandbox exists.
  p =
      parse_ok(doc("  defaultZone: control\n  zones:\n    - name: agent-sandbox\n"
                   "    - name: control\n"));
  EXPECT_EQ(p.default_zone, "control");
  EXPECT_EQ(p.effective_default_zone(), "control");
  p = parse_ok(doc("  defaultZone: agents\n  zones:\n    - name: agents\n"));
  EXPECT_EQ(p.effective_default_zone(), "agents");
}

TEST(PolicyDockerErrors, EveryErrorIsReportedInFileOrder) {
  EXPECT_EQ(errors(doc(R"(  defaultZone: nowhere
  zones:
    - name: z
      selector:
        labels: {a: [b], "": c}
        names: ["/x", ""]
        images: [[i]]
  workloads:
    - {name: w, zone: z, container: "/w"}
)")),
            "t.yaml:6:16: error: unknown zone 'nowhere' in defaultZone; defined zones: z\n"
            "t.yaml:10:21: error: the value of label 'a' must be a string, got a list\n"
            "t.yaml:10:26: error: empty label name; write name: value, e.g. {guardrail.io/zone: "
            "agent-sandbox}\n"
            "t.yaml:11:17: error: container name glob '/x' starts with '/'; names are matched "
            "without Docker's leading '/', write 'x'\n"
            "t.yaml:11:23: error: empty container name glob; write a glob like agent-*\n"
            "t.yaml:12:18: error: an image glob must be a string like \"registry.local/z/*\", got "
            "a list\n"
            "t.yaml:14:37: error: container name glob '/w' starts with '/'; names are matched "
            "without Docker's leading '/', write 'w'\n");
}

// ---- policy check and the default profile --------------------------------------------------

TEST(PolicyDockerCheck, ListsContainerSelectorsAndTheDefaultZone) {
  const std::string file = kSource + "/tests/unit/policy/testdata/docker.yaml";
  std::ostringstream out, err;
  ASSERT_EQ(run_policy_check({file}, out, err), 0) << err.str();
  EXPECT_EQ(err.str(), "");
  const std::string text = out.str();
  const std::string tail =
      "rules: 1 (1 flows, 0 egress)\n"
      "containers:\n"
      "  zone sandbox: labels guardrail.io/zone=sandbox, team=agents; names agent-*, worker-?; "
      "images registry.local/agents/*\n"
      "  workload orchestrator (zone control): name orchestrator\n"
      "default zone: sandbox\n"
      "note: zone control selects cgroups /guardrail/control/*; they are resolved at runtime by "
      "the agent\n"
      "note: containers are matched at runtime by the agent's Docker discovery; a container no "
      "selector names, or not identified yet, is in zone sandbox\n";
  test_helpers::expect_ends_with(text, tail);
}

TEST(PolicyDockerCheck, ImpliedDefaultZoneIsSaid) {
  const std::string file = ::testing::TempDir() + "/policy_docker_implied.yaml";
  {
    std::ofstream f(file);
    f << doc("  zones:\n    - name: agent-sandbox\n      selector: {cgroups: [/g/a/*]}\n");
  }
  std::ostringstream out, err;
  ASSERT_EQ(run_policy_check({file}, out, err), 0) << err.str();
  const std::string tail =
      "containers:\n"
      "  (none)\n"
      "default zone: agent-sandbox (implied: spec.defaultZone is not set and this zone exists)\n"
      "note: zone agent-sandbox selects cgroups /g/a/*; they are resolved at runtime by the "
      "agent\n"
      "note: containers are matched at runtime by the agent's Docker discovery; a container no "
      "selector names, or not identified yet, is in zone agent-sandbox\n";
  const std::string text = out.str();
  test_helpers::expect_ends_with(text, tail);
  std::remove(file.c_str());
}

TEST(PolicyDockerDefaultProfile, SelectsContainersAndFailsClosed) {
  const std::string file = kSource + "/profiles/default.yaml";
  auto policy = load_policy_file(file);
  ASSERT_TRUE(policy) << dump(policy.error());
  EXPECT_EQ(policy->default_zone, "agent-sandbox");
  EXPECT_EQ(policy->effective_default_zone(), "agent-sandbox");
  ASSERT_EQ(policy->zones.size(), 3u);
  for (const Zone& zone : policy->zones) {
    EXPECT_EQ(zone.match_labels,
              (std::map<std::string, std::string>{{"guardrail.io/zone", zone.name}}))
        << zone.name;
    EXPECT_EQ(zone.cgroup_globs, std::vector<std::string>{"/guardrail/" + zone.name + "/*"});
    EXPECT_TRUE(zone.name_globs.empty()) << zone.name;
    EXPECT_TRUE(zone.image_globs.empty()) << zone.name;
  }
  const std::map<std::string, std::string> containers = {{"orchestrator", "orchestrator"},
                                                         {"spire-server", "spire-server"},
                                                         {"spire-agent", "spire-agent*"}};
  ASSERT_EQ(policy->workloads.size(), containers.size());
  for (const Workload& w : policy->workloads) EXPECT_EQ(w.container, containers.at(w.name));

  std::ostringstream out, err;
  ASSERT_EQ(run_policy_check({file}, out, err), 0) << err.str();
  const std::string text = out.str();
  for (const char* line :
       {"containers:\n"
        "  zone agent-sandbox: labels guardrail.io/zone=agent-sandbox\n"
        "  zone control-plane: labels guardrail.io/zone=control-plane\n"
        "  zone data-plane: labels guardrail.io/zone=data-plane\n"
        "  workload orchestrator (zone control-plane): name orchestrator\n"
        "  workload spire-server (zone control-plane): name spire-server\n"
        "  workload spire-agent (zone control-plane): name spire-agent*\n"
        "default zone: agent-sandbox\n",
        "note: containers are matched at runtime by the agent's Docker discovery; a container no "
        "selector names, or not identified yet, is in zone agent-sandbox\n",
        "rules: 6 (5 flows, 1 egress)\n"})
    EXPECT_NE(text.find(line), std::string::npos) << "missing\n" << line << "in\n" << text;
}

}  // namespace
}  // namespace guardrail::policy
