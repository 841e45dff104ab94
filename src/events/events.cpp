#include "guardrail/events/events.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "guardrail/events/guards.hpp"
#include "guardrail/policy/model.hpp"

namespace guardrail::events {

// The layouts are the wire format between the BPF object and the agent: a change must be
// deliberate (bump GR_EVENT_VERSION), never an accident of padding.
static_assert(sizeof(gr_event_header) == 16);
static_assert(sizeof(gr_net_event) == 112);
static_assert(sizeof(gr_portset) == 8 + 8 * GR_MAX_PORT_RANGES);
static_assert(sizeof(gr_ip_key) == 20);
static_assert(sizeof(gr_zone_ip_key) == 24);
static_assert(sizeof(gr_host_event) == 328);
static_assert(sizeof(gr_host_policy) == 24 && sizeof(gr_inode_key) == 16);
static_assert(sizeof(gr_zone_inode_key) == 16 && sizeof(gr_zone_unix_path_key) == 112);
static_assert(sizeof(gr_flow_key) == 8 && sizeof(gr_workload) == 16 && sizeof(gr_identity) == 16);

namespace {

// The body of a record whose header was checked: exactly the size of its struct.
template <typename Body>
Result<Event> body(const gr_event_header& header, std::span<const std::byte> record) {
  Body event;
  if (header.size != sizeof event)
    return fail(std::string(kind_name(header.type)) + " record of " + std::to_string(header.size) +
                " bytes, expected " + std::to_string(sizeof event));
  std::memcpy(&event, record.data(), sizeof event);
  return event;
}

}  // namespace

Result<Event> decode(std::span<const std::byte> record) {
  gr_event_header header;
  if (record.size() < sizeof header)
    return fail("event record of " + std::to_string(record.size()) +
                " bytes is shorter than its header");
  std::memcpy(&header, record.data(), sizeof header);
  if (header.version != GR_EVENT_VERSION)
    return fail("event record version " + std::to_string(header.version) + ", expected " +
                std::to_string(GR_EVENT_VERSION) + ": the BPF object and the agent differ");
  if (header.size > record.size())
    return fail("event record claims " + std::to_string(header.size) + " bytes but holds " +
                std::to_string(record.size()));
  switch (header.type) {
    case GR_EV_NET_CONNECT:
    case GR_EV_NET_SEND:
    case GR_EV_NET_EGRESS:
    case GR_EV_NET_INGRESS:
    case GR_EV_EAST_WEST_BYPASS:
      return body<gr_net_event>(header, record);
    case GR_EV_CAPABILITY:
    case GR_EV_RAW_SOCKET:
    case GR_EV_MOUNT:
    case GR_EV_RUNTIME_SOCKET:
    case GR_EV_BPF:
    case GR_EV_TAMPER:
    case GR_EV_UNIX_SOCKET:
    case GR_EV_HOST_WRITE:
    case GR_EV_CGROUP_ESCAPE:
      return body<gr_host_event>(header, record);
    default:
      return fail("unknown event type " + std::to_string(header.type));
  }
}

const gr_event_header& header(const Event& event) {
  return std::visit([](const auto& ev) -> const gr_event_header& { return ev.hdr; }, event);
}
std::uint32_t workload_id(const Event& event) {
  return std::visit([](const auto& ev) { return ev.workload_id; }, event);
}
std::uint32_t zone_id(const Event& event) {
  return std::visit([](const auto& ev) { return ev.zone_id; }, event);
}
std::uint8_t verdict(const Event& event) {
  return std::visit([](const auto& ev) { return ev.verdict; }, event);
}
std::uint32_t pid(const Event& event) {
  return std::visit([](const auto& ev) { return ev.pid; }, event);
}

namespace {

// Names by wire id (bpf/guardrail.h); an id without a name gets `fallback`.
template <std::size_t N>
std::string_view name_of(const std::array<std::string_view, N>& names, std::size_t id,
                         std::string_view fallback) {
  return id < N && !names[id].empty() ? names[id] : fallback;
}

constexpr std::array<std::string_view, GR_EV_TYPE_MAX> kKinds = {"",
                                                                 "net_connect",
                                                                 "net_send",
                                                                 "net_egress",
                                                                 "net_ingress",
                                                                 "east_west_bypass",
                                                                 "capability",
                                                                 "raw_socket",
                                                                 "mount",
                                                                 "runtime_socket",
                                                                 "bpf",
                                                                 "tamper",
                                                                 "unix_socket",
                                                                 "host_write",
                                                                 "cgroup_escape"};
constexpr std::array<std::string_view, 5> kVerdicts = {"", "blocked", "audited", "detected",
                                                       "killed"};
constexpr std::array<std::string_view, 8> kMountOps = {
    "", "mount", "fsopen", "fsconfig", "fsmount", "move_mount", "open_tree", "new_superblock"};

constexpr std::array<std::string_view, 5> kUnixReasons = {"", "runtime_socket", "not_allowed",
                                                          "non_canonical", "other_workload"};

constexpr std::array<std::string_view, 6> kWriteTargets = {"",      "sysctl",    "sysrq_trigger",
                                                           "sysfs", "kernel_fs", "host_path"};
constexpr std::array<std::string_view, 6> kEscapes = {"",          "open",     "move",
                                                      "clone_into_cgroup", "cgroup_v1", "other_process"};

static_assert(GR_EV_BPF == 10 && GR_EV_TAMPER == 11 && GR_EV_UNIX_SOCKET == 12 &&
                  GR_EV_CGROUP_ESCAPE == 14 && GR_UNIX_REASON_OTHER_WORKLOAD == 4 &&
                  GR_VERDICT_KILLED == 4 && GR_MOUNT_OP_NEW_SUPER == 7 && GR_WRITE_HOST_PATH == 5 &&
                  GR_ESCAPE_CGROUP_V1 == 4,
              "a wire id changed: update the name tables");

}  // namespace

std::string_view kind_name(std::uint16_t type) { return name_of(kKinds, type, "unknown"); }

std::string_view verdict_name(std::uint8_t verdict) {
  return name_of(kVerdicts, verdict, "unknown");
}

std::string protocol_name(std::uint8_t protocol) {
  switch (protocol) {
    case GR_PROTO_TCP:
      return "tcp";
    case GR_PROTO_UDP:
      return "udp";
    case GR_PROTO_ICMP:
      return "icmp";
    case GR_PROTO_ICMPV6:
      return "icmpv6";
    default:
      return std::to_string(protocol);
  }
}

std::string_view mount_op_name(std::uint32_t op) { return name_of(kMountOps, op, "unknown"); }

std::string bpf_command_name(std::uint32_t cmd) {
  // The commands a tamper event can carry, by their uapi numbers (linux/bpf.h).
  switch (cmd) {
    case 8:
      return "prog_attach";
    case 9:
      return "prog_detach";
    case 13:
      return "prog_get_fd_by_id";
    case 29:
      return "link_update";
    case 30:
      return "link_get_fd_by_id";
    case 34:
      return "link_detach";
    default:
      return std::to_string(cmd);
  }
}

std::string_view unix_reason_name(std::uint32_t reason) {
  return name_of(kUnixReasons, reason, "unknown");
}

std::string_view rule_name(std::uint32_t rule) {
  switch (rule) {
    case GR_RULE_QUARANTINE:
      return "quarantine";
    case GR_RULE_ISOLATION:
      return "isolation";
    case GR_RULE_NOT_A_REPLY:
      return "not-a-reply";
    default:
      return "default-deny";
  }
}

std::string_view peer_scope_name(std::uint8_t scope) {
  switch (scope) {
    case GR_PEER_LOCAL_WORKLOAD:
      return "local-workload";
    case GR_PEER_LOCAL_HOST:
      return "local-host";
    default:
      return "address";
  }
}

std::string NameTable::zone(std::uint32_t id) const {
  if (id == GR_IDENTITY_WORLD) return "world";
  auto it = zones.find(id);
  return it == zones.end() ? "unknown" : it->second;
}

std::string NameTable::workload(std::uint32_t id) const {
  if (id == 0) return "";
  auto it = workloads.find(id);
  return it == workloads.end() ? "unknown" : it->second;
}

namespace {

std::int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string address(const std::uint8_t (&raw)[16], std::uint8_t family) {
  std::array<std::uint8_t, 16> addr;
  std::memcpy(addr.data(), raw, 16);
  return policy::format_address(addr, family == AF_INET ? AF_INET : AF_INET6);
}

}  // namespace

WallClock::WallClock() : offset_ns_(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME)) {}

