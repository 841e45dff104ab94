// Docker containers as workload bindings (see discovery.hpp).
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "guardrail/discovery/discovery.hpp"
#include "guardrail/docker/daemon_config.hpp"

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

std::vector<policy::WorkloadBinding> container_bindings(
    const policy::Policy& policy, const std::vector<docker::Container>& containers,
    const std::string& cgroup2_root, const std::vector<std::string>& container_parents) {
  std::vector<policy::WorkloadBinding> out;
  std::set<std::string> parents(container_parents.begin(), container_parents.end());
  // The parents exist before the first container does: dockerd then creates its containers'
  // cgroups under ours, which the programs are already attached to.
  for (const auto& p : container_parents) {
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
    // Only a parent that holds containers alone (/docker, a --cgroup-parent) is bound: never a
    // systemd slice the daemon did not name, where every host service lives (the systemd
    // driver's system.slice/docker-<id>.scope).
    // A per-container HostConfig.CgroupParent is where its creator puts such containers.
    const std::string parent = parent_of(path);
    const bool named = !c.cgroup_parent.empty() && docker::parent_holds_only_containers(parent);
    if (!parent.empty() && (named || !parent.ends_with(".slice"))) parents.insert(parent);
  }
  if (!default_zone.empty())
    for (const auto& p : parents) {
      const std::uint64_t id = cgroup_id_of(cgroup2_root + p);
      const bool taken = std::ranges::any_of(out, [&](const auto& b) { return b.cgroup_id == id; });
      if (!id || taken) continue;
      policy::WorkloadBinding b{"", default_zone, p, id, {}};
      b.kind = policy::BindingKind::Placeholder;
      out.push_back(std::move(b));
    }
  return out;
}

}  // namespace guardrail::discovery
