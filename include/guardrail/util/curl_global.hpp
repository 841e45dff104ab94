// libcurl's global state, set up once for the whole program (curl_global_init is not thread-safe
// and must run before any handle exists: the Docker client, the webhook and the demo share it).
#pragma once

#include "guardrail/util/result.hpp"

namespace guardrail {

// Runs curl_global_init the first time; every later call returns the first call's outcome.
Result<void> curl_global_ready();

}  // namespace guardrail
