// Errors as values: every fallible operation returns Result<T>, whose error says what failed,
// on which object, and what to do about it, and keeps the errno behind it when there is one.
// Exceptions are caught only at the top of main.
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace guardrail {

struct Error {
  std::string message;   // what failed, on which object, what to do
  std::error_code code;  // the errno behind it (generic category); empty when there is none

  // The same error with what the caller was doing in front: "load policy: <message>".
  Error context(std::string_view what) const {
    return Error{std::string(what) + ": " + message, code};
  }
};

template <typename T = void>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string message) {
  return std::unexpected(Error{std::move(message), {}});
}

// `what` failed with the errno value `err` (positive or negative, as libbpf returns it).
inline std::unexpected<Error> fail_errno(std::string what, int err) {
  if (err < 0) err = -err;
  return std::unexpected(Error{std::move(what) + ": " + std::strerror(err),
                               std::error_code(err, std::generic_category())});
}

// Hands the error of a failed result up to the caller: `if (!r) return propagate(r);`.
template <typename T>
std::unexpected<Error> propagate(const Result<T>& failed) {
  return std::unexpected(failed.error());
}

}  // namespace guardrail

// Evaluates a Result-returning expression and returns its error from the enclosing function
// (which must return a Result) when it failed: GR_TRY(guard.attach(dir));
#define GR_TRY(...)                                                  \
  do {                                                               \
    if (auto gr_try_result_ = (__VA_ARGS__); !gr_try_result_)        \
      return ::std::unexpected(::std::move(gr_try_result_).error()); \
  } while (0)
