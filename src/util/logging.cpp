#include "guardrail/util/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace guardrail {

void init_logging(bool verbose) {
  auto logger = spdlog::stderr_color_mt("guardrail");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
}

}  // namespace guardrail
