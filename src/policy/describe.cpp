// A readable listing of a compiled policy (names instead of ids, addresses as written), and of
// the container and pod selectors that only discovery acts on.
#include "guardrail/policy/describe.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"

namespace guardrail::policy {
namespace {

std::string mode_name(Mode mode) { return mode == Mode::Audit ? "audit" : "enforce"; }

// Wire value -> name, for the listing.
struct Named {
  std::uint8_t value;
  std::string_view name;
};

constexpr Named kProtocols[] = {
    {GR_PROTO_ANY, "any"}, {GR_PROTO_ICMP, "icmp"}, {GR_PROTO_TCP, "tcp"}, {GR_PROTO_UDP, "udp"}};
constexpr Named kActions[] = {
    {GR_ACTION_DENY, "deny"}, {GR_ACTION_AUDIT, "audit"}, {GR_ACTION_KILL, "kill"}};

// The name of `value` in `table`, or "<what> <value>" for a value it does not name.
std::string name_in(std::span<const Named> table, std::uint8_t value, std::string_view what) {
  const auto it = std::ranges::find(table, value, &Named::value);
  if (it != table.end()) return std::string(it->name);
  return std::string(what) + " " + std::to_string(value);
}

std::string proto_name(std::uint8_t proto) { return name_in(kProtocols, proto, "proto"); }

std::string action_name(std::uint8_t action) { return name_in(kActions, action, "action"); }

// "tcp/443", "tcp/8000-8100", "tcp/all", "icmp", "any".
std::string range_text(const gr_port_range& r) {
  const std::string proto = proto_name(r.proto);
  if (r.lo == 0 && r.hi == 65535)
    return r.proto == GR_PROTO_ANY || r.proto == GR_PROTO_ICMP ? proto : proto + "/all";
  if (r.lo == r.hi) return proto + "/" + std::to_string(r.lo);
  return proto + "/" + std::to_string(r.lo) + "-" + std::to_string(r.hi);
}

std::string portset_text(const gr_portset& set) {
  std::string out;
  for (std::uint32_t i = 0; i < std::min<std::uint32_t>(set.count, GR_MAX_PORT_RANGES); ++i) {
    if (i > 0) out += ", ";
    out += range_text(set.ranges[i]);
  }
  return out;
}

// "198.18.0.2/32" or "fd00::2/128" from a 16-byte (IPv4-mapped) address and a mapped prefix.
std::string prefix_text(const std::uint8_t (&bytes)[16], std::uint32_t mapped_len) {
  std::array<std::uint8_t, 16> addr;
  std::copy(std::begin(bytes), std::end(bytes), addr.begin());
  const bool v4 =
      mapped_len >= 96 &&
      std::all_of(addr.begin(), addr.begin() + 10, [](std::uint8_t b) { return b == 0; }) &&
      addr[10] == 0xff && addr[11] == 0xff;
  return v4 ? format_address(addr, AF_INET) + "/" + std::to_string(mapped_len - 96)
            : format_address(addr, AF_INET6) + "/" + std::to_string(mapped_len);
}

template <typename Map>
std::string lookup(const Map& names, std::uint32_t id) {
  const auto it = names.find(id);
  return it == names.end() ? "#" + std::to_string(id) : it->second;
}

// "capabilities deny ALL (41) [deny]; raw sockets [deny]; ..." or "none".
std::string host_policy_text(const gr_host_policy& p) {
  std::string out;
  auto add = [&](int guard, const std::string& text) {
    if (p.action[guard] == GR_ACTION_NONE) return;
    if (!out.empty()) out += "; ";
    out += text + " [" + action_name(p.action[guard]) + "]";
  };
  std::string caps;
  if (p.denied_caps == kAllCapabilities) {
    caps = "ALL (" + std::to_string(kLastCapability + 1) + ")";
  } else {
    for (int n = 0; n < 64; ++n) {
      if (!(p.denied_caps & (std::uint64_t{1} << n))) continue;
      if (!caps.empty()) caps += ", ";
      caps += capability_name(n);
    }
  }
  add(GR_GUARD_CAPABILITIES, "capabilities deny " + caps);
  add(GR_GUARD_RAW_SOCKETS, "raw sockets");
  add(GR_GUARD_MOUNTS, "mounts");
  add(GR_GUARD_RUNTIME_SOCKETS,
      p.unix_mode == GR_UNIX_ALLOWLIST ? "unix sockets allowlist only" : "runtime sockets");
  add(GR_GUARD_BPF, "bpf");
  add(GR_GUARD_HOST_WRITES, std::string("host writes (sysctls, sysfs, kernel filesystems") +
                                (p.flags & GR_HP_WRITE_PATHS ? ", listed paths)" : ")"));
  add(GR_GUARD_CGROUPS, "cgroup writes outside the workload");
  return out.empty() ? "none" : out;
}

std::string list_text(const std::vector<std::string>& items, std::string_view separator = ", ") {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : std::string(separator)) + item;
  return text;
}

// "app=web, tier In (api, web), debug DoesNotExist": labels, then expressions, as written.
std::string label_selector_text(const Zone& zone) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : zone.match_labels) parts.push_back(key + "=" + value);
  for (const LabelExpression& e : zone.match_expressions) {
    switch (e.op) {
      case LabelExpression::Op::In:
        parts.push_back(e.key + " In (" + list_text(e.values) + ")");
        break;
      case LabelExpression::Op::NotIn:
        parts.push_back(e.key + " NotIn (" + list_text(e.values) + ")");
        break;
      case LabelExpression::Op::Exists:
        parts.push_back(e.key + " Exists");
        break;
      case LabelExpression::Op::DoesNotExist:
        parts.push_back(e.key + " DoesNotExist");
        break;
    }
  }
  return list_text(parts);
}

