// The re-scan: what discovery finds now (cgroups, containers, their posture), with stable ids
// for anonymous workloads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "guardrail/discovery/cgroup_watch.hpp"
#include "guardrail/discovery/discovery.hpp"
#include "guardrail/docker/watch.hpp"
#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/posture/watch.hpp"
#include "guardrail/util/result.hpp"
#include "kube_source.hpp"

namespace guardrail::agent {

// Stable ids for anonymous workloads, by cgroup id; never reused once a cgroup is gone, so an
// event in flight while the policy changes is still named right.
class AnonymousIds {
 public:
  explicit AnonymousIds(std::uint32_t first) : first_(first), next_(first) {}
  std::uint32_t id_of(std::uint64_t cgroup_id);
  // A binding's key: its cgroup id, or for a peer with no cgroup here (a pod elsewhere) a key
  // from its name that no cgroup id takes (the top bit set).
  static std::uint64_t key_of(const policy::WorkloadBinding& binding);
  void forget_all_but(const std::vector<policy::WorkloadBinding>& bound);
  // A previous agent's ids (from the pinned maps): its anonymous workloads keep theirs, and new
  // ones are numbered from `next` (every id below it may still be in the kernel's state).
  void adopt(const std::vector<std::pair<std::uint64_t, std::uint32_t>>& by_cgroup,
             std::uint32_t next);
  // Every id below this one has been given out.
  std::uint32_t next() const { return next_; }
  // Ids below `first` belong to named workloads now (a reloaded policy names more): the
  // anonymous ones there get new ids; new ids never go below it.
  void start_at_least(std::uint32_t first);

 private:
  std::map<std::uint64_t, std::uint32_t> ids_;
  std::uint32_t first_;
  std::uint32_t next_;
};

class WorkloadScan {
 public:
  // containers: null without Docker discovery. The references must outlive the scan. wake:
  // called (on another thread) when a watched cgroup directory gained or lost a child, so the
  // caller scans again at once.
  WorkloadScan(const policy::Policy& policy, std::string cgroup_root,
               docker::ContainerWatch* containers, std::function<void()> wake = {});

  // From now on each scan assesses the containers it lists and marks the quarantined ones.
  void watch_posture(posture::PostureWatch* posture) { posture_ = posture; }
  // From now on each scan binds the pods the API server tells of (null: none).
  void watch_kubernetes(KubeSource* kube) { kube_ = kube; }
  // The Kubernetes watches as the last scan saw them (none without Kubernetes discovery).
  const std::vector<WatchReport>& kubernetes_watches() const { return kube_watches_; }

  // What discovery finds now. When the cgroup tree cannot be read, the last good answer stands
  // (none yet: an empty one), with the failure among its problems: never an error.
  discovery::Discovered scan();
  AnonymousIds& ids() { return ids_; }

  // The policy the scan refers to was replaced (a reload): anonymous ids start after its named
  // workloads.
  void policy_changed();

 private:
  void assess_posture(const std::vector<docker::Container>& listed);
  void add_kubernetes(discovery::Discovered& found,
                      std::vector<policy::DiscoveryProblem>& problems);

  const policy::Policy& policy_;
  std::string cgroup_root_;
  docker::ContainerWatch* containers_;
  posture::PostureWatch* posture_ = nullptr;
  KubeSource* kube_ = nullptr;
  std::set<std::string> placed_pods_;
  std::vector<WatchReport> kube_watches_;  // "namespace/name where", as last logged
  AnonymousIds ids_;
  std::unique_ptr<discovery::CgroupWatch> cgroup_watch_;  // null when inotify is unavailable
  std::optional<discovery::Discovered> last_good_;
};

// Whether two scans found the same workloads (ids, zones, addresses, quarantine, attach points):
// nothing to recompile.
bool same_bindings(const discovery::Discovered& a, const discovery::Discovered& b);

}  // namespace guardrail::agent
