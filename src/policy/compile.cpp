// Compiling a policy (plus what discovery found) to the entries of the BPF maps.
#include "guardrail/policy/compile.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "guardrail/policy/capacity.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/policy/vocabulary.hpp"

namespace guardrail::policy {
namespace {

using Address = std::array<std::uint8_t, 16>;
using Ranges = std::vector<gr_port_range>;

bool same_range(const gr_port_range& a, const gr_port_range& b) {
  return a.lo == b.lo && a.hi == b.hi && a.proto == b.proto;
}

// Appends the ranges of `from` that `to` does not hold yet.
void merge_ranges(Ranges& to, const Ranges& from) {
  for (const auto& r : from)
    if (std::ranges::none_of(to, [&](const gr_port_range& x) { return same_range(x, r); }))
      to.push_back(r);
}

Ranges ranges_of(Protocol protocol, const std::vector<PortRange>& ports) {
  Ranges out;
  const auto proto = static_cast<std::uint8_t>(protocol);
  if (ports.empty()) out.push_back(gr_port_range{0, 65535, proto, {}});
  for (const auto& p : ports) out.push_back(gr_port_range{p.lo, p.hi, proto, {}});
  return out;
}

// `what` names the rule in the error: called only then (an egress allowlist of a million
// prefixes would format a million names otherwise).
template <typename What>
Result<gr_portset> portset_of(const Ranges& ranges, const What& what) {
  if (ranges.size() > GR_MAX_PORT_RANGES)
    return fail(what() + " needs " + std::to_string(ranges.size()) +
                " port ranges, more than the " + std::to_string(GR_MAX_PORT_RANGES) +
                " one rule can hold; combine ports into fewer \"lo-hi\" ranges");
  gr_portset set{};
  set.count = static_cast<std::uint32_t>(ranges.size());
  std::ranges::copy(ranges, set.ranges);
  return set;
}

// Whether a prefix lies inside 127.0.0.0/8 or is ::1.
bool is_loopback(const Cidr& c) {
  if (c.family == AF_INET) return c.prefix_len >= 8 && c.addr[12] == 127;
  static constexpr Address kIpv6Loopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return c.prefix_len == 128 && c.addr == kIpv6Loopback;
}

// Whether the first `bits` bits of `a` and `b` are equal.
bool prefix_matches(const Address& a, const Address& b, int bits) {
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

std::string prefix_text(const Address& addr, int mapped_len) {
  const bool v4 = mapped_len >= 96 &&
                  prefix_matches(addr, Address{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96);
  return v4 ? format_address(addr, AF_INET) + "/" + std::to_string(mapped_len - 96)
            : format_address(addr, AF_INET6) + "/" + std::to_string(mapped_len);
}

std::uint32_t flags_for(Mode mode, bool exclusive) {
  return (mode == Mode::Audit ? GR_WL_AUDIT : 0u) | (exclusive ? GR_WL_EXCLUSIVE : 0u);
}

// The steps of compile(), in order; each fills part of `out` from the policy and what the
// steps before it found.
class Compiler {
 public:
  Compiler(const Policy& policy, std::span<const WorkloadBinding> bindings)
      : policy_(policy), bindings_(bindings) {
    out_.name = policy.name;
    out_.mode = policy.mode;
  }

  Result<CompiledPolicy> run() {
    GR_TRY(assign_zone_ids());
    GR_TRY(assign_workload_ids());
    GR_TRY(bind_cgroups());
    GR_TRY(collect_identities());
    GR_TRY(compile_flows());
    for (const Zone& zone : policy_.zones) GR_TRY(compile_egress(zone));
    compile_host_policies();
    collect_runtime_sockets();
    sort_entries();
    return std::move(out_);
  }

 private:
  Result<void> assign_zone_ids();
  Result<void> assign_workload_ids();
  std::uint32_t add_workload(const std::string& name, std::uint32_t zone_id, bool exclusive,
                             std::uint32_t id);
  Result<void> bind_cgroups();
  Result<std::uint32_t> workload_of(const WorkloadBinding& b);
  Result<void> collect_identities();
  Result<void> resolve_address_conflict(const gr_ip_key& key, const std::string& address,
                                        const std::vector<std::uint32_t>& ids);
  std::uint32_t peer_id(const Peer& p) const;
  std::string id_name(std::uint32_t id);
  Result<void> compile_flows();
  Result<void> compile_egress(const Zone& zone);
  Result<void> compile_egress_rules(const Zone& zone, std::uint32_t key_zone,
                                    std::span<const EgressRule> rules);
  void compile_host_policies();
  void collect_runtime_sockets();
  void sort_entries();

  const Policy& policy_;
  std::span<const WorkloadBinding> bindings_;
  CompiledPolicy out_;
  std::map<std::string, std::uint32_t> zone_ids_;
  std::map<std::uint32_t, Mode> zone_modes_;
  std::map<std::string, std::uint32_t> workload_ids_;
  // workload id -> the addresses it claims, each with whether discovery found it (else the
  // policy file names it)
  std::map<std::uint32_t, std::vector<std::pair<Cidr, bool>>> claims_;
  std::set<std::uint32_t> bound_here_;  // workloads a cgroup of this host binds
  std::uint32_t first_anonymous_ = 0;
  std::uint32_t next_id_ = GR_WORKLOAD_ID_BASE;
};

// Zones: GR_ZONE_ID_MIN.. in file order.
Result<void> Compiler::assign_zone_ids() {
  constexpr std::size_t kMaxZones = GR_ZONE_ID_MAX - GR_ZONE_ID_MIN + 1;
  if (policy_.zones.size() > kMaxZones)
    return fail("policy '" + policy_.name + "' has " + std::to_string(policy_.zones.size()) +
                " zones; at most " + std::to_string(kMaxZones) + " are supported");
  for (std::size_t i = 0; i < policy_.zones.size(); ++i) {
    const Zone& zone = policy_.zones[i];
    const auto id = static_cast<std::uint32_t>(GR_ZONE_ID_MIN + i);
    zone_ids_[zone.name] = id;
    zone_modes_[id] = zone.mode.value_or(policy_.mode);
    out_.zone_names[id] = zone.name;
  }
  return {};
}

std::uint32_t Compiler::add_workload(const std::string& name, std::uint32_t zone_id, bool exclusive,
                                     std::uint32_t id) {
  out_.workload_names[id] = name;
  out_.workload_zone[id] = zone_id;
  out_.workload_flags[id] = flags_for(zone_modes_[zone_id], exclusive);
  claims_[id];
  next_id_ = std::max(next_id_, id + 1);
  return id;
}

// Named workloads: GR_WORKLOAD_ID_BASE.. in file order, with their static addresses.
Result<void> Compiler::assign_workload_ids() {
  first_anonymous_ = static_cast<std::uint32_t>(GR_WORKLOAD_ID_BASE + policy_.workloads.size());
  // Ids the caller chose for anonymous members (kept stable across re-scans) are taken first,
  // so the ones compile picks never collide with them.
  for (const WorkloadBinding& b : bindings_)
    if (b.workload.empty() && b.anonymous_id >= first_anonymous_)
      next_id_ = std::max(next_id_, b.anonymous_id + 1);
  for (const Workload& w : policy_.workloads) {
    const auto zone = zone_ids_.find(w.zone);
    if (zone == zone_ids_.end())
      return fail("workload '" + w.name + "' names unknown zone '" + w.zone + "'");
    const auto id = static_cast<std::uint32_t>(GR_WORKLOAD_ID_BASE + workload_ids_.size());
    workload_ids_[w.name] = add_workload(w.name, zone->second, w.exclusive, id);
    for (const Cidr& c : w.addresses) claims_[id].emplace_back(c, false);
  }
  return {};
}

// The workload id of a binding: its named workload, or a new anonymous member of its zone.
Result<std::uint32_t> Compiler::workload_of(const WorkloadBinding& b) {
  if (!b.workload.empty()) {
    const auto w = workload_ids_.find(b.workload);
    if (w == workload_ids_.end())
      return fail("cgroup " + b.cgroup_path + " is bound to unknown workload '" + b.workload + "'");
    const std::string& zone = out_.zone_names[out_.workload_zone[w->second]];
    if (!b.zone.empty() && b.zone != zone)
      return fail("cgroup " + b.cgroup_path + " is bound to workload '" + b.workload +
                  "' in zone '" + b.zone + "', but the workload belongs to zone '" + zone + "'");
    return w->second;
  }
  const auto zone = zone_ids_.find(b.zone);
  if (zone == zone_ids_.end())
    return fail("cgroup " + b.cgroup_path + " is bound to unknown zone '" + b.zone + "'");
  std::uint32_t chosen = b.anonymous_id;
  if (chosen < first_anonymous_ || out_.workload_names.contains(chosen)) chosen = next_id_;
  return add_workload(anonymous_name(b), zone->second, false, chosen);
}

// Cgroups: one entry per bound cgroup; what discovery found adds to the workload's claims.
Result<void> Compiler::bind_cgroups() {
  std::map<std::uint64_t, const WorkloadBinding*> bound;
  for (const WorkloadBinding& b : bindings_) {
    if (b.kind == BindingKind::Remote) {
      // A peer elsewhere (a pod on another node): known by its addresses, no cgroup here.
      const auto id = workload_of(b);
      if (!id) return propagate(id);
      for (const Cidr& c : b.addresses) claims_[*id].emplace_back(c, true);
      continue;
    }
    if (const auto [first, inserted] = bound.try_emplace(b.cgroup_id, &b); !inserted)
      return fail("cgroup id " + std::to_string(b.cgroup_id) + " is bound twice (" +
                  first->second->cgroup_path + " and " + b.cgroup_path + ")");
    if (b.kind == BindingKind::Exempt) {
      // Under no policy: no workload, no zone, no addresses; the guards treat it as the host.
      out_.cgroups.push_back({b.cgroup_id, gr_workload{0, 0, GR_WL_EXEMPT, 0}});
      continue;
    }
    const auto id = workload_of(b);
    if (!id) return propagate(id);
    auto& addresses = claims_[*id];
    for (const Cidr& c : b.addresses) addresses.emplace_back(c, true);
    const std::uint32_t flags = out_.workload_flags[*id] | (b.quarantined ? GR_WL_QUARANTINE : 0) |
                                (b.kind == BindingKind::Placeholder ? GR_WL_PLACEHOLDER : 0);
    out_.cgroups.push_back({b.cgroup_id, gr_workload{*id, out_.workload_zone[*id], flags, 0}});
    bound_here_.insert(*id);
  }
  return {};
}

// Identities: one entry per (prefix, address). Two workloads that the policy file gives one
// address are an error; an address that discovery found claimed twice (two workload cgroups in
// one network namespace) names the default zone instead, fail closed, and is reported.
Result<void> Compiler::collect_identities() {
  using Key = std::pair<Address, std::uint32_t>;
  std::map<Key, std::vector<std::uint32_t>> claimers;  // in workload id order
  std::map<Key, bool> discovered;                      // some claim came from discovery
  for (const auto& [id, claimed] : claims_) {
    for (const auto& [cidr, found] : claimed) {
      const Key key(cidr.addr, static_cast<std::uint32_t>(cidr.mapped_prefix_len()));
      auto& ids = claimers[key];
      if (std::ranges::find(ids, id) == ids.end()) ids.push_back(id);
      discovered[key] = discovered[key] || found;
    }
  }
  for (const auto& [key, ids] : claimers) {
    gr_ip_key k{};
    k.prefixlen = key.second;
    std::memcpy(k.addr, key.first.data(), 16);
    const std::uint32_t id = ids.front();
    if (ids.size() == 1) {
      // Whether its hooks run here tells the receiver if a refused packet bypassed them.
      const std::uint32_t flags =
          out_.workload_flags[id] | (bound_here_.contains(id) ? GR_WL_ON_THIS_HOST : 0);
      out_.identities.emplace_back(k, gr_identity{id, out_.workload_zone[id], flags, 0});
      continue;
    }
    const std::string address = prefix_text(key.first, static_cast<int>(key.second));
    if (!discovered[key])
      return fail("address " + address + " is claimed by both workload '" +
                  out_.workload_names[ids[0]] + "' and workload '" + out_.workload_names[ids[1]] +
                  "'; an address may belong to one workload only");
    GR_TRY(resolve_address_conflict(k, address, ids));
  }
  return {};
}

// An address several workloads claim names none of them: it names the default zone (its
// zone-wide rules, never a workload's own), or, without one, no identity at all (the world).
Result<void> Compiler::resolve_address_conflict(const gr_ip_key& key, const std::string& address,
                                                const std::vector<std::uint32_t>& ids) {
  DiscoveryProblem p{.problem = "address_conflict", .subject = address};
  std::string names;
  for (const std::uint32_t id : ids) {
    p.workloads.push_back(out_.workload_names[id]);
    names +=
        std::string(names.empty() ? "" : " and ") + "workload '" + out_.workload_names[id] + "'";
  }
  p.message = "address " + address + " is claimed by both " + names +
              " (e.g. workload cgroups that share a network namespace); ";
  const std::string default_zone = policy_.effective_default_zone();
  const auto zone = zone_ids_.find(default_zone);
  if (zone != zone_ids_.end()) {
    p.placed_in = default_zone;
    p.message += "traffic to it is judged as the default zone '" + default_zone +
                 "' (fail closed) until one workload alone claims it";
    const std::uint32_t flags = flags_for(zone_modes_[zone->second], false);
    out_.identities.emplace_back(key, gr_identity{0, zone->second, flags, 0});
  } else {
    p.message +=
        "it names no workload (the world) until one workload alone claims it; set "
        "spec.defaultZone to judge it as a zone instead";
  }
  out_.problems.push_back(std::move(p));
  return {};
}

std::uint32_t Compiler::peer_id(const Peer& p) const {
  const auto& ids = p.kind == Peer::Kind::Zone ? zone_ids_ : workload_ids_;
  const auto it = ids.find(p.name);
  return it == ids.end() ? 0 : it->second;
}

std::string Compiler::id_name(std::uint32_t id) {
  return id < GR_WORKLOAD_ID_BASE ? "zone '" + out_.zone_names[id] + "'"
                                  : "workload '" + out_.workload_names[id] + "'";
}

// Flows: one entry per (source, destination), the ranges of every rule between them.
Result<void> Compiler::compile_flows() {
  std::map<std::pair<std::uint32_t, std::uint32_t>, Ranges> flows;
  for (const Flow& f : policy_.flows) {
    const std::uint32_t src = peer_id(f.from);
    const std::uint32_t dst = peer_id(f.to);
    if (!src || !dst)
      return fail("flow from '" + f.from.name + "' to '" + f.to.name + "' names an unknown peer");
    merge_ranges(flows[{src, dst}], ranges_of(f.protocol, f.ports));
  }
  for (const auto& [key, ranges] : flows) {
    auto set = portset_of(ranges, [&] {
      return "the flow from " + id_name(key.first) + " to " + id_name(key.second);
    });
    if (!set) return propagate(set);
    out_.flows.emplace_back(gr_flow_key{key.first, key.second}, *set);
  }
  return {};
}

// Egress: the BPF side does one longest-prefix lookup, so each prefix also carries the ranges
// of every less specific prefix of its zone that contains it.
Result<void> Compiler::compile_egress(const Zone& zone) {
  const std::uint32_t zone_id = zone_ids_[zone.name];
  GR_TRY(compile_egress_rules(zone, zone_id, zone.egress));
  // Services of this host (sockets no workload owns, reached inside one network namespace) are
  // reachable only through the rules that name loopback, never through a wider prefix.
  std::vector<EgressRule> loopback;
  for (const EgressRule& r : zone.egress)
    r.for_each_cidr([&](const Cidr& c) {
      if (!is_loopback(c)) return;
      EgressRule one{.cidr = c, .protocol = r.protocol, .ports = r.ports, .pos = r.pos};
      loopback.push_back(std::move(one));
    });
  return compile_egress_rules(zone, zone_id | GR_ZONE_LOCAL_HOST, loopback);
}

Result<void> Compiler::compile_egress_rules(const Zone& zone, std::uint32_t key_zone,
                                            std::span<const EgressRule> rules) {
  // One flat record per (prefix, rule), sorted by prefix then rule: a million prefixes cost one
  // vector and one sort, not a million tree nodes and range vectors. The ranges of a prefix are
  // merged in rule order, as the rules are written.
  struct Claim {
    Address addr;
    int len;
    std::uint32_t rule;
  };
  std::vector<Ranges> rule_ranges;  // once per rule, not per prefix
  rule_ranges.reserve(rules.size());
  std::vector<Claim> claims;
  for (const EgressRule& rule : rules) {
    const auto index = static_cast<std::uint32_t>(rule_ranges.size());
    rule_ranges.push_back(ranges_of(rule.protocol, rule.ports));
    rule.for_each_cidr([&](const Cidr& c) {
      claims.push_back({c.addr, c.mapped_prefix_len(), index});
    });
  }
  const auto by_prefix = [](const Claim& c) { return std::tie(c.addr, c.len, c.rule); };
  std::ranges::sort(claims, {}, by_prefix);

  // The distinct prefixes, each with its own ranges: the rule's when one rule names it (no
  // copy), else the merge, kept in `merged` (reserved: pointers into it stay valid).
  struct Prefix {
    Address addr;
    int len;
    const Ranges* ranges;
  };
  std::vector<Prefix> own;
  std::vector<Ranges> merged;
  std::size_t shared = 0;
  for (std::size_t i = 1; i < claims.size(); ++i)
    shared += claims[i].addr == claims[i - 1].addr && claims[i].len == claims[i - 1].len;
  merged.reserve(shared);
  std::set<int, std::greater<>> lengths;
  for (std::size_t i = 0; i < claims.size();) {
    std::size_t j = i + 1;
    while (j < claims.size() && claims[j].addr == claims[i].addr && claims[j].len == claims[i].len)
      ++j;
    const Ranges* ranges = &rule_ranges[claims[i].rule];
    if (j - i > 1) {
      Ranges& all = merged.emplace_back();
      for (std::size_t k = i; k < j; ++k) merge_ranges(all, rule_ranges[claims[k].rule]);
      ranges = &all;
    }
    own.push_back({claims[i].addr, claims[i].len, ranges});
    lengths.insert(claims[i].len);
    i = j;
  }
  claims = {};  // the prefixes hold what is needed

  const auto find_prefix = [&](const Address& addr, int len) -> const Prefix* {
    const auto it = std::ranges::lower_bound(
        own, std::pair(addr, len), {}, [](const Prefix& p) { return std::pair(p.addr, p.len); });
    return it != own.end() && it->addr == addr && it->len == len ? &*it : nullptr;
  };
  // Containing prefixes from the nearest outwards, found by lookup at each prefix length the
  // zone uses (at most 129), not by a scan of every prefix: linear in the rules, not quadratic
  // (prefixes are canonical: parse_cidr refuses host bits).
  out_.egress.reserve(out_.egress.size() + own.size());
  Ranges all;
  for (const Prefix& prefix : own) {
    const Ranges* ranges = prefix.ranges;
    bool inherits = false;
    for (const int len : lengths) {
      if (len >= prefix.len) continue;
      Address outer = prefix.addr;
      for (int i = 0; i < 16; ++i) {
        const int bits = len - 8 * i;
        outer[i] &= bits >= 8   ? 0xff
                    : bits <= 0 ? 0
                                : static_cast<std::uint8_t>(0xff << (8 - bits));
      }
      const Prefix* container = find_prefix(outer, len);
      if (!container) continue;
      if (!inherits) all = *prefix.ranges;
      inherits = true;
      merge_ranges(all, *container->ranges);
      ranges = &all;
    }
    auto set = portset_of(*ranges, [&] {
      return "egress of zone '" + zone.name + "' to " + prefix_text(prefix.addr, prefix.len) +
             " (with the ranges it inherits from containing prefixes)";
    });
    if (!set) return propagate(set);
    gr_zone_ip_key k{};
    k.prefixlen = static_cast<std::uint32_t>(32 + prefix.len);
    k.zone_id = key_zone;
    std::memcpy(k.addr, prefix.addr.data(), 16);
    out_.egress.emplace_back(k, *set);
  }
  return {};
}

// Host guards: one entry per zone, unguarded zones included (all zeros).
void Compiler::compile_host_policies() {
  for (const Zone& zone : policy_.zones) {
    const std::uint32_t zone_id = zone_ids_[zone.name];
    const bool audit = zone_modes_[zone_id] == Mode::Audit;
    auto action = [&](Action a) {
      if (audit && (a == Action::Deny || a == Action::Kill)) a = Action::Audit;
      return static_cast<std::uint8_t>(a);
    };
    const HostGuards& g = zone.guards;
    gr_host_policy hp{};
    hp.denied_caps = g.capabilities == Action::None ? 0 : g.denied_caps;
    hp.action[GR_GUARD_CAPABILITIES] = action(g.capabilities);
    hp.action[GR_GUARD_RAW_SOCKETS] = action(g.raw_sockets);
    hp.action[GR_GUARD_MOUNTS] = action(g.mounts);
    hp.action[GR_GUARD_RUNTIME_SOCKETS] = action(g.runtime_sockets);
    hp.action[GR_GUARD_BPF] = action(g.bpf);
    hp.action[GR_GUARD_HOST_WRITES] = action(g.host_writes);
    // On for every workload: a zone that says nothing denies.
    hp.action[GR_GUARD_CGROUPS] = action(g.cgroups == Action::None ? Action::Deny : g.cgroups);
    if (g.host_writes != Action::None && !g.host_write_paths.empty()) {
      hp.flags |= GR_HP_WRITE_PATHS;
      for (const std::string& path : g.host_write_paths)
        out_.host_write_paths.emplace_back(zone_id, path);
    }
    if (g.runtime_sockets != Action::None) {
      hp.unix_mode = static_cast<std::uint8_t>(g.unix_mode);
      if (g.unix_mode == UnixMode::Allowlist)
        for (const std::string& address : g.unix_allow)
          out_.unix_allow.emplace_back(zone_id, address);
    }
    out_.host_policies.emplace_back(zone_id, hp);
  }
}

// Runtime sockets: the defaults, then every zone's extra paths, each once.
void Compiler::collect_runtime_sockets() {
  out_.runtime_socket_paths = kDefaultRuntimeSockets;
  for (const Zone& zone : policy_.zones)
    for (const std::string& path : zone.guards.runtime_socket_paths)
      if (std::ranges::find(out_.runtime_socket_paths, path) == out_.runtime_socket_paths.end())
        out_.runtime_socket_paths.push_back(path);
}

// A stable order, so that equal policies give equal entries.
void Compiler::sort_entries() {
  std::ranges::sort(out_.cgroups, {}, &std::pair<std::uint64_t, gr_workload>::first);
  std::ranges::sort(out_.flows, [](const auto& a, const auto& b) {
    return std::tie(a.first.src_id, a.first.dst_id) < std::tie(b.first.src_id, b.first.dst_id);
  });
  // By zone, address, prefix length; each zone's prefixes come out of compile_egress_rules in
  // that order already, so mostly this only checks (a million entries of 160 bytes each).
  const auto egress_less = [](const std::pair<gr_zone_ip_key, gr_portset>& a,
                              const std::pair<gr_zone_ip_key, gr_portset>& b) {
    if (a.first.zone_id != b.first.zone_id) return a.first.zone_id < b.first.zone_id;
    if (const int c = std::memcmp(a.first.addr, b.first.addr, sizeof a.first.addr)) return c < 0;
    return a.first.prefixlen < b.first.prefixlen;
  };
  if (!std::ranges::is_sorted(out_.egress, egress_less))
    std::ranges::sort(out_.egress, egress_less);
}

}  // namespace

std::string anonymous_name(const WorkloadBinding& b) {
  if (!b.display_name.empty()) return b.zone + ":" + b.display_name;
  return b.zone + ":" + b.cgroup_path + (b.kind == BindingKind::Placeholder ? "/*" : "");
}

Result<CompiledPolicy> compile(const Policy& policy, std::span<const WorkloadBinding> bindings,
                               std::span<const ServiceBinding> services) {
  auto compiled = Compiler(policy, bindings).run();
  if (!compiled) return compiled;
  compile_services(*compiled, services, policy.effective_default_zone());
  GR_TRY(check_capacity(*compiled));  // the maps' limits, for check and agent alike
  return compiled;
}

}  // namespace guardrail::policy
