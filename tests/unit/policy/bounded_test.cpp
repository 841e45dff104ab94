// Bounded input: every text ends in a policy or positioned errors, within the size, depth and
// alias-expansion limits (src/policy/yaml_tree.hpp); the inputs that made yaml-cpp 0.7 grow
// without bound are plain syntax errors.
#include <gtest/gtest.h>

#include <string>

#include "guardrail/policy/parse.hpp"
#include "policy_test_helpers.hpp"

namespace guardrail::policy {
namespace {

using namespace test_helpers;  // doc, dump, errors_of, expect_one_error, parse_ok

const std::string kZone = "  zones:\n    - name: agents\n      selector: {cgroups: [\"/g/a/*\"]}\n";

// A stray ',' after a node: yaml-cpp 0.7's LoadAll allocated until the OOM killer came.
TEST(PolicyBounded, StrayCommasAreSyntaxErrors) {
  for (const std::string text :
       {",", ",,", "  ,", "- a\n,", "---\n,", "\"a\",", "'a',", "{a: b},", "[a],"}) {
    const auto diagnostics = errors_of(text);
    ASSERT_EQ(diagnostics.size(), 1u) << text << "\n" << dump(diagnostics);
    EXPECT_NE(diagnostics[0].message.find("invalid YAML"), std::string::npos)
        << diagnostics[0].format();
    EXPECT_GE(diagnostics[0].pos.line, 1);
  }
  expect_one_error(",", 1, 1, {"invalid YAML", "fix the syntax here"});
  expect_one_error(doc(kZone) + "  ,\n", 9, 3, {"invalid YAML"});
}

TEST(PolicyBounded, SyntaxErrorNamesWhatWasOpen) {
  expect_one_error("apiVersion: guardrail.io/v1alpha1\nspec: [1, 2\nkind: x\n", 3, 5,
                   {"invalid YAML", "flow sequence started at line 2, column 7"});
}

TEST(PolicyBounded, DeepNestingNamesTheDepthAndWhere) {
  // 100,000 open brackets: refused at the 33rd, without reading on.
  expect_one_error(std::string(100000, '[') + std::string(100000, ']'), 1, 33,
                   {"nests deeper than 32 levels", "depth 33"});
  std::string maps;
  for (int i = 0; i < 40; ++i) maps += std::string(2 * i, ' ') + "a:\n";
  expect_one_error(maps, 33, 65, {"deeper than 32", "depth 33"});
  // Inside a real policy the position is where the limit is crossed.
  // (spec is depth 2: the 31st bracket, column 40, opens depth 33.)
  expect_one_error(doc("  zones: " + std::string(40, '[') + std::string(40, ']') + "\n"), 6, 40,
                   {"depth 33"});
}

TEST(PolicyBounded, NestingUpToTheLimitIsOnlyAShapeError) {
  const auto diagnostics =
      errors_of(doc("  zones: " + std::string(30, '[') + std::string(30, ']')));
  ASSERT_EQ(diagnostics.size(), 1u) << dump(diagnostics);
  EXPECT_NE(diagnostics[0].message.find("each zone must be a map"), std::string::npos);
}

TEST(PolicyBounded, AliasExpansionIsBounded) {
  // Ten levels of ten aliases each: 10^10 nodes if expanded.
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + char(c - 1);
    bomb += "]\n";
  }
  const auto diagnostics = errors_of(bomb);
  ASSERT_EQ(diagnostics.size(), 1u) << dump(diagnostics);
  EXPECT_NE(diagnostics[0].message.find("expands to more than 1000000 YAML nodes"),
            std::string::npos)
      << diagnostics[0].format();
}

TEST(PolicyBounded, RecursiveAndUnknownAliases) {
  expect_one_error("a: &a [b, *a]\n", 1, 11, {"inside the node it names", "recursive"});
  expect_one_error("a: *nothing\n", 1, 4, {"alias '*nothing' names no anchor"});
}

TEST(PolicyBounded, AliasesOfSmallNodesWork) {
  const Policy p = parse_ok(
      doc("  zones:\n"
          "    - name: a\n      selector: {cgroups: [\"/g/a/*\"]}\n"
          "      guards: &locked {rawSockets: {action: deny}, bpf: {action: deny}}\n"
          "    - name: b\n      selector: {cgroups: [\"/g/b/*\"]}\n      guards: *locked\n"));
  ASSERT_EQ(p.zones.size(), 2u);
  EXPECT_EQ(p.zones[1].guards.raw_sockets, Action::Deny);
  EXPECT_EQ(p.zones[1].guards.bpf, Action::Deny);
}

TEST(PolicyBounded, SizeLimit) {
  // Exactly the limit is read (padded with a comment); one byte more is refused before parsing.
  std::string text = doc(kZone) + "#";
  text += std::string(kMaxPolicyBytes - text.size() - 1, 'x') + "\n";
  ASSERT_EQ(text.size(), kMaxPolicyBytes);
  parse_ok(text);
  expect_one_error(text + "\n", 1, 1, {"more than 1048576 bytes", "1 MiB"});
}

TEST(PolicyBounded, HugeFileIsNotReadWhole) {
  // /dev/zero never ends: the reader stops once past the limit.
  const auto p = load_policy_file("/dev/zero");
  ASSERT_FALSE(p);
  ASSERT_EQ(p.error().size(), 1u) << dump(p.error());
  EXPECT_NE(p.error()[0].message.find("more than 1048576 bytes"), std::string::npos);
  EXPECT_EQ(p.error()[0].pos.file, "/dev/zero");
}

TEST(PolicyBounded, ManyErrorsAreCountedAfterTheFirstHundred) {
  std::string ports;
  for (int i = 0; i < 1000; ++i) ports += (i ? ", " : "") + std::string("x") + std::to_string(i);
  const auto diagnostics =
      errors_of(doc("  zones:\n    - name: agents\n      selector: {cgroups: [\"/g/a/*\"]}\n"
                    "      egress: [{cidr: 198.18.0.0/15, protocol: tcp, ports: [" +
                    ports + "]}]\n"));
  ASSERT_EQ(diagnostics.size(), 101u);
  EXPECT_NE(diagnostics[99].message.find("invalid port 'x99'"), std::string::npos);
  EXPECT_EQ(diagnostics[100].message, "and 900 more errors after this one; fix these first");
}

TEST(PolicyBounded, NotUtf8) {
  expect_one_error("apiVersion: a\nkind: \xff\xfe\n", 2, 7, {"invalid YAML", "UTF-8"});
}

TEST(PolicyBounded, NullsAndQuotedNulls) {
  // A quoted "null" is the string, an unquoted one nothing: as yaml-cpp read them.
  expect_one_error(doc("  defaultZone: \"null\"\n" + kZone), 6, 16, {"unknown zone 'null'"});
  const Policy p = parse_ok(doc("  workloads: null\n  flows: ~\n" + kZone));
  EXPECT_TRUE(p.workloads.empty());
}

}  // namespace
}  // namespace guardrail::policy
