#include "guardrail/util/result.hpp"

#include <gtest/gtest.h>

namespace guardrail {
namespace {

TEST(Result, FailErrnoNamesWhatFailedAndTheReason) {
  Result<int> r = fail_errno("open /nope", -ENOENT);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "open /nope: No such file or directory");
}

}  // namespace
}  // namespace guardrail
