// Checks the fields of an alert document against a JSON literal, so a test states what it
// expects as one document instead of a column of EXPECT_EQ lines.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string_view>

namespace guardrail::test {

// One EXPECT_EQ per field of `expected` (a JSON object), each failure naming the field; a field
// missing from `actual` fails as missing. Fields of `actual` that are not named are not checked.
// Json: nlohmann::json or nlohmann::ordered_json (what the alert builders return).
template <typename Json>
void expect_fields(const Json& actual, std::string_view expected) {
  const auto want = Json::parse(expected);
  ASSERT_TRUE(want.is_object()) << expected;
  for (const auto& [key, value] : want.items()) {
    if (!actual.contains(key)) {
      ADD_FAILURE() << "field \"" << key << "\" is missing from " << actual.dump();
      continue;
    }
    EXPECT_EQ(actual.at(key), value) << "field \"" << key << "\"";
  }
}

}  // namespace guardrail::test
