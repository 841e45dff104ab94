// The guards and their backends as types: one name table each, shared by the probe (which
// chooses), the loaders (which load), the agent, the metrics and the alerts. A backend that is a
// single hook family has the wire id the BPF programs put in their events (enum gr_backend).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "guardrail.h"

namespace guardrail {

enum class Guard : std::uint8_t {
  Network,
  RawSockets,
  RuntimeSockets,
  Capabilities,
  Mounts,
  Bpf,
  HostWrites,
  Cgroups,  // cgroupfs writes outside the workload: on for every workload
  Agent,    // signals and ptrace on the agent's own process: on for every workload
};

// Every guard, in report order (probe table, metrics, startup log).
inline constexpr std::array<Guard, 9> kGuards = {
    Guard::Network, Guard::RawSockets, Guard::RuntimeSockets, Guard::Capabilities, Guard::Mounts,
    Guard::Bpf,     Guard::HostWrites, Guard::Cgroups,        Guard::Agent};

enum class Backend : std::uint8_t {
  // Hook families, numbered as on the wire.
  None = GR_BACKEND_NONE,
  CgroupSockAddr = GR_BACKEND_CGROUP_SOCK_ADDR,
  CgroupSkb = GR_BACKEND_CGROUP_SKB,
  CgroupSock = GR_BACKEND_CGROUP_SOCK,
  Lsm = GR_BACKEND_LSM,
  LsmCgroup = GR_BACKEND_LSM_CGROUP,  // a wire id kept reserved: no guard is loaded on it
  TpBtf = GR_BACKEND_TP_BTF,
  Tracepoint = GR_BACKEND_TRACEPOINT,
  CgroupConnectUnix = GR_BACKEND_CGROUP_CONNECT_UNIX,
  // What a guard can run on without being one hook family.
  CgroupSockAddrSkb = 32,  // the network guard: connect/sendmsg and both skb directions
  Unavailable,             // this kernel cannot run the guard
  NotEnforced,             // no zone of the policy asks for it
};

std::string_view guard_name(Guard guard);  // "network", "raw-sockets", ...
std::optional<Guard> guard_named(std::string_view name);
std::string_view backend_name(Backend backend);  // "lsm", "cgroup_sock_addr+cgroup_skb", ...
// The name of an event's wire backend id; "none" for an id no hook family has.
std::string_view backend_name(std::uint8_t wire_backend);

// The host guard's slot in gr_host_policy.action (the network guard has none).
std::optional<gr_host_guard> host_guard_slot(Guard guard);

}  // namespace guardrail
