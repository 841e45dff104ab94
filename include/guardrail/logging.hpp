// Logging: spdlog to stderr (alerts own stdout), with libbpf's messages bridged into it.
#pragma once

namespace guardrail {

// Sets up the stderr logger. verbose shows debug messages, libbpf's included.
void init_logging(bool verbose);

}  // namespace guardrail
