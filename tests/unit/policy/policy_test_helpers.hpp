// What the policy unit tests share: test documents, parsing them, and checking diagnostics.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "guardrail/policy/check.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/policy/parse.hpp"

namespace guardrail::policy::test_helpers {

// The five header lines every test document starts with; the body starts at line 6.
inline std::string doc(const std::string& spec_body) {
  return "apiVersion: guardrail.io/v1alpha1\n"
         "kind: GuardrailPolicy\n"
         "metadata:\n"
         "  name: t\n"
         "spec:\n" +
         spec_body;
}

// Every diagnostic, formatted, one a line.
inline std::string dump(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const auto& d : diagnostics) out += d.format() + "\n";
  return out;
}

// The diagnostics of `text` as t.yaml (none when it is valid).
inline std::vector<Diagnostic> errors_of(const std::string& text) {
  auto policy = parse_policy(text, "t.yaml");
  if (policy) return {};
  return policy.error();
}

// `text` parsed as t.yaml; a test failure (and an empty policy) when it is not valid.
inline Policy parse_ok(const std::string& text) {
  auto policy = parse_policy(text, "t.yaml");
  if (!policy) {
    ADD_FAILURE() << dump(policy.error());
    return {};
  }
  return *policy;
}

// A document with this spec body, parsed (a test failure when it is not valid).
inline Policy parse_spec(const std::string& spec_body) { return parse_ok(doc(spec_body)); }

// An address or prefix the test writes correctly (a test failure when it does not parse).
inline Cidr cidr_of(const std::string& text) {
  auto c = parse_cidr(text);
  EXPECT_TRUE(c) << text;
  return c.value_or(Cidr{});
}

// Exactly one diagnostic, at line:column of t.yaml, whose message contains every fragment.
inline void expect_one_error(const std::string& text, int line, int column,
                             std::initializer_list<std::string> fragments) {
  auto policy = parse_policy(text, "t.yaml");
  ASSERT_FALSE(policy) << "parsed: " << text;
  const auto& diagnostics = policy.error();
  ASSERT_EQ(diagnostics.size(), 1u) << dump(diagnostics);
  const Diagnostic& d = diagnostics[0];
  EXPECT_EQ(d.pos.file, "t.yaml");
  EXPECT_EQ(d.pos.line, line) << d.format();
  EXPECT_EQ(d.pos.column, column) << d.format();
  for (const auto& fragment : fragments)
    EXPECT_NE(d.message.find(fragment), std::string::npos)
        << "missing '" << fragment << "' in: " << d.message;
}

// Exactly one diagnostic, formatted as `formatted`.
inline void expect_only_error(const std::string& text, const std::string& formatted) {
  const auto diagnostics = errors_of(text);
  ASSERT_EQ(diagnostics.size(), 1u) << dump(diagnostics);
  EXPECT_EQ(diagnostics[0].format(), formatted);
}

// Every diagnostic of `text` as t.yaml, formatted, in order ("" when the text is valid).
inline std::string errors(const std::string& text) {
  auto policy = parse_policy(text, "t.yaml");
  return policy ? "" : dump(policy.error());
}

// Each text gives exactly its diagnostics, formatted, in order.
struct ErrorCase {
  std::string text;
  std::string expected;
};
inline void expect_errors(const std::vector<ErrorCase>& cases) {
  for (const auto& [text, expected] : cases) EXPECT_EQ(errors(text), expected) << text;
}

// A zone z (lines 6-8) whose selector body starts at line 9.
inline std::string zone_with_selector(const std::string& selector_body) {
  return doc(
      "  zones:\n"
      "    - name: z\n"
      "      selector:\n" +
      selector_body);
}

// What `guardrail policy check FILE` prints for a file that must pass (a test failure if not).
inline std::string check_listing(const std::string& file) {
  std::ostringstream out, err;
  EXPECT_EQ(run_policy_check({file}, out, err), 0) << err.str();
  EXPECT_EQ(err.str(), "");
  return out.str();
}

// `text` (a listing) ends with `tail`.
inline void expect_ends_with(const std::string& text, const std::string& tail) {
  ASSERT_GE(text.size(), tail.size()) << text;
  EXPECT_EQ(text.substr(text.size() - tail.size()), tail) << text;
}

}  // namespace guardrail::policy::test_helpers