std::string WallClock::format(std::uint64_t boot_ns) const {
  // Saturating, from 1970 to 2262: a corrupt timestamp must not overflow (found by fuzzing).
  const auto boot = static_cast<std::int64_t>(std::min<std::uint64_t>(boot_ns, INT64_MAX));
  std::int64_t wall = 0;
  if (__builtin_add_overflow(boot, offset_ns_, &wall)) wall = offset_ns_ < 0 ? 0 : INT64_MAX;
  wall = std::max<std::int64_t>(wall, 0);
  const time_t seconds = wall / 1'000'000'000;
  tm utc{};
  gmtime_r(&seconds, &utc);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:09}Z", date, wall % 1'000'000'000);
}

namespace {

// The fields every alert starts with, in this order, whatever the record's kind.
template <typename Record>
nlohmann::ordered_json common_fields(const Record& ev, const NameTable& names,
                                     const WallClock& clock) {
  const auto own = ev.workload_id ? names.cgroups.end() : names.cgroups.find(ev.cgroup_id);
  return {
      {"time", clock.format(ev.hdr.ts_ns)},
      {"kind", kind_name(ev.hdr.type)},
      {"verdict", verdict_name(ev.verdict)},
      {"backend", backend_name(ev.backend)},
      {"policy", names.policy},
      {"workload", own != names.cgroups.end() ? own->second.first : names.workload(ev.workload_id)},
      {"zone", own != names.cgroups.end() ? own->second.second : names.zone(ev.zone_id)},
      {"cgroup_id", ev.cgroup_id},
      {"pid", ev.pid},
      {"tid", ev.tid},
      {"comm", std::string(ev.comm, strnlen(ev.comm, sizeof ev.comm))},
  };
}

}  // namespace

