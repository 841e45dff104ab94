// The inspect reader on answers no sane daemon sends (found by fuzz_docker): a label whose value
// nests 200,000 levels deep is left out instead of overflowing the stack.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "guardrail/docker/client.hpp"

namespace guardrail::docker {
namespace {

TEST(DockerInspect, DeeplyNestedLabelValueIsLeftOut) {
  const std::size_t depth = 200'000;
  const std::string text = R"({"Id": "x", "Config": {"Labels": {"ok": "yes", "deep": )" +
                           std::string(depth, '[') + std::string(depth, ']') + "}}}";
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  const Container c = container_from_inspect(doc);
  EXPECT_EQ(c.labels, (std::map<std::string, std::string>{{"ok", "yes"}}));
}

TEST(DockerInspect, ListAndMapLabelValuesAreLeftOut) {
  const Container c = container_from_inspect(nlohmann::json::parse(
      R"({"Config": {"Labels": {"l": [1], "m": {"a": 1}, "b": true, "n": 2}}})"));
  EXPECT_EQ(c.labels, (std::map<std::string, std::string>{{"b", "true"}, {"n", "2"}}));
}

}  // namespace
}  // namespace guardrail::docker
