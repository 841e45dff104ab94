#include "guardrail/util/result.hpp"

#include <gtest/gtest.h>

namespace guardrail {
namespace {

TEST(Result, FailErrnoNamesWhatFailedAndTheReason) {
  Result<int> r = fail_errno("open /nope", -ENOENT);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "open /nope: No such file or directory");
  EXPECT_EQ(r.error().code, std::errc::no_such_file_or_directory);
}

TEST(Result, FailWithoutErrnoHasNoCode) {
  Result<int> r = fail("policy has no zones");
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error().code);
}

TEST(Result, ContextKeepsTheCause) {
  Result<int> r = fail_errno("attach connect4", EPERM);
  const Error e = r.error().context("workload /a/b");
  EXPECT_EQ(e.message, "workload /a/b: attach connect4: Operation not permitted");
  EXPECT_EQ(e.code, std::errc::operation_not_permitted);
}

Result<int> half(int x) {
  if (x % 2) return fail_errno("half of " + std::to_string(x), EINVAL);
  return x / 2;
}

Result<int> quarter(int x) {
  auto h = half(x);
  if (!h) return propagate(h);
  return half(*h);
}

Result<void> check_even(int x) {
  GR_TRY(half(x));
  return {};
}

TEST(Result, PropagateAndTryHandTheSameErrorUp) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "half of 3: Invalid argument");
  EXPECT_EQ(r.error().code, std::errc::invalid_argument);
  EXPECT_TRUE(check_even(4));
  auto c = check_even(5);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, std::errc::invalid_argument);
}

}  // namespace
}  // namespace guardrail
