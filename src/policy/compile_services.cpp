// Services judged by their backends: compile_services (compile.hpp).
#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "guardrail/policy/compile.hpp"

namespace guardrail::policy {
namespace {

// The compiled identities by exact prefix, looked up once per backend.
class IdentityIndex {
 public:
  explicit IdentityIndex(const CompiledPolicy& compiled) {
    for (const auto& [key, identity] : compiled.identities) {
      std::array<std::uint8_t, 16> addr{};
      std::memcpy(addr.data(), key.addr, 16);
      by_prefix_.emplace(std::pair(key.prefixlen, addr), &identity);
    }
  }
  const gr_identity* find(const Cidr& address) const {
    const auto it = by_prefix_.find(
        std::pair(static_cast<std::uint32_t>(address.mapped_prefix_len()), address.addr));
    return it == by_prefix_.end() ? nullptr : it->second;
  }

 private:
  std::map<std::pair<std::uint32_t, std::array<std::uint8_t, 16>>, const gr_identity*> by_prefix_;
};

std::optional<std::uint32_t> zone_id_of(const CompiledPolicy& compiled, const std::string& zone) {
  for (const auto& [id, name] : compiled.zone_names)
    if (name == zone) return id;
  return std::nullopt;
}

}  // namespace

void compile_services(CompiledPolicy& compiled, std::span<const ServiceBinding> services,
                      const std::string& default_zone) {
  const IdentityIndex identities(compiled);
  // One entry per (address, port, protocol): a named targetPort that resolves to different
  // numbers on different backends gives several bindings of one key, merged here; the entry can
  // hold one target port only, so such a Service is judged fail closed, as a conflict.
  using Key = std::tuple<std::array<std::uint8_t, 16>, std::uint16_t, std::uint8_t>;
  std::map<Key, ServiceBinding> merged;
  std::set<Key> split;
  for (const ServiceBinding& s : services) {
    const auto key = std::tuple(s.cluster_ip.addr, s.port, s.protocol);
    auto [it, fresh] = merged.try_emplace(key, s);
    if (fresh) continue;
    if (it->second.target_port != s.target_port) split.insert(key);
    it->second.backends.insert(it->second.backends.end(), s.backends.begin(), s.backends.end());
  }
  for (const auto& [merged_key, s] : merged) {
    const bool split_ports = split.contains(merged_key);
    // (workload, zone) of each backend that names one; the world's names none.
    std::set<std::pair<std::uint32_t, std::uint32_t>> named;
    std::uint32_t flags = 0;
    bool world_too = false;  // some backend names no identity
    for (const Cidr& backend : s.backends)
      if (const gr_identity* id = identities.find(backend)) {
        named.emplace(id->workload_id, id->zone_id);
        flags = id->flags;
      } else {
        world_too = true;
      }
    if (named.empty()) continue;  // the world's (or nobody's): judged by its address
    gr_service_key key{};
    std::memcpy(key.addr, s.cluster_ip.addr.data(), 16);
    key.port = s.port;
    key.protocol = s.protocol;
    gr_service value{};
    value.target_port = s.target_port ? s.target_port : s.port;
    if (named.size() == 1 && !world_too && !split_ports) {
      std::tie(value.workload_id, value.zone_id) = *named.begin();
      value.flags = flags & ~static_cast<std::uint32_t>(GR_WL_ON_THIS_HOST);
      compiled.services.emplace_back(key, value);
      continue;
    }
    // Backends of several identities: a connect reaches one of them, chosen by kube-proxy after
    // the judgement. Fail closed: the default zone's rules (none, without a default zone).
    DiscoveryProblem p{
        .problem = "service_conflict",
        .subject = s.service + " " + s.cluster_ip.text + ":" + std::to_string(s.port)};
    p.message =
        "service " + s.service + " (" + s.cluster_ip.text + ":" + std::to_string(s.port) +
        (split_ports ? ") has backends listening on different ports"
                     : ") has backends of " + std::to_string(named.size() + (world_too ? 1 : 0)) +
                           " different identities") +
        "; ";
    if (const auto zone = zone_id_of(compiled, default_zone)) {
      value.zone_id = *zone;
      compiled.services.emplace_back(key, value);
      p.placed_in = default_zone;
      p.message += "connects to it are judged as the default zone '" + default_zone +
                   "' (fail closed) until its backends agree";
    } else {
      p.message += "connects to it are judged as the world (its address) until its backends agree";
    }
    compiled.problems.push_back(std::move(p));
  }
  std::ranges::sort(compiled.services, [](const auto& a, const auto& b) {
    return std::memcmp(&a.first, &b.first, sizeof a.first) < 0;
  });
}

}  // namespace guardrail::policy
