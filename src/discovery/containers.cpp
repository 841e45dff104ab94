// Docker containers as workload bindings (see discovery.hpp).
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <span>
#include <string_view>

#include "guardrail.h"
#include "guardrail/discovery/discovery.hpp"
#include "guardrail/docker/daemon_config.hpp"

// One runtime scope prefix as an element of a braced list.
#define GR_SCOPE_PREFIX_ITEM(p) std::string_view(p),

namespace guardrail::discovery {
namespace {

bool selects(const policy::Zone& zone, const docker::Container& c) {
  // The label selector (labels and matchExpressions, as for pods). A container is in no
  // Kubernetes namespace: a zone that lists namespaces selects none by its labels.
  const bool by_labels = !zone.match_labels.empty() || !zone.match_expressions.empty();
  if (by_labels && zone.namespaces.empty() && zone.matches_labels(c.labels)) return true;
  for (const auto& g : zone.name_globs)
    if (glob_matches(g, c.name)) return true;
  for (const auto& g : zone.image_globs)
    if (glob_matches(g, c.image)) return true;
  return false;
}

}  // namespace

// (workload, zone) for a container: a named workload, a zone's selector, or the default zone.
std::pair<std::string, std::string> place_container(const policy::Policy& policy,
                                                    const docker::Container& c) {
  for (const auto& w : policy.workloads)
    if (!w.container.empty() && glob_matches(w.container, c.name)) return {w.name, w.zone};
  for (const auto& z : policy.zones)
    if (selects(z, c)) return {"", z.name};
  return {"", policy.effective_default_zone()};
}

namespace {

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "" : path.substr(0, slash);
}

std::uint64_t cgroup_id_of(const std::string& dir) {
  struct stat st {};
  return ::stat(dir.c_str(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace

std::string cgroup_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("0::")) return line.substr(3);
  return "";
}

bool runtime_scope_name(const std::string& name) {
  const std::string_view suffix = GR_RUNTIME_SCOPE_SUFFIX;
  for (const std::string_view prefix : {GR_RUNTIME_SCOPE_PREFIXES(GR_SCOPE_PREFIX_ITEM)}) {
    if (name.size() != prefix.size() + GR_RUNTIME_SCOPE_ID_LEN + suffix.size() ||
        !name.starts_with(prefix) || !name.ends_with(suffix))
      continue;
    const std::string_view id(name.data() + prefix.size(), GR_RUNTIME_SCOPE_ID_LEN);
    if (std::ranges::all_of(
            id, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
      return true;
  }
  return false;
}

policy::WorkloadBinding birth_parent_binding(const std::string& path, std::uint64_t cgroup_id,
                                             const std::string& zone) {
  policy::WorkloadBinding b{"", zone, path, cgroup_id, {}};
  b.kind = policy::BindingKind::Exempt;
  b.display_name = path + "/*";  // named like a placeholder's not-yet-identified children
  return b;
}

bool is_birth_parent(const policy::WorkloadBinding& b) {
  return b.kind == policy::BindingKind::Exempt && !b.zone.empty() &&
         b.display_name == b.cgroup_path + "/*";
}

namespace {

// A workload id no compiled workload holds: the binding's own when it is free (the caller's
// stable choice, above the named workloads), else the next above every id in use.
std::uint32_t free_workload_id(const policy::CompiledPolicy& compiled, const policy::Policy& policy,
                               std::span<const policy::WorkloadBinding> bindings,
                               std::uint32_t wanted) {
  const auto first = static_cast<std::uint32_t>(GR_WORKLOAD_ID_BASE + policy.workloads.size());
  if (wanted >= first && !compiled.workload_names.contains(wanted)) return wanted;
  std::uint32_t next = first;
  if (!compiled.workload_names.empty())
    next = std::max(next, compiled.workload_names.rbegin()->first + 1);
  for (const auto& b : bindings) next = std::max(next, b.anonymous_id + 1);
  return next;
}

}  // namespace

std::size_t mark_birth_parents(policy::CompiledPolicy& compiled, const policy::Policy& policy,
                               std::span<const policy::WorkloadBinding> bindings) {
  std::size_t marked = 0;
  for (const auto& b : bindings) {
    if (!is_birth_parent(b)) continue;
    const auto zone =
        std::ranges::find(compiled.zone_names, b.zone, [](const auto& z) { return z.second; });
    const auto entry =
        std::ranges::find(compiled.cgroups, b.cgroup_id, [](const auto& c) { return c.first; });
    if (zone == compiled.zone_names.end() || entry == compiled.cgroups.end() ||
        !(entry->second.flags & GR_WL_EXEMPT)) {
      spdlog::warn("{} stays plainly exempt, with no coverage from birth: {}", b.cgroup_path,
                   zone == compiled.zone_names.end()
                       ? "zone '" + b.zone + "' is not in the policy"
                       : std::string("compile gave it no exempt entry"));
      continue;
    }
    const auto level = std::ranges::count(b.cgroup_path, '/') + 1;
    if (level > GR_MAX_CGROUP_DEPTH) continue;  // deeper than the programs walk
    const std::uint32_t zone_id = zone->first;
    const policy::Zone& z = policy.zones.at(zone_id - GR_ZONE_ID_MIN);
    const std::uint32_t flags =
        z.mode.value_or(policy.mode) == policy::Mode::Audit ? GR_WL_AUDIT : 0;
    const std::uint32_t id = free_workload_id(compiled, policy, bindings, b.anonymous_id);
    compiled.workload_names[id] = policy::anonymous_name(b);
    compiled.workload_zone[id] = zone_id;
    compiled.workload_flags[id] = flags;
    entry->second = gr_workload{id, zone_id, GR_WL_EXEMPT | GR_WL_BIRTH_PARENT,
                                GR_BIRTH_RESERVED(flags, level)};
    ++marked;
  }
  return marked;
}

std::vector<policy::WorkloadBinding> container_bindings(
    const policy::Policy& policy, const std::vector<docker::Container>& containers,
    const std::string& cgroup2_root, const std::vector<std::string>& container_parents) {
  std::vector<policy::WorkloadBinding> out;
  // A systemd slice holds host units too (any unit may name it): never a placeholder; a birth
  // parent, whose children only the runtimes' scope names make workloads (kernel-side).
  std::map<std::string, bool> parents;  // path -> birth parent (else placeholder)
  for (const auto& p : container_parents) {
    const bool slice = p.ends_with(".slice");
    parents.emplace(p, slice);
    if (slice) continue;  // systemd's to make
    // The parents exist before the first container does: dockerd then creates its containers'
    // cgroups under ours, which the programs are already attached to.
    const std::string dir = cgroup2_root + p;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      spdlog::warn("cannot create the container parent cgroup {}: {}", dir, std::strerror(errno));
  }
  const std::string default_zone = policy.effective_default_zone();
  for (const auto& c : containers) {
    if (c.pid <= 0) continue;
    const std::string path = cgroup_of(c.pid);
    if (path.empty() || path == "/") continue;
    const std::uint64_t id = cgroup_id_of(cgroup2_root + path);
    if (!id) continue;
    auto [workload, zone] = place_container(policy, c);
    if (zone.empty()) continue;  // no selector, no default zone: not under policy
    policy::WorkloadBinding b{workload, zone, path, id, {}};
    for (const auto& a : c.addresses)
      if (auto cidr = policy::parse_cidr(a)) b.addresses.push_back(*cidr);
    out.push_back(std::move(b));
    // The parent of a runtime's scope (systemd driver: /system.slice/docker-<id>.scope) is
    // shared with host services: a birth parent. Else only a parent that holds containers alone
    // (/docker, a --cgroup-parent; a per-container HostConfig.CgroupParent is where its creator
    // puts such containers) is a placeholder: never a slice the daemon did not name.
    const std::string parent = parent_of(path);
    if (parent.empty()) continue;
    const std::string name = path.substr(parent.size() + 1);
    if (parent.ends_with(".slice") && runtime_scope_name(name)) {
      parents.try_emplace(parent, true);
      continue;
    }
    const bool named = !c.cgroup_parent.empty() && docker::parent_holds_only_containers(parent);
    if (named || !parent.ends_with(".slice")) parents.try_emplace(parent, false);
  }
  if (!default_zone.empty())
    for (const auto& [p, birth] : parents) {
      const std::uint64_t id = cgroup_id_of(cgroup2_root + p);
      const bool taken = std::ranges::any_of(out, [&](const auto& b) { return b.cgroup_id == id; });
      if (!id || taken) continue;
      if (birth) {
        out.push_back(birth_parent_binding(p, id, default_zone));
        continue;
      }
      policy::WorkloadBinding b{"", default_zone, p, id, {}};
      b.kind = policy::BindingKind::Placeholder;
      out.push_back(std::move(b));
    }
  return out;
}

}  // namespace guardrail::discovery
