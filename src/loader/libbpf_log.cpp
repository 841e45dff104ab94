#include "guardrail/loader/libbpf_log.hpp"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace guardrail {
namespace {

bool g_libbpf_debug = false;

int libbpf_to_spdlog(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !g_libbpf_debug) return 0;
  // libbpf hands over a verifier log as one message: size it first, never truncate it.
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n <= 0) return 0;
  std::string line(static_cast<std::size_t>(n) + 1, '\0');
  std::vsnprintf(line.data(), line.size(), format, args);
  line.resize(static_cast<std::size_t>(n));
  while (!line.empty() && line.back() == '\n') line.pop_back();
  switch (level) {
    case LIBBPF_WARN:
      spdlog::warn("libbpf: {}", line);
      break;
    case LIBBPF_INFO:
      spdlog::info("libbpf: {}", line);
      break;
    default:
      spdlog::debug("libbpf: {}", line);
      break;
  }
  return n;
}

}  // namespace

void route_libbpf_log(bool verbose) {
  g_libbpf_debug = verbose;
  libbpf_set_print(libbpf_to_spdlog);
}

}  // namespace guardrail
