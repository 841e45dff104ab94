// The policy model: what a policy file says, parsed and validated with source positions.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "guardrail.h"
#include "guardrail/util/result.hpp"

namespace guardrail::policy {

// 1-based line and column in a policy file.
struct Position {
  std::string file;
  int line = 0;
  int column = 0;
};

// One problem found in a policy file. format() gives "file:line:column: error: message".
struct Diagnostic {
  Position pos;
  std::string message;
  std::string format() const;
};

enum class Mode { Enforce, Audit };

// Values are the GR_PROTO_* wire numbers so they go straight into the maps.
enum class Protocol : std::uint8_t {
  Any = GR_PROTO_ANY,
  Tcp = GR_PROTO_TCP,
  Udp = GR_PROTO_UDP,
  Icmp = GR_PROTO_ICMP
};

struct PortRange {
  std::uint16_t lo = 0;
  std::uint16_t hi = 65535;
  bool operator==(const PortRange&) const = default;
};

// An IPv4 or IPv6 prefix. `addr` is always 16 bytes, IPv4-mapped (::ffff:a.b.c.d) for IPv4, and
// `prefix_len` counts within the family (0..32 or 0..128). A single address has the full length.
struct Cidr {
  int family = 0;  // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> addr{};
  int prefix_len = 0;
  std::string text;  // as written in the policy (or as formatted when discovered)
  // Prefix length within the 128-bit IPv4-mapped space: prefix_len + 96 for IPv4.
  int mapped_prefix_len() const;
  bool operator==(const Cidr& o) const {
    return family == o.family && addr == o.addr && prefix_len == o.prefix_len;
  }
};

// Parses "198.18.0.0/15", "2001:db8::/32" or a bare address (a full-length prefix). Host bits
// must be zero. The error message says what is wrong with the text.
Result<Cidr> parse_cidr(const std::string& text);
// Formats an IPv4-mapped or IPv6 16-byte address the usual way ("198.18.0.3", "fd00::1").
std::string format_address(const std::array<std::uint8_t, 16>& addr, int family);

struct Peer {
  enum class Kind { Zone, Workload };
  Kind kind = Kind::Zone;
  std::string name;
  Position pos;
};

// `from` may send to (connect to) `to` on these ports; `to` may receive it. Replies to an allowed
// flow are allowed in the other direction.
struct Flow {
  Peer from;
  Peer to;
  Protocol protocol = Protocol::Any;
  std::vector<PortRange> ports;  // empty: every port
  Position pos;
};

// A zone's egress allowlist entry: destinations outside every workload.
struct EgressRule {
  Cidr cidr;  // unless cidr_file is set
  // cidrFile: the list file (its path as read) and its prefixes, in place of `cidr`.
  std::string cidr_file;
  std::vector<Cidr> file_cidrs;
  template <typename Each>
  void for_each_cidr(Each each) const {
    if (cidr_file.empty()) return each(cidr);
    for (const Cidr& c : file_cidrs) each(c);
  }
  Protocol protocol = Protocol::Any;
  std::vector<PortRange> ports;  // empty: every port
  Position pos;
};

// What a host guard does about a forbidden action (GR_ACTION_* values).
enum class Action : std::uint8_t {
  None = GR_ACTION_NONE,
  Deny = GR_ACTION_DENY,
  Audit = GR_ACTION_AUDIT,
  Kill = GR_ACTION_KILL
};

// How the runtime-socket guard judges unix socket addresses (GR_UNIX_* values).
enum class UnixMode : std::uint8_t {
  Denylist = GR_UNIX_DENYLIST,   // refuse the runtime sockets (and paths not spelled canonically)
  Allowlist = GR_UNIX_ALLOWLIST  // refuse every unix address but `unix_allow`
};

// The zone's host guards (spec.zones[].guards). A guard left out is not applied (None).
struct HostGuards {
  Action capabilities = Action::None;
  std::uint64_t denied_caps = 0;  // bit n: capability n; from `deny: [ALL | CAP_x | x ...]`
  Action raw_sockets = Action::None;
  Action mounts = Action::None;
  Action runtime_sockets = Action::None;
  std::vector<std::string> runtime_socket_paths;  // beyond the defaults
  UnixMode unix_mode = UnixMode::Denylist;
  // Allowlist mode: the unix addresses the zone may reach, canonical absolute paths or '@name'
  // for an abstract socket.
  std::vector<std::string> unix_allow;
  Action bpf = Action::None;
  // Write opens of host sysctls (/proc/sys), /proc/sysrq-trigger, sysfs and the kernel
  // filesystems, and of anything under `host_write_paths` (absolute paths, matched by inode).
  Action host_writes = Action::None;
  std::vector<std::string> host_write_paths;
  // cgroupfs writes outside the workload (moves out of it, other cgroups' limits, freeze, kill).
  // On for every workload: None means deny.
  Action cgroups = Action::None;
  Position pos;
};

// CAP_LAST_CAP of current kernels (CAP_CHECKPOINT_RESTORE); `deny: [ALL]` denies 0..this.
inline constexpr int kLastCapability = 40;
inline constexpr std::uint64_t kAllCapabilities = (std::uint64_t{1} << (kLastCapability + 1)) - 1;

// The capability number of a name as in capabilities(7): "CAP_NET_RAW" or "net_raw", any case.
std::optional<int> capability_number(const std::string& name);
// "CAP_NET_RAW" for 13; "CAP_<n>" for a number without a name.
std::string capability_name(int number);

// A Kubernetes label selector requirement (matchExpressions), as Kubernetes users write it.
struct LabelExpression {
  enum class Op { In, NotIn, Exists, DoesNotExist };
  std::string key;
  Op op = Op::In;
  std::vector<std::string> values;  // In/NotIn only
  bool operator==(const LabelExpression&) const = default;
  // Kubernetes' rules: In, the key is present with one of the values; NotIn, the key is absent
  // or its value is none of them; Exists; DoesNotExist.
  bool matches(const std::map<std::string, std::string>& labels) const;
};

struct Zone {
  std::string name;
  std::vector<std::string> cgroup_globs;  // selector.cgroups: globs over cgroup v2 paths
  // Container selectors (Docker discovery). A container matches when every label matches
  // (selector.labels), or its name matches a selector.names glob, or its image a
  // selector.images glob.
  std::map<std::string, std::string> match_labels;
  std::vector<std::string> name_globs;
  std::vector<std::string> image_globs;
  // Kubernetes pod selectors (selector.namespaces, selector.matchExpressions; selector.labels
  // is matchLabels for pods too): a pod is selected when its namespace is listed (or none is)
  // and its labels satisfy match_labels and every expression, at least one of them being given.
  std::vector<std::string> namespaces;
  std::vector<LabelExpression> match_expressions;
  std::vector<EgressRule> egress;
  std::optional<Mode> mode;  // overrides the policy's mode for this zone
  HostGuards guards;
  Position pos;

