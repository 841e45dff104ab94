// Decoding ring buffer records (layouts in bpf/guardrail.h) and rendering them as alerts.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "guardrail.h"
#include "guardrail/util/result.hpp"

namespace guardrail::events {

// Every record body the kernel side emits.
using Event = std::variant<gr_net_event, gr_host_event>;

// The fields every body has.
const gr_event_header& header(const Event& event);
std::uint32_t workload_id(const Event& event);
std::uint32_t zone_id(const Event& event);
std::uint8_t verdict(const Event& event);
std::uint32_t pid(const Event& event);

// Checks the common header (known type, version, size) before trusting the body.
Result<Event> decode(std::span<const std::byte> record);

std::string_view kind_name(std::uint16_t type);       // "net_connect", "east_west_bypass", ...
std::string_view verdict_name(std::uint8_t verdict);  // "blocked", "audited", ...
std::string protocol_name(std::uint8_t protocol);     // "tcp", "udp", "icmp", or the number
std::string_view rule_name(std::uint32_t rule);  // "default-deny", "isolation", "not-a-reply", ...
// How the peer was identified: "address", "local-workload" (the owner of the socket at the other
// end, in the same network namespace) or "local-host" (a socket of this host no workload owns).
std::string_view peer_scope_name(std::uint8_t scope);

// Turns ids into the names the policy gave them.
struct NameTable {
  std::string policy;
  std::map<std::uint32_t, std::string> zones;
  std::map<std::uint32_t, std::string> workloads;
  // Cgroups under the programs that are no workload (a placeholder's own cgroup: refused what
  // no rule names, fail closed), by cgroup id: the workload and zone their alerts name.
  std::map<std::uint64_t, std::pair<std::string, std::string>> cgroups;

  std::string zone(std::uint32_t id) const;      // "world" for GR_IDENTITY_WORLD, "unknown"
  std::string workload(std::uint32_t id) const;  // "" for 0
};

// Kernel timestamps count from boot (bpf_ktime_get_boot_ns); alerts carry wall-clock time.
class WallClock {
 public:
  WallClock();  // samples the offset between CLOCK_REALTIME and CLOCK_BOOTTIME now
  explicit WallClock(std::int64_t offset_ns) : offset_ns_(offset_ns) {}
  std::string format(std::uint64_t boot_ns) const;  // RFC 3339, UTC, nanoseconds

 private:
  std::int64_t offset_ns_;
};

// The alert as one JSON object (the JSON-lines sink writes one per line).
nlohmann::ordered_json to_json(const gr_net_event& event, const NameTable& names,
                               const WallClock& clock);
nlohmann::ordered_json to_json(const gr_host_event& event, const NameTable& names,
                               const WallClock& clock);
nlohmann::ordered_json to_json(const Event& event, const NameTable& names, const WallClock& clock);

std::string_view mount_op_name(std::uint32_t op);         // "mount", "fsopen", "move_mount", ...
std::string_view unix_reason_name(std::uint32_t reason);  // "not_allowed", "other_workload", ...
// A tamper event's bpf command: "link_detach", "prog_detach", "link_get_fd_by_id", ... or the
// number.
std::string bpf_command_name(std::uint32_t cmd);

// A tamper record's subject (gr_host_event.tamper): "bpf", "signal", "ptrace".
std::string_view tamper_name(std::uint8_t tamper);
// "SIGTERM", "SIGKILL", ...; "SIG<n>" for a number without a name (real-time signals).
std::string signal_name(int signal);
// A ptrace tamper record's route (enum gr_ptrace_access): "ptrace_may_access" (LSM), "ptrace",
// "process_vm_readv", "process_vm_writev" (syscall tracepoints).
std::string_view ptrace_access_name(std::uint32_t access);
// The ptrace_may_access mode: "attach" or "read", with "_fscreds" or "_realcreds".
std::string ptrace_mode_name(std::uint32_t mode);
// The ptrace request of the syscall: "attach", "seize" (or the number).
std::string ptrace_request_name(std::uint32_t request);

// What a signal or ptrace tamper alert says where the backend could only observe.
inline constexpr std::string_view kSelfTamperGuarantee =
    "BPF-LSM unavailable: the signal or ptrace access reached the agent (SIGKILL and SIGSTOP "
    "stop it; the agent ignores SIGTERM, SIGINT and SIGHUP from workloads); the pinned programs "
    "keep enforcing while it is gone, and the next agent reports what its predecessor could not";

// What a tamper alert says about the guarantee (the fallback: no BPF-LSM to refuse bpf()).
inline constexpr std::string_view kTamperGuarantee =
    "BPF-LSM unavailable: a privileged workload can detach the agent's programs and so "
    "interrupt enforcement until the agent re-attaches them (within milliseconds of this "
    "event; at most one tamper-check interval when no event is seen)";

}  // namespace guardrail::events