bool has_label_selector(const Zone& zone) {
  return !zone.match_labels.empty() || !zone.match_expressions.empty();
}

// The pod selectors (only for a policy that uses what only pods have, so that a Docker policy's
// listing stays as it was): which zones and workloads take which pods.
void describe_pods(const Policy& policy, std::ostream& out) {
  if (!policy.uses_pod_selectors()) return;
  out << "pods:\n";
  for (const Zone& zone : policy.zones) {
    std::vector<std::string> parts;
    if (!zone.namespaces.empty()) parts.push_back("namespaces " + list_text(zone.namespaces));
    if (has_label_selector(zone)) parts.push_back("labels " + label_selector_text(zone));
    if (!parts.empty()) out << "  zone " << zone.name << ": " << list_text(parts, "; ") << "\n";
  }
  for (const Workload& w : policy.workloads)
    if (!w.pod.empty())
      out << "  workload " << w.name << " (zone " << w.zone << "): pod " << w.pod << "\n";
  out << "  kube-system and the agent's own pod: exempt unless a workload's pod glob or a zone's "
         "namespaces names them\n";
}

}  // namespace

void describe(const CompiledPolicy& c, std::ostream& out) {
  auto name_of = [&](std::uint32_t id) {
    return id < GR_WORKLOAD_ID_BASE ? lookup(c.zone_names, id) : lookup(c.workload_names, id);
  };
  auto none = [&](bool empty) {
    if (empty) out << "  (none)\n";
  };

  out << "policy " << c.name << ": mode " << mode_name(c.mode) << "\n";
  out << "zones:\n";
  none(c.zone_names.empty());
  for (const auto& [id, name] : c.zone_names) out << "  " << id << " " << name << "\n";

  out << "workloads:\n";
  none(c.workload_names.empty());
  for (const auto& [id, name] : c.workload_names) {
    const auto zone = c.workload_zone.find(id);
    const auto flags = c.workload_flags.find(id);
    const std::uint32_t f = flags == c.workload_flags.end() ? 0 : flags->second;
    out << "  " << id << " " << name << " (zone "
        << (zone == c.workload_zone.end() ? "?" : lookup(c.zone_names, zone->second)) << ", "
        << ((f & GR_WL_AUDIT) ? "audit" : "enforce") << ((f & GR_WL_EXCLUSIVE) ? ", exclusive" : "")
        << ")\n";
  }

  out << "cgroups:\n";
  none(c.cgroups.empty());
  for (const auto& [cgroup_id, w] : c.cgroups)
    out << "  " << cgroup_id << " -> " << name_of(w.workload_id) << " ("
        << lookup(c.zone_names, w.zone_id) << ")\n";

  out << "identities:\n";
  none(c.identities.empty());
  for (const auto& [key, id] : c.identities)
    out << "  " << prefix_text(key.addr, key.prefixlen) << " -> " << name_of(id.workload_id) << " ("
        << lookup(c.zone_names, id.zone_id) << ")\n";

  out << "flows:\n";
  none(c.flows.empty());
  for (const auto& [key, set] : c.flows)
    out << "  " << name_of(key.src_id) << " -> " << name_of(key.dst_id) << ": " << portset_text(set)
        << "\n";

  out << "egress:\n";
  none(c.egress.empty());
  for (const auto& [key, set] : c.egress)
    out << "  " << lookup(c.zone_names, key.zone_id) << " -> "
        << prefix_text(key.addr, key.prefixlen - 32) << ": " << portset_text(set) << "\n";

  out << "host guards:\n";
  none(c.host_policies.empty());
  for (const auto& [zone_id, policy] : c.host_policies)
    out << "  " << lookup(c.zone_names, zone_id) << ": " << host_policy_text(policy) << "\n";

  out << "runtime sockets:\n";
  none(c.runtime_socket_paths.empty());
  for (const auto& path : c.runtime_socket_paths) out << "  " << path << "\n";

  const bool allowlist = std::ranges::any_of(c.host_policies, [](const auto& zp) {
    return zp.second.action[GR_GUARD_RUNTIME_SOCKETS] != GR_ACTION_NONE &&
           zp.second.unix_mode == GR_UNIX_ALLOWLIST;
  });
  if (allowlist) {
    out << "unix sockets allowed (allowlist zones; every other unix address is refused):\n";
    none(c.unix_allow.empty());
    for (const auto& [zone_id, address] : c.unix_allow)
      out << "  " << lookup(c.zone_names, zone_id) << ": " << address << "\n";
  }

  if (!c.host_write_paths.empty()) {
    out << "host paths (host-write zones; matched by inode, everything below a directory):\n";
    for (const auto& [zone_id, path] : c.host_write_paths)
      out << "  " << lookup(c.zone_names, zone_id) << ": " << path << "\n";
  }

  out << "rules: " << c.rule_count() << " (" << c.flows.size() << " flows, " << c.egress.size()
      << " egress)\n";
}

