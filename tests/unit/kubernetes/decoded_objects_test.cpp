// DecodedObjects: only new and changed objects are decoded again; kept ones keep their value.
#include "guardrail/kubernetes/decoded_objects.hpp"

#include <gtest/gtest.h>

#include <string>

namespace guardrail::kubernetes {
namespace {

int decodes = 0;

// The object's "n" member, or an error for an object without one.
Result<int> decode_n(const nlohmann::json& object) {
  ++decodes;
  if (!object.contains("n")) return fail("no n");
  return object["n"].get<int>();
}

std::shared_ptr<const nlohmann::json> object_with(int n) {
  return std::make_shared<const nlohmann::json>(nlohmann::json{{"n", n}});
}

TEST(DecodedObjects, DecodesOnlyWhatChangedSinceTheLastUpdate) {
  DecodedObjects<int> cache(&decode_n, "thing");
  ObjectSnapshot snapshot{{"ns/a", object_with(1)}, {"ns/b", object_with(2)}};
  decodes = 0;
  EXPECT_EQ(cache.update(snapshot), (std::vector<int>{1, 2}));
  EXPECT_EQ(decodes, 2);
  EXPECT_EQ(cache.decoded_last(), 2u);

  // The same snapshot again: nothing is decoded.
  decodes = 0;
  EXPECT_EQ(cache.update(snapshot), (std::vector<int>{1, 2}));
  EXPECT_EQ(decodes, 0);

  // One object replaced (a new pointer, as a watch event stores it), one added, one gone.
  snapshot["ns/b"] = object_with(20);
  snapshot["ns/c"] = object_with(3);
  snapshot.erase("ns/a");
  decodes = 0;
  EXPECT_EQ(cache.update(snapshot), (std::vector<int>{20, 3}));
  EXPECT_EQ(decodes, 2);
  EXPECT_EQ(cache.decoded_last(), 2u);
}

TEST(DecodedObjects, AnObjectThatDoesNotDecodeIsLeftOutAndNotRetriedUnchanged) {
  DecodedObjects<int> cache(&decode_n, "thing");
  ObjectSnapshot snapshot{
      {"ns/bad", std::make_shared<const nlohmann::json>(nlohmann::json::object())},
      {"ns/good", object_with(7)}};
  decodes = 0;
  EXPECT_EQ(cache.update(snapshot), (std::vector<int>{7}));
  EXPECT_EQ(decodes, 2);
  decodes = 0;
  EXPECT_EQ(cache.update(snapshot), (std::vector<int>{7}));
  EXPECT_EQ(decodes, 0);
  // Fixed by a new version of the object: decoded and kept.
  snapshot["ns/bad"] = object_with(8);
  EXPECT_EQ(cache.update(snapshot), (std::vector<int>{8, 7}));
}

}  // namespace
}  // namespace guardrail::kubernetes
