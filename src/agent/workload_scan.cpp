#include "workload_scan.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "guardrail.h"

namespace guardrail::agent {

std::uint32_t AnonymousIds::id_of(std::uint64_t cgroup_id) {
  auto [it, fresh] = ids_.try_emplace(cgroup_id, next_);
  if (fresh) ++next_;
  return it->second;
}

void AnonymousIds::forget_all_but(const std::vector<policy::WorkloadBinding>& bound) {
  std::set<std::uint64_t> keep;
  for (const auto& b : bound) keep.insert(b.cgroup_id);
  std::erase_if(ids_, [&](const auto& e) { return !keep.contains(e.first); });
}

void AnonymousIds::adopt(const std::vector<std::pair<std::uint64_t, std::uint32_t>>& by_cgroup,
                         std::uint32_t next) {
  next_ = std::max(next_, next);
  for (const auto& [cgroup_id, id] : by_cgroup) {
    if (id < first_) continue;  // a named workload's: by its place in the policy
    ids_[cgroup_id] = id;
    next_ = std::max(next_, id + 1);
  }
}

void AnonymousIds::start_at_least(std::uint32_t first) {
  std::erase_if(ids_, [&](const auto& e) { return e.second < first; });
  first_ = std::max(first_, first);
  next_ = std::max(next_, first);
}

WorkloadScan::WorkloadScan(const policy::Policy& policy, std::string cgroup_root,
                           docker::ContainerWatch* containers)
    : policy_(policy),
      cgroup_root_(std::move(cgroup_root)),
      containers_(containers),
      ids_(static_cast<std::uint32_t>(GR_WORKLOAD_ID_BASE + policy.workloads.size())) {}

void WorkloadScan::assess_posture(const std::vector<docker::Container>& listed) {
  posture_->update(listed, [&](const docker::Container& c) {
    auto [workload, zone] = discovery::place_container(policy_, c);
    if (workload.empty()) workload = zone + ":" + discovery::cgroup_of(c.pid);
    return std::pair(workload, zone);
  });
}

void WorkloadScan::policy_changed() {
  ids_.start_at_least(static_cast<std::uint32_t>(GR_WORKLOAD_ID_BASE + policy_.workloads.size()));
}

Result<discovery::Discovered> WorkloadScan::scan() {
  std::optional<std::vector<docker::Container>> listed;
  if (containers_) listed = containers_->containers();
  if (listed && posture_) assess_posture(*listed);
  std::vector<std::string> parents;
  if (containers_) parents = containers_->parent_cgroups();
  auto found =
      discovery::discover(policy_, cgroup_root_, true, listed ? &*listed : nullptr, parents);
  if (!found) return found;
  for (auto& b : found->bindings) {
    if (posture_)
      for (const auto& id : posture_->quarantined())
        if (b.cgroup_path.ends_with(id)) b.quarantined = true;
    if (b.workload.empty()) b.anonymous_id = ids_.id_of(b.cgroup_id);
  }
  ids_.forget_all_but(found->bindings);
  return found;
}

bool same_bindings(const discovery::Discovered& a, const discovery::Discovered& b) {
  if (a.bindings.size() != b.bindings.size() || a.attach_points != b.attach_points) return false;
  for (std::size_t i = 0; i < a.bindings.size(); i++) {
    const auto &x = a.bindings[i], &y = b.bindings[i];
    if (x.cgroup_id != y.cgroup_id || x.workload != y.workload || x.zone != y.zone ||
        x.addresses != y.addresses || x.quarantined != y.quarantined)
      return false;
  }
  return true;
}

}  // namespace guardrail::agent
