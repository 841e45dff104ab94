#include "guardrail/logging.hpp"

#include <bpf/libbpf.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace guardrail {
namespace {

bool g_libbpf_debug = false;

int libbpf_to_spdlog(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !g_libbpf_debug) return 0;
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, format, args);
  std::string line(buf, n > 0 ? std::min<size_t>(n, sizeof buf - 1) : 0);
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

void init_logging(bool verbose) {
  auto logger = spdlog::stderr_color_mt("guardrail");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  g_libbpf_debug = verbose;
  libbpf_set_print(libbpf_to_spdlog);
}

}  // namespace guardrail