  // Every match_labels pair and every match_expressions requirement hold for `labels` (true
  // when there are none: callers decide whether a label selector is given at all).
  bool matches_labels(const std::map<std::string, std::string>& labels) const;
};

struct Workload {
  std::string name;
  std::string zone;
  std::string cgroup;           // glob over cgroup v2 paths; empty: runs off this host
  std::string container;        // glob over container names (Docker discovery)
  std::string pod;              // glob over "namespace/name" of pods (Kubernetes discovery)
  std::vector<Cidr> addresses;  // static; more are discovered from its network namespace
  std::string address_file;     // addressFile: the list file some of them came from (as read)
  bool exclusive = false;       // only rules that name this workload apply to it
  Position pos;
};

struct Policy {
  std::string file;
  std::string name;
  Mode mode = Mode::Enforce;
  // spec.defaultZone: the zone of a container no selector names, and of one not identified yet
  // (fail closed). Empty in the file means agent-sandbox when that zone exists.
  std::string default_zone;
  // spec.quarantineOn: posture checks whose failure quarantines a container (it loses all
  // network but loopback) until it is recreated compliant.
  std::vector<std::string> quarantine_on;
  std::vector<Zone> zones;
  std::vector<Workload> workloads;
  std::vector<Flow> flows;

  const Zone* find_zone(const std::string& name) const;
  // default_zone, or "agent-sandbox" when the file names none and that zone exists, else "".
  std::string effective_default_zone() const;
  const Workload* find_workload(const std::string& name) const;
  // Some zone or workload uses what only pods have: selector.namespaces, selector.matchExpressions
  // (which containers' labels also answer) or a workload's pod glob.
  bool uses_pod_selectors() const;
};

}  // namespace guardrail::policy
