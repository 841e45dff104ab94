// Where the Docker Engine API listens unless told otherwise: one spelling for the agent, the
// audit command, the demo and the client.
#pragma once

namespace guardrail::docker {

inline constexpr const char* kDefaultSocket = "/var/run/docker.sock";

}  // namespace guardrail::docker