void describe_containers(const Policy& policy, std::ostream& out) {
  out << "containers:\n";
  bool any = false;
  for (const Zone& zone : policy.zones) {
    std::vector<std::string> parts;
    // A zone that lists namespaces selects only pods by its labels (a container is in none).
    if (has_label_selector(zone) && zone.namespaces.empty())
      parts.push_back("labels " + label_selector_text(zone));
    if (!zone.name_globs.empty()) parts.push_back("names " + list_text(zone.name_globs));
    if (!zone.image_globs.empty()) parts.push_back("images " + list_text(zone.image_globs));
    if (parts.empty()) continue;
    out << "  zone " << zone.name << ": ";
    for (std::size_t i = 0; i < parts.size(); ++i) out << (i ? "; " : "") << parts[i];
    out << "\n";
    any = true;
  }
  for (const Workload& w : policy.workloads) {
    if (w.container.empty()) continue;
    out << "  workload " << w.name << " (zone " << w.zone << "): name " << w.container << "\n";
    any = true;
  }
  if (!any) out << "  (none)\n";
  describe_pods(policy, out);
  const std::string fallback = policy.effective_default_zone();
  out << "default zone: " << (fallback.empty() ? "none" : fallback)
      << (policy.default_zone.empty() && !fallback.empty()
              ? " (implied: spec.defaultZone is not set and this zone exists)"
              : "")
      << "\n";
}

}  // namespace guardrail::policy
