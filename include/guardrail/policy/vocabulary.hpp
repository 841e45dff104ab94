// Names a policy may use that other subsystems implement: the posture checks (spec.quarantineOn;
// src/posture/checks.cpp implements each one) and the runtime sockets every runtime-socket guard
// and the posture check no_runtime_socket watch. One list each, so the two sides cannot drift.
#pragma once

#include <string>
#include <vector>

namespace guardrail::policy {

// The posture checks `guardrail audit` and the agent run, in report order.
extern const std::vector<std::string> kPostureChecks;

// Where the container runtimes put their sockets (Docker, containerd, Docker's own containerd,
// CRI-O), under /run and its usual /var/run alias: always guarded when a zone guards runtime
// sockets, and flagged when a container can reach one.
extern const std::vector<std::string> kDefaultRuntimeSockets;

}  // namespace guardrail::policy
