// Logging: spdlog to stderr (alerts own stdout).
#pragma once

namespace guardrail {

// Sets up the stderr logger. verbose shows debug messages.
void init_logging(bool verbose);

}  // namespace guardrail
