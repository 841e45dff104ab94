// Errors as values: every fallible operation returns Result<T>, whose error says what failed,
// on which object, and what to do about it. Exceptions are caught only at the top of main.
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <utility>

namespace guardrail {

struct Error {
  std::string message;
};

template <typename T = void>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string message) {
  return std::unexpected(Error{std::move(message)});
}

// `what` failed with the errno value `err` (positive or negative, as libbpf returns it).
inline std::unexpected<Error> fail_errno(std::string what, int err) {
  if (err < 0) err = -err;
  return std::unexpected(Error{std::move(what) + ": " + std::strerror(err)});
}

}  // namespace guardrail
