#include "workload_scan.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "guardrail.h"
#include "guardrail/kubernetes/pod_placement.hpp"

namespace guardrail::agent {

std::uint32_t AnonymousIds::id_of(std::uint64_t cgroup_id) {
  auto [it, fresh] = ids_.try_emplace(cgroup_id, next_);
  if (fresh) ++next_;
  return it->second;
}

std::uint64_t AnonymousIds::key_of(const policy::WorkloadBinding& b) {
  if (b.cgroup_id) return b.cgroup_id;
  return std::hash<std::string>{}(b.display_name) | (1ull << 63);
}

void AnonymousIds::forget_all_but(const std::vector<policy::WorkloadBinding>& bound) {
  std::set<std::uint64_t> keep;
  for (const auto& b : bound) keep.insert(key_of(b));
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
                           docker::ContainerWatch* containers, std::function<void()> wake)
    : policy_(policy),
      cgroup_root_(std::move(cgroup_root)),
      containers_(containers),
      ids_(static_cast<std::uint32_t>(GR_WORKLOAD_ID_BASE + policy.workloads.size())) {
  if (!wake) return;
  auto watch = discovery::CgroupWatch::start(std::move(wake));
  if (watch)
    cgroup_watch_ = std::move(*watch);
  else
    spdlog::warn("{}: new and removed cgroups are found at the next re-scan only",
                 watch.error().message);
}

void WorkloadScan::assess_posture(const std::vector<docker::Container>& listed) {
  posture_->update(listed, [&](const docker::Container& c) {
    auto [workload, zone] = discovery::place_container(policy_, c);
    if (workload.empty())
      workload = policy::anonymous_name({.zone = zone, .cgroup_path = discovery::cgroup_of(c.pid)});
    return std::pair(workload, zone);
  });
}

void WorkloadScan::policy_changed() {
  ids_.start_at_least(static_cast<std::uint32_t>(GR_WORKLOAD_ID_BASE + policy_.workloads.size()));
}

discovery::Discovered WorkloadScan::scan() {
  std::optional<std::vector<docker::Container>> listed;
  std::vector<policy::DiscoveryProblem> problems;
  if (containers_) {
    listed = containers_->containers();
    // An engine that is not there at all (no socket) is no failed source: nothing to discover.
    struct stat st {};
    const bool present = ::stat(containers_->client().socket_path().c_str(), &st) == 0;
    if (auto why = containers_->last_error(); !why.empty() && present)
      problems.push_back({.problem = "source_failed",
                          .subject = "docker",
                          .message = "Docker discovery failed (" + why + "); " +
                                     (listed ? "the last known containers stay bound"
                                             : "no container is known yet") +
                                     " and new ones fall to the default zone until it answers"});
  }
  if (listed && posture_) assess_posture(*listed);
  std::vector<std::string> parents;
  if (containers_) parents = containers_->parent_cgroups();
  auto found =
      discovery::discover(policy_, cgroup_root_, true, listed ? &*listed : nullptr, parents);
  if (!found) {
    // Fail closed: what was bound stays bound (its programs and placeholders with it).
    discovery::Discovered kept = last_good_.value_or(discovery::Discovered{});
    kept.problems = std::move(problems);
    kept.problems.push_back({.problem = "source_failed",
                             .subject = "cgroups",
                             .message = found.error().message +
                                        "; the workloads found by the last good scan stay bound"});
    return kept;
  }
  if (kube_) add_kubernetes(*found, problems);
  found->problems = std::move(problems);
  for (auto& b : found->remote)
    if (b.workload.empty()) b.anonymous_id = ids_.id_of(AnonymousIds::key_of(b));
  for (auto& b : found->bindings) {
    if (posture_)
      for (const auto& id : posture_->quarantined())
        if (b.cgroup_path.ends_with(id)) b.quarantined = true;
    if (b.workload.empty()) b.anonymous_id = ids_.id_of(b.cgroup_id);
  }
  std::vector<policy::WorkloadBinding> all = found->bindings;
  all.insert(all.end(), found->remote.begin(), found->remote.end());
  ids_.forget_all_but(all);
  if (cgroup_watch_)
    cgroup_watch_->watch(discovery::directories_to_watch(found->bindings, cgroup_root_));
  last_good_ = *found;
  return std::move(*found);
}

void WorkloadScan::add_kubernetes(discovery::Discovered& found,
                                  std::vector<policy::DiscoveryProblem>& problems) {
  const KubeView view = kube_->view();
  kube_watches_ = view.watches;
  for (const auto& why : view.errors)
    problems.push_back({.problem = "source_failed",
                        .subject = "kubernetes",
                        .message = "Kubernetes discovery failed (" + why +
                                   "); the pods last known stay bound and new ones are judged "
                                   "as the default zone until it answers"});
  const auto& options = kube_->options();
  auto pods =
      kubernetes::node_pod_bindings(policy_, view.node_pods, cgroup_root_, options.kubelet_root,
                                    kube_->self_cgroup(), kube_->self_pod_uid());
  std::set<std::uint64_t> bound;
  for (const auto& b : found.bindings) bound.insert(b.cgroup_id);
  std::set<std::string> placed;
  for (auto& b : pods.bindings) {
    if (!bound.insert(b.cgroup_id).second) continue;
    if (!b.display_name.empty()) {
      const std::string where = b.kind == policy::BindingKind::Exempt ? "under no policy"
                                : b.workload.empty()                  ? "in zone " + b.zone
                                                                      : "workload " + b.workload;
      placed.insert(b.display_name + " " + where);
    }
    found.bindings.push_back(std::move(b));
  }
  // Each pod once, when it is first placed or placed anew (its metadata changed its zone).
  for (const auto& p : placed)
    if (!placed_pods_.contains(p)) spdlog::info("pod {} (cgroup of this node)", p);
  placed_pods_ = std::move(placed);
  found.attach_points = discovery::top_most(found.bindings, cgroup_root_);
  found.remote = kubernetes::remote_pod_bindings(policy_, view.all_pods, options.node_name,
                                                 kube_->self_pod_uid());
  found.services = kubernetes::service_bindings(view.services, view.slices);
}

namespace {

bool same_remote(const policy::WorkloadBinding& x, const policy::WorkloadBinding& y) {
  return x.display_name == y.display_name && x.workload == y.workload && x.zone == y.zone &&
         x.addresses == y.addresses;
}

bool same_service(const policy::ServiceBinding& x, const policy::ServiceBinding& y) {
  return x.cluster_ip == y.cluster_ip && x.port == y.port && x.protocol == y.protocol &&
         x.target_port == y.target_port && x.backends == y.backends;
}

}  // namespace

bool same_bindings(const discovery::Discovered& a, const discovery::Discovered& b) {
  if (a.bindings.size() != b.bindings.size() || a.attach_points != b.attach_points) return false;
  if (!std::ranges::equal(a.remote, b.remote, same_remote) ||
      !std::ranges::equal(a.services, b.services, same_service))
    return false;
  for (std::size_t i = 0; i < a.bindings.size(); i++) {
    const auto &x = a.bindings[i], &y = b.bindings[i];
    if (x.cgroup_id != y.cgroup_id || x.workload != y.workload || x.zone != y.zone ||
        x.addresses != y.addresses || x.quarantined != y.quarantined || x.kind != y.kind)
      return false;
  }
  return true;
}

}  // namespace guardrail::agent
