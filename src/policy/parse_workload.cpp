// Workloads (name, zone, cgroup, container, pod, static addresses, exclusive) and the flows between
// zones and workloads; both may only name zones and workloads defined above them.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "guardrail/policy/list_file.hpp"
#include "parser.hpp"

namespace guardrail::policy::detail {

std::optional<Workload> Parser::parse_workload(const yaml::Node& node) {
  const auto item = item_fields(
      node, "workload",
      {"name", "zone", "cgroup", "container", "pod", "addresses", "addressFile", "exclusive"});
  if (!item) return std::nullopt;
  const Fields& fs = *item;
  Workload workload;
  workload.pos = position(node.Mark());
  bool ok = parse_workload_name(fs, node, workload);
  ok = parse_workload_zone(fs, node, workload) && ok;
  if (auto it = fs.find("cgroup"); it != fs.end()) {
    if (auto g = glob(it->second.value, it->second.mark()))
      workload.cgroup = *g;
    else
      ok = false;
  }
  if (auto it = fs.find("container"); it != fs.end())
    ok = checked_string(it->second, "container", "workload", container_name_problem,
                        workload.container) &&
         ok;
  // pod: a "namespace/name" glob of Kubernetes pods.
  if (auto it = fs.find("pod"); it != fs.end())
    ok = checked_string(it->second, "pod", "workload", pod_glob_problem, workload.pod) && ok;
  if (auto it = fs.find("addresses"); it != fs.end())
    ok = parse_addresses(it->second, workload) && ok;
  if (auto it = fs.find("addressFile"); it != fs.end())
    ok = parse_address_file(it->second, workload) && ok;
  if (auto it = fs.find("exclusive"); it != fs.end())
    ok = parse_exclusive(it->second, workload) && ok;
  if (!ok) return std::nullopt;
  return workload;
}

// A unique name, and not the name of a zone (flows name both kinds alike).
bool Parser::parse_workload_name(const Fields& fs, const yaml::Node& node, Workload& workload) {
  const Field* n = require(fs, node, "name", "workload", "name: <workload name>");
  const auto v = n ? name(*n, "workload") : std::nullopt;
  if (!v) return false;
  workload.name = *v;
  if (!define(workloads_, *v, *n, "workload")) return false;
  if (auto z = zones_.find(*v); z != zones_.end()) {
    error(n->mark(), "workload '" + *v + "' has the same name as the zone defined at line " +
                         std::to_string(z->second.mark.line + 1) +
                         "; give the workload a name no zone uses");
    return false;
  }
  return true;
}

bool Parser::parse_workload_zone(const Fields& fs, const yaml::Node& node, Workload& workload) {
  const Field* z = require(fs, node, "zone", "workload", "zone: <zone name>");
  const auto v = z ? string(*z, "zone", "workload") : std::nullopt;
  if (!v) return false;
  workload.zone = *v;
  if (zones_.contains(*v)) return true;
  const std::vector<std::string> names = names_of(zones_);
  error(z->mark(),
        "unknown zone '" + *v + "'; defined zones: " + join(names) + suggestion(*v, names));
  return false;
}

// Static addresses from a list file (addressFile), besides or instead of `addresses`; each
// belongs to one workload, as an inline one does (a clash names the file's line).
bool Parser::parse_address_file(const Field& f, Workload& workload) {
  const auto name = string(f, "addressFile", "workload");
  if (!name) return false;
  const std::string path = list_file_path(file_, *name);
  workload.address_file = path;
  std::vector<Cidr> found;
  if (!read_cidr_list(path, "address", found, diagnostics_)) return false;
  bool ok = true;
  for (Cidr& cidr : found) {
    const auto key = std::pair(cidr.mapped_prefix_len(), cidr.addr);
    const auto [first, inserted] = addresses_.try_emplace(key, std::pair(workload.name, f.mark()));
    if (!inserted && first->second.first != workload.name) {
      error(f.mark(), "address " + cidr.text + " of " + path + " is already claimed by workload '" +
                          first->second.first + "' (line " +
                          std::to_string(first->second.second.line + 1) +
                          "); an address belongs to one workload");
      ok = false;
    }
    workload.addresses.push_back(std::move(cidr));
  }
  return ok;
}

// Static addresses; each belongs to one workload.
bool Parser::parse_addresses(const Field& f, Workload& workload) {
  if (!expect_list(f, "addresses", "[\"198.18.0.2\", \"fd00::2\"]")) return false;
  const auto claim = [&](const yaml::Node& item) {
    auto cidr = parse_cidr(item.Scalar());
    if (!cidr) {
      error(item.Mark(), "invalid address: " + cidr.error().message);
      return false;
    }
    bool ok = true;
    const auto key = std::pair(cidr->mapped_prefix_len(), cidr->addr);
    const auto [first, inserted] =
        addresses_.try_emplace(key, std::pair(workload.name, item.Mark()));
    if (!inserted && first->second.first != workload.name) {
      error(item.Mark(), "address " + item.Scalar() + " is already claimed by workload '" +
                             first->second.first + "' (line " +
                             std::to_string(first->second.second.line + 1) +
                             "); an address belongs to one workload");
      ok = false;
    }
    workload.addresses.push_back(std::move(*cidr));
    return ok;
  };
  return each_scalar(f.value, "each address must be a string like \"198.18.0.2\", got ", claim);
}

bool Parser::parse_exclusive(const Field& f, Workload& workload) {
  const std::string v = f.value.IsScalar() ? f.value.Scalar() : "";
  if (v == "true" || v == "True" || v == "TRUE") {
    workload.exclusive = true;
  } else if (v == "false" || v == "False" || v == "FALSE") {
    workload.exclusive = false;
  } else {
    error(f.mark(), "field 'exclusive' must be true or false, got " + describe_node(f.value));
    return false;
  }
  return true;
}

std::optional<Peer> Parser::parse_peer(const Field& f, std::string_view side) {
  const std::string what = "flow '" + std::string(side) + "'";
  if (!expect_map(f.value, f.mark(),
                  what + " must be a map naming one peer, {zone: NAME} or {workload: NAME}; "
                         "got "))
    return std::nullopt;
  const Fields fs = fields(f.value, "flow peer", {"zone", "workload"});
  const auto zone = fs.find("zone");
  const auto workload = fs.find("workload");
  if ((zone == fs.end()) == (workload == fs.end())) {
    error(f.mark(),
          what + (zone == fs.end() ? " names no peer" : " names both a zone and a workload") +
              "; give exactly one of zone: or workload:");
    return std::nullopt;
  }
  Peer peer;
  peer.pos = position(f.mark());
  const bool is_zone = zone != fs.end();
  const Field& ref = is_zone ? zone->second : workload->second;
  peer.kind = is_zone ? Peer::Kind::Zone : Peer::Kind::Workload;
  const std::string kind = is_zone ? "zone" : "workload";
  auto v = string(ref, kind, "flow peer");
  if (!v) return std::nullopt;
  peer.name = *v;
  const Names& defined = is_zone ? zones_ : workloads_;
  if (!defined.contains(*v)) {
    const std::vector<std::string> names = names_of(defined);
    error(ref.mark(), "unknown " + kind + " '" + *v + "' in " + what +
                          (names.empty() ? "; no " + kind + "s are defined"
                                         : "; defined " + kind + "s: " + join(names)) +
                          suggestion(*v, names));
    return std::nullopt;
  }
  return peer;
}

std::optional<Flow> Parser::parse_flow(const yaml::Node& node) {
  const auto item = item_fields(node, "flow", {"from", "to", "protocol", "ports"});
  if (!item) return std::nullopt;
  const Fields& fs = *item;
  Flow flow;
  flow.pos = position(node.Mark());
  bool ok = true;
  for (const std::string side : {"from", "to"}) {
    const Field* f = require(fs, node, side, "flow", side + ": {zone: NAME} or {workload: NAME}");
    std::optional<Peer> peer = f ? parse_peer(*f, side) : std::nullopt;
    if (!peer)
      ok = false;
    else
      (side == "from" ? flow.from : flow.to) = std::move(*peer);
  }
  ok = protocol_and_ports(fs, "flow", flow.protocol, flow.ports) && ok;
  if (!ok) return std::nullopt;
  return flow;
}

}  // namespace guardrail::policy::detail
