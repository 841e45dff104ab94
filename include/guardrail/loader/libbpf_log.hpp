// libbpf's messages (verifier logs included, never truncated) bridged into the spdlog logger.
#pragma once

namespace guardrail {

// From now on libbpf prints through spdlog; its debug messages only when verbose.
void route_libbpf_log(bool verbose);

}  // namespace guardrail
