#include "guardrail/events/guards.hpp"

#include <algorithm>
#include <utility>

namespace guardrail {
namespace {

constexpr std::array<std::pair<Guard, std::string_view>, 9> kGuardNames = {{
    {Guard::Network, "network"},
    {Guard::RawSockets, "raw-sockets"},
    {Guard::RuntimeSockets, "runtime-sockets"},
    {Guard::Capabilities, "capabilities"},
    {Guard::Mounts, "mounts"},
    {Guard::Bpf, "bpf"},
    {Guard::HostWrites, "host-writes"},
    {Guard::Cgroups, "cgroups"},
    {Guard::Agent, "agent"},
}};

constexpr std::array<std::pair<Backend, std::string_view>, 12> kBackendNames = {{
    {Backend::None, "none"},
    {Backend::CgroupSockAddr, "cgroup_sock_addr"},
    {Backend::CgroupSkb, "cgroup_skb"},
    {Backend::CgroupSock, "cgroup_sock"},
    {Backend::Lsm, "lsm"},
    {Backend::LsmCgroup, "lsm_cgroup"},
    {Backend::TpBtf, "tp_btf"},
    {Backend::Tracepoint, "tracepoint"},
    {Backend::CgroupConnectUnix, "cgroup_connect_unix"},
    {Backend::CgroupSockAddrSkb, "cgroup_sock_addr+cgroup_skb"},
    {Backend::Unavailable, "unavailable"},
    {Backend::NotEnforced, "not_enforced"},
}};

static_assert(GR_BACKEND_CGROUP_CONNECT_UNIX == 8, "a wire backend id changed: update the table");

template <typename E, std::size_t N>
std::string_view name_in(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
  auto it = std::ranges::find(table, value, &std::pair<E, std::string_view>::first);
  return it == table.end() ? "unknown" : it->second;
}

}  // namespace

std::string_view guard_name(Guard guard) { return name_in(kGuardNames, guard); }

std::optional<Guard> guard_named(std::string_view name) {
  auto it = std::ranges::find(kGuardNames, name, &std::pair<Guard, std::string_view>::second);
  if (it == kGuardNames.end()) return std::nullopt;
  return it->first;
}

std::string_view backend_name(Backend backend) { return name_in(kBackendNames, backend); }

std::string_view backend_name(std::uint8_t wire_backend) {
  if (wire_backend > GR_BACKEND_CGROUP_CONNECT_UNIX) return "none";
  return backend_name(static_cast<Backend>(wire_backend));
}

std::optional<gr_host_guard> host_guard_slot(Guard guard) {
  switch (guard) {
    case Guard::Capabilities:
      return GR_GUARD_CAPABILITIES;
    case Guard::RawSockets:
      return GR_GUARD_RAW_SOCKETS;
    case Guard::Mounts:
      return GR_GUARD_MOUNTS;
    case Guard::RuntimeSockets:
      return GR_GUARD_RUNTIME_SOCKETS;
    case Guard::Bpf:
      return GR_GUARD_BPF;
    case Guard::HostWrites:
      return GR_GUARD_HOST_WRITES;
    case Guard::Cgroups:
      return GR_GUARD_CGROUPS;
    case Guard::Network:
    case Guard::Agent:  // no zone slot: on for every workload (host_guard.bpf.h)
      break;
  }
  return std::nullopt;
}

}  // namespace guardrail