nlohmann::ordered_json to_json(const gr_net_event& ev, const NameTable& names,
                               const WallClock& clock) {
  nlohmann::ordered_json j = common_fields(ev, names, clock);
  j.update(nlohmann::ordered_json{
      {"direction", ev.direction == GR_DIR_INGRESS ? "ingress" : "egress"},
      {"protocol", protocol_name(ev.protocol)},
      {"family", ev.family == AF_INET ? "ipv4" : "ipv6"},
      {"src", address(ev.saddr, ev.family)},
      {"sport", ev.sport},
      {"dst", address(ev.daddr, ev.family)},
      {"dport", ev.dport},
      {"peer_workload", names.workload(ev.peer_workload_id)},
      {"peer_zone", names.zone(ev.peer_zone_id)},
      {"peer_scope", peer_scope_name(ev.peer_scope)},
      {"rule", rule_name(ev.rule)},
  });
  return j;
}

}  // namespace guardrail::events

namespace guardrail::events {
namespace {

template <std::size_t N>
std::string text(const char (&field)[N]) {
  return std::string(field, strnlen(field, N));
}

std::string socket_family_name(std::uint32_t family) {
  switch (family) {
    case AF_INET:
      return "inet";
    case AF_INET6:
      return "inet6";
    case AF_PACKET:
      return "packet";
    case AF_UNIX:
      return "unix";
    default:
      return std::to_string(family);
  }
}

std::string socket_type_name(std::uint32_t type) {
  switch (type & 0xf) {
    case SOCK_STREAM:
      return "stream";
    case SOCK_DGRAM:
      return "dgram";
    case SOCK_RAW:
      return "raw";
    case SOCK_SEQPACKET:
      return "seqpacket";
    default:
      return std::to_string(type);
  }
}

// A tamper record about the agent's own process (signals, ptrace): what the workload did to
// which thread of the agent, and, where the backend could not refuse it, what that means.
void agent_tamper_fields(nlohmann::ordered_json& j, const gr_host_event& ev) {
  j["tamper"] = tamper_name(ev.tamper);
  if (ev.tamper == GR_TAMPER_SIGNAL) {
    j["signal"] = signal_name(static_cast<int>(ev.op));
    j["signal_number"] = ev.op;
  } else {
    j["access"] = ptrace_access_name(ev.family);
    if (ev.family == GR_PTRACE_MAY_ACCESS) j["ptrace_mode"] = ptrace_mode_name(ev.op);
    if (ev.family == GR_PTRACE_SYSCALL) j["ptrace_request"] = ptrace_request_name(ev.op);
  }
  j["target_pid"] = ev.type;
  j["target_tid"] = ev.protocol;
  j["detected_by"] = "event";
  if (ev.backend != GR_BACKEND_LSM) j["guarantee"] = kSelfTamperGuarantee;
}

}  // namespace

namespace {

constexpr std::array<std::string_view, 3> kTampers = {"bpf", "signal", "ptrace"};
constexpr std::array<std::string_view, 5> kPtraceAccesses = {
    "", "ptrace_may_access", "ptrace", "process_vm_readv", "process_vm_writev"};
static_assert(GR_TAMPER_PTRACE == 2 && GR_PTRACE_VM_WRITEV == 4,
              "a wire id changed: update the name tables");

}  // namespace

std::string_view tamper_name(std::uint8_t tamper) { return name_of(kTampers, tamper, "unknown"); }

std::string signal_name(int signal) {
  static constexpr std::array<std::string_view, 32> kNames = {
      "",          "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",   "SIGTRAP", "SIGABRT", "SIGBUS",
      "SIGFPE",    "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2",  "SIGPIPE", "SIGALRM", "SIGTERM",
      "SIGSTKFLT", "SIGCHLD", "SIGCONT",   "SIGSTOP", "SIGTSTP",  "SIGTTIN", "SIGTTOU", "SIGURG",
      "SIGXCPU",   "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",   "SIGPWR",  "SIGSYS"};
  if (signal > 0 && signal < static_cast<int>(kNames.size())) return std::string(kNames[signal]);
  return "SIG" + std::to_string(signal);  // real-time signals: SIG34 ... SIG64
}

std::string_view ptrace_access_name(std::uint32_t access) {
  return name_of(kPtraceAccesses, access, "unknown");
}

std::string ptrace_mode_name(std::uint32_t mode) {
  // PTRACE_MODE_READ 0x01, ATTACH 0x02, FSCREDS 0x08, REALCREDS 0x10 (linux/ptrace.h).
  std::string out = (mode & 0x02) ? "attach" : (mode & 0x01) ? "read" : std::to_string(mode);
  if (mode & 0x08) out += "_fscreds";
  if (mode & 0x10) out += "_realcreds";
  return out;
}

std::string ptrace_request_name(std::uint32_t request) {
  if (request == 16) return "attach";  // PTRACE_ATTACH
  if (request == 0x4206) return "seize";
  return std::to_string(request);
}

nlohmann::ordered_json to_json(const gr_host_event& ev, const NameTable& names,
                               const WallClock& clock) {
  nlohmann::ordered_json j = common_fields(ev, names, clock);
  switch (ev.hdr.type) {
    case GR_EV_CAPABILITY:
      j["capability"] = policy::capability_name(ev.capability);
      j["capability_number"] = ev.capability;
      break;
    case GR_EV_RAW_SOCKET:
      j["socket_family"] = socket_family_name(ev.family);
      j["socket_type"] = socket_type_name(ev.type);
      j["socket_protocol"] = ev.protocol;
      break;
    case GR_EV_MOUNT:
      j["operation"] = mount_op_name(ev.op);
      j["source"] = text(ev.source);
      j["target"] = text(ev.path);
      j["fstype"] = text(ev.fstype);
      j["flags"] = ev.flags;
      break;
    case GR_EV_RUNTIME_SOCKET:
      j["path"] = text(ev.path);
      j["inode"] = ev.ino;
      j["reason"] = unix_reason_name(ev.op);
      break;
    case GR_EV_UNIX_SOCKET:
      j["path"] = text(ev.path);
      j["inode"] = ev.ino;
      j["reason"] = unix_reason_name(ev.op);
      j["peer_workload"] = names.workload(ev.peer_workload_id);
      break;
    case GR_EV_BPF:
      j["bpf_command"] = ev.op;
      break;
    case GR_EV_TAMPER:
      if (ev.tamper != GR_TAMPER_BPF) {
        agent_tamper_fields(j, ev);
        break;
      }
      j["tamper"] = tamper_name(ev.tamper);
      j["bpf_command"] = bpf_command_name(ev.op);
      j["link_id"] = ev.type;
      j["prog_id"] = ev.protocol;
      if (ev.family || ev.flags) {
        j["attach_type"] = ev.family;
        j["attach_flags"] = ev.flags;
      }
      j["detected_by"] = "event";
      j["guarantee"] = kTamperGuarantee;
      break;
    case GR_EV_HOST_WRITE:
      j["path"] = text(ev.path);
      j["write_target"] = name_of(kWriteTargets, ev.op, "unknown");
      j["fstype"] = text(ev.fstype);
      j["inode"] = ev.ino;
      j["open_flags"] = ev.flags;
      break;
    case GR_EV_CGROUP_ESCAPE:
      j["escape"] = name_of(kEscapes, ev.op, "unknown");
      j["path"] = text(ev.path);
      if (ev.peer_workload_id) j["peer_workload"] = names.workload(ev.peer_workload_id);
      if (ev.op == GR_ESCAPE_MOVE) j["moved_pid"] = ev.type;
      if (ev.op == GR_ESCAPE_OTHER_PROCESS) j["target_pid"] = ev.type;
      if (ev.op == GR_ESCAPE_OPEN || ev.op == GR_ESCAPE_CGROUP_V1 ||
          ev.op == GR_ESCAPE_OTHER_PROCESS)
        j["open_flags"] = ev.flags;
      if (ev.op == GR_ESCAPE_CLONE_INTO) j["clone_flags"] = ev.flags;
      break;
  }
  return j;
}

nlohmann::ordered_json to_json(const Event& event, const NameTable& names, const WallClock& clock) {
  return std::visit([&](const auto& ev) { return to_json(ev, names, clock); }, event);
}

}  // namespace guardrail::events
