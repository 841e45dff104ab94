// Kubernetes pod selectors: selector.namespaces, selector.matchExpressions and workloads' pod
// globs, as parsed, as rejected (each message names the field, the value and the fix, at its
// line) and as `policy check` lists them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "guardrail/policy/model.hpp"
#include "guardrail/policy/parse.hpp"
#include "policy_test_helpers.hpp"

namespace guardrail::policy {
namespace {

using test_helpers::doc;
using test_helpers::errors;
using test_helpers::expect_errors;
using test_helpers::parse_ok;
using test_helpers::zone_with_selector;
using Op = LabelExpression::Op;

const std::string kSource = GUARDRAIL_SOURCE_DIR;

// A zone z (lines 6-7) and one workload item at line 9.
std::string workload(const std::string& item) {
  return doc("  zones:\n    - name: z\n  workloads:\n" + item);
}

// ---- parsed -----------------------------------------------------------------------------------

TEST(PodSelectorsParse, EveryField) {
  const Policy p = parse_ok(doc(R"(  zones:
    - name: web
      selector:
        namespaces: [prod, staging]
        labels: {app: web}
        matchExpressions:
          - {key: tier, operator: In, values: [front, back]}
          - {key: app.kubernetes.io/version, operator: NotIn, values: ["1.0", ""]}
          - {key: example.com/canary, operator: Exists}
          - {key: debug, operator: DoesNotExist, values: []}
  workloads:
    - {name: api, zone: web, pod: "prod/api-*"}
    - {name: any, zone: web, pod: "*/sidecar-[0-9]"}
)"));
  ASSERT_EQ(p.zones.size(), 1u);
  const Zone& z = p.zones[0];
  EXPECT_EQ(z.namespaces, (std::vector<std::string>{"prod", "staging"}));
  EXPECT_EQ(z.match_labels.at("app"), "web");
  const std::vector<LabelExpression> expected = {
      {"tier", Op::In, {"front", "back"}},
      {"app.kubernetes.io/version", Op::NotIn, {"1.0", ""}},
      {"example.com/canary", Op::Exists, {}},
      {"debug", Op::DoesNotExist, {}},
  };
  EXPECT_EQ(z.match_expressions, expected);
  ASSERT_EQ(p.workloads.size(), 2u);
  EXPECT_EQ(p.workloads[0].pod, "prod/api-*");
  EXPECT_EQ(p.workloads[1].pod, "*/sidecar-[0-9]");
  EXPECT_TRUE(p.uses_pod_selectors());
}

TEST(PodSelectorsParse, NamespacesOrExpressionsAloneAreASelector) {
  const Policy a = parse_ok(zone_with_selector("        namespaces: [prod]\n"));
  EXPECT_EQ(a.zones[0].namespaces, std::vector<std::string>{"prod"});
  const Policy b =
      parse_ok(zone_with_selector("        matchExpressions: [{key: app, operator: Exists}]\n"));
  EXPECT_EQ(b.zones[0].match_expressions.size(), 1u);
  // Given empty, they select nothing: the usual empty-selector error.
  EXPECT_NE(errors(zone_with_selector("        namespaces: []\n        matchExpressions: []\n"))
                .find("t.yaml:9:21: error: empty selector: it selects no cgroups, no containers "
                      "and no pods"),
            std::string::npos);
}

TEST(PodSelectorsParse, DockerPoliciesDoNotUsePodSelectors) {
  EXPECT_FALSE(parse_ok(zone_with_selector("        labels: {a: b}\n")).uses_pod_selectors());
}

// ---- namespaces -------------------------------------------------------------------------------

TEST(PodSelectorsErrors, Namespaces) {
  expect_errors({
      {zone_with_selector("        namespaces: prod\n"),
       "t.yaml:9:21: error: field 'namespaces' must be a list, e.g. [prod, staging]; got "
       "'prod'\n"},
      {zone_with_selector("        namespaces: [Prod]\n"),
       "t.yaml:9:22: error: invalid namespace 'Prod'; a Kubernetes namespace is a DNS label: at "
       "most 63 lowercase letters, digits and '-', starting and ending with a letter or digit; "
       "write 'prod' (in selector.namespaces)\n"},
      {zone_with_selector("        namespaces: [my_ns]\n"),
       "t.yaml:9:22: error: invalid namespace 'my_ns'; a Kubernetes namespace is a DNS label: at "
       "most 63 lowercase letters, digits and '-', starting and ending with a letter or digit "
       "(e.g. prod) (in selector.namespaces)\n"},
      {zone_with_selector("        namespaces: [\"prod-*\"]\n"),
       "t.yaml:9:22: error: namespace 'prod-*' is a glob; namespaces are listed by their exact "
       "names (e.g. prod), or use a workload's pod: \"prod-*/*\" to match namespaces by a glob "
       "(in selector.namespaces)\n"},
      {zone_with_selector("        namespaces: [\"\"]\n"),
       "t.yaml:9:22: error: empty namespace; name a Kubernetes namespace, e.g. prod (in "
       "selector.namespaces)\n"},
      {zone_with_selector("        namespaces: [[a]]\n"),
       "t.yaml:9:22: error: each namespace in selector.namespaces must be a string like prod, "
       "got a list\n"},
      {zone_with_selector("        namespaces:\n          - prod\n          - prod\n"),
       "t.yaml:11:13: error: duplicate namespace 'prod' in selector.namespaces (first given at "
       "line 10); keep only one\n"},
  });
}

// ---- matchExpressions -------------------------------------------------------------------------

std::string expressions(const std::string& items) {
  return zone_with_selector("        matchExpressions:\n" + items);
}

TEST(PodSelectorsErrors, ExpressionShape) {
  expect_errors({
      {zone_with_selector("        matchExpressions: {key: app}\n"),
       "t.yaml:9:27: error: field 'matchExpressions' must be a list, e.g. [{key: app, operator: "
       "In, values: [web]}]; got a map\n"},
      {expressions("          - app\n"),
       "t.yaml:10:13: error: each match expression must be a map with key, operator, values; got "
       "'app'\n"},
      {expressions("          - {key: app, operator: In, value: [web]}\n"),
       "t.yaml:10:13: error: operator In needs values; add values: [VALUE, ...], the label "
       "values key 'app' must have, or use operator Exists\n"
       "t.yaml:10:38: error: unknown field 'value' in match expression; allowed: key, operator, "
       "values; did you mean 'values'?\n"},
      {expressions("          - {operator: Exists}\n"),
       "t.yaml:10:13: error: missing required field 'key' in match expression; add key: <label "
       "key>, e.g. key: app\n"},
      {expressions("          - {key: app}\n"),
       "t.yaml:10:13: error: missing required field 'operator' in match expression; add "
       "operator: In, NotIn, Exists or DoesNotExist\n"},
  });
}

TEST(PodSelectorsErrors, Operators) {
  expect_errors({
      {expressions("          - {key: app, operator: in, values: [web]}\n"),
       "t.yaml:10:34: error: invalid operator 'in' in match expression; allowed: In, NotIn, "
       "Exists, DoesNotExist; did you mean 'In'?\n"},
      {expressions("          - {key: app, operator: Exist}\n"),
       "t.yaml:10:34: error: invalid operator 'Exist' in match expression; allowed: In, NotIn, "
       "Exists, DoesNotExist; did you mean 'Exists'?\n"},
      {expressions("          - {key: app, operator: Gt, values: [\"1\"]}\n"),
       "t.yaml:10:34: error: invalid operator 'Gt' in match expression; allowed: In, NotIn, "
       "Exists, DoesNotExist\n"},
  });
}

TEST(PodSelectorsErrors, ValuesFollowTheOperator) {
  expect_errors({
      {expressions("          - {key: app, operator: NotIn}\n"),
       "t.yaml:10:13: error: operator NotIn needs values; add values: [VALUE, ...], the label "
       "values key 'app' must not have, or use operator DoesNotExist\n"},
      {expressions("          - {key: app, operator: In, values: []}\n"),
       "t.yaml:10:46: error: values is empty; operator In needs at least one value, e.g. values: "
       "[web]\n"},
      {expressions("          - {key: app, operator: In, values: web}\n"),
       "t.yaml:10:46: error: field 'values' must be a list, e.g. [web, api]; got 'web'\n"},
      {expressions("          - {key: app, operator: Exists, values: [web]}\n"),
       "t.yaml:10:50: error: operator Exists takes no values (it tests whether key 'app' is "
       "present); remove values, or use operator In to test them\n"},
      {expressions("          - {key: app, operator: DoesNotExist, values: [web]}\n"),
       "t.yaml:10:56: error: operator DoesNotExist takes no values (it tests whether key 'app' "
       "is absent); remove values, or use operator NotIn to test them\n"},
      {expressions("          - {key: app, operator: In, values: [\"-web\"]}\n"),
       "t.yaml:10:47: error: invalid label value '-web'; a label value is empty or at most 63 "
       "letters, digits, '-', '_' and '.', starting and ending with a letter or digit, e.g. web "
       "(in values of key 'app')\n"},
      {expressions("          - {key: app, operator: In, values: [{a: b}]}\n"),
       "t.yaml:10:47: error: each value must be a string like web, got a map\n"},
  });
}

TEST(PodSelectorsErrors, LabelKeysAreKubernetesQualifiedNames) {
  const auto bad_key = [](const std::string& key) {
    return expressions("          - {key: \"" + key + "\", operator: Exists}\n");
  };
  const std::string at = "t.yaml:10:19: error: invalid key in match expression: ";
  expect_errors({
      {bad_key(""), at + "empty label key; write a key, e.g. app or app.kubernetes.io/name\n"},
      {bad_key("a/b/c"), at + "label key 'a/b/c' has more than one '/'; a key is NAME or "
                              "PREFIX/NAME, e.g. app or app.kubernetes.io/name\n"},
      {bad_key("/app"), at + "label key '/app' has an empty prefix before '/'; write 'app' or "
                             "PREFIX/app with a DNS subdomain as PREFIX, e.g. example.com/app\n"},
      {bad_key("Example.com/app"),
       at + "the prefix 'Example.com' of label key 'Example.com/app' is not a DNS subdomain (at "
            "most 253 characters of dot-separated DNS labels: lowercase letters, digits and "
            "'-'), e.g. app.kubernetes.io\n"},
      {bad_key("example.com/"), at + "label key 'example.com/' has no name after '/'; write "
                                     "PREFIX/NAME, e.g. app or app.kubernetes.io/name\n"},
      {bad_key("app name"),
       at + "the name 'app name' of label key 'app name' must be at most 63 letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit, e.g. app or "
            "app.kubernetes.io/name\n"},
      {bad_key("-app"),
       at + "the name '-app' of label key '-app' must be at most 63 letters, digits, '-', '_' "
            "and '.', starting and ending with a letter or digit, e.g. app or "
            "app.kubernetes.io/name\n"},
      {bad_key(std::string(64, 'a')),
       at + "the name '" + std::string(64, 'a') + "' of label key '" + std::string(64, 'a') +
           "' must be at most 63 letters, digits, '-', '_' and '.', starting and ending with a "
           "letter or digit, e.g. app or app.kubernetes.io/name\n"},
  });
  // Upper case, '_' and '.' are fine in the name part.
  parse_ok(bad_key("example.com/My_App.v2"));
  parse_ok(bad_key(std::string(63, 'a')));
}

TEST(PodSelectorsErrors, EveryBadExpressionIsReported) {
  EXPECT_EQ(errors(expressions("          - {key: \"a b\", operator: Exists}\n"
                               "          - {key: app, operator: in}\n")),
            "t.yaml:10:19: error: invalid key in match expression: the name 'a b' of label key "
            "'a b' must be at most 63 letters, digits, '-', '_' and '.', starting and ending "
            "with a letter or digit, e.g. app or app.kubernetes.io/name\n"
            "t.yaml:11:34: error: invalid operator 'in' in match expression; allowed: In, NotIn, "
            "Exists, DoesNotExist; did you mean 'In'?\n");
}

// ---- workloads' pod globs ---------------------------------------------------------------------

TEST(PodSelectorsErrors, WorkloadPod) {
  const std::string at = "t.yaml:9:31: error: ";
  expect_errors({
      {workload("    - {name: w, zone: z, pod: web-*}\n"),
       at + "pod glob 'web-*' has no namespace; write NAMESPACE/NAME such as '*/web-*' (every "
            "namespace) or 'prod/web-*'\n"},
      {workload("    - {name: w, zone: z, pod: a/b/c}\n"),
       at + "pod glob 'a/b/c' has more than one '/'; write NAMESPACE/NAME, e.g. prod/web-* (or "
            "*/web-* for every namespace)\n"},
      {workload("    - {name: w, zone: z, pod: /web}\n"),
       at + "pod glob '/web' has an empty namespace before '/'; write '*/web' for every "
            "namespace, or name one\n"},
      {workload("    - {name: w, zone: z, pod: prod/}\n"),
       at + "pod glob 'prod/' has no pod name after '/'; write 'prod/*' for every pod of the "
            "namespace\n"},
      {workload("    - {name: w, zone: z, pod: Prod/web}\n"),
       at + "the namespace 'Prod' of pod glob 'Prod/web' is not a Kubernetes namespace (a DNS "
            "label: at most 63 lowercase letters, digits and '-', starting and ending with a "
            "letter or digit) nor a glob of one, e.g. prod/web-* (or */web-* for every "
            "namespace)\n"},
      {workload("    - {name: w, zone: z, pod: prod/Web_1}\n"),
       at + "the pod name 'Web_1' of pod glob 'prod/Web_1' has characters pod names never have; "
            "pod names are lowercase letters, digits, '-' and '.' (globs add * ? [ ]), e.g. "
            "prod/web-* (or */web-* for every namespace)\n"},
      {workload("    - {name: w, zone: z, pod: \"\"}\n"),
       at + "empty pod glob; write NAMESPACE/NAME, e.g. prod/web-* (or */web-* for every "
            "namespace)\n"},
      {workload("    - {name: w, zone: z, pod: [a/b]}\n"),
       at + "field 'pod' in workload must be a string, got a list\n"},
      {workload("    - {name: w, zone: z, pods: a/b}\n"),
       "t.yaml:9:26: error: unknown field 'pods' in workload; allowed: name, zone, cgroup, "
       "container, pod, addresses, addressFile, exclusive; did you mean 'pod'?\n"},
  });
  parse_ok(workload("    - {name: w, zone: z, pod: \"prod-*/web.v2-?\"}\n"));
}

TEST(PodSelectorsErrors, SelectorFieldsAreSuggested) {
  const std::string allowed =
      "in selector; allowed: cgroups, labels, names, images, namespaces, matchExpressions; did "
      "you mean ";
  expect_errors({
      {zone_with_selector("        namespace: [prod]\n"),
       "t.yaml:9:9: error: unknown field 'namespace' " + allowed + "'namespaces'?\n"},
      {zone_with_selector("        matchExpression: []\n"),
       "t.yaml:9:9: error: unknown field 'matchExpression' " + allowed + "'matchExpressions'?\n"},
  });
}

// ---- policy check -----------------------------------------------------------------------------

TEST(PodSelectorsCheck, ListsPodSelectors) {
  const std::string tail =
      "containers:\n"
      "  (none)\n"  // zones that list namespaces select no container by their labels
      "pods:\n"
      "  zone frontend: namespaces shop; labels app.kubernetes.io/component=frontend\n"
      "  zone backend: namespaces shop, payments; labels app.kubernetes.io/component In (api, "
      "worker), debug DoesNotExist\n"
      "  zone observability: namespaces monitoring\n"
      "  workload checkout (zone backend): pod payments/checkout-*\n"
      "  kube-system and the agent's own pod: exempt unless a workload's pod glob or a zone's "
      "namespaces names them\n"
      "default zone: agent-sandbox\n"
      "note: containers are matched at runtime by the agent's Docker discovery; a container no "
      "selector names, or not identified yet, is in zone agent-sandbox\n"
      "note: pods are matched at runtime by the agent's Kubernetes discovery; a pod no selector "
      "names, or not identified yet, is in zone agent-sandbox\n";
  test_helpers::expect_ends_with(
      test_helpers::check_listing(kSource + "/tests/unit/policy/testdata/kubernetes.yaml"), tail);
}

}  // namespace
}  // namespace guardrail::policy
