// Workload discovery from the cgroup v2 tree: which cgroups the policy's selectors name, where
// the programs must be attached, and each workload's addresses, read from the network namespace
// of the processes in its cgroup.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "guardrail/docker/client.hpp"
#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail::discovery {

struct Discovered {
  std::vector<policy::WorkloadBinding> bindings;
  // The top-most matched cgroups and placeholders (absolute directories): attaching there covers
  // every bound cgroup below them exactly once, and every cgroup made below a placeholder later.
  std::vector<std::string> attach_points;
  // Peers with no cgroup here (pods on other nodes, BindingKind::Remote) and Services judged by
  // their backends (Kubernetes discovery).
  std::vector<policy::WorkloadBinding> remote;
  std::vector<policy::ServiceBinding> services;
  // What a source could not tell this time (the last good answer stands in for it).
  std::vector<policy::DiscoveryProblem> problems;
};

// Where a cgroup that appears later must already be covered: the static parent of a selector
// glob (the components before its first wildcard), bound as a placeholder so that a child
// made after the last scan is judged from its first instruction. Its zone (and workload, for a
// named workload's glob): the glob's own when its last component is `*` and the only wildcard
// ("/g/agents/*": every child of /g/agents is what it selects); else the default zone, fail
// closed ("/g/agents/agent-*", "/kubepods/*/pod*": a new child may be the glob's or not, and
// one that no selector ever names stays in the default zone), also when two globs with one
// parent disagree. None for an exact path, a glob whose first component has a wildcard (the
// root would be the parent), a parent that is a systemd slice (host services live there), nor
// without a zone to give. The parent itself is no workload (GR_WL_PLACEHOLDER).
struct Placeholder {
  std::string parent;    // "/g/agents"
  std::string workload;  // a named workload whose `cgroup` glob it is, else ""
  std::string zone;
};
std::vector<Placeholder> placeholders_for(const policy::Policy& policy);

// Does the cgroup path (relative to the cgroup2 mount, "/a/b") match the selector glob?
// `*` and `?` do not cross '/'.
bool glob_matches(const std::string& glob, const std::string& cgroup_path);

// Walks the tree under cgroup2_root. A cgroup named by a workload's `cgroup` glob belongs to
// that workload; else one matched by a zone's selector is an anonymous member of the zone; the
// selectors' placeholders (placeholders_for) are bound when their parent exists and is no
// workload itself. A cgroup removed while the walk runs is skipped.
// Addresses are read unless read_addresses is false (tests of the matching alone). With
// `containers` (Docker discovery), those are bound first (see container_bindings).
// container_parents: cgroups to bind as placeholders of the default zone whether or not a
// container runs yet (created when missing), so that the first container is covered from its
// first instruction; a systemd slice among them is bound as a birth parent (never created: it
// is systemd's).
Result<Discovered> discover(const policy::Policy& policy, const std::string& cgroup2_root,
                            bool read_addresses = true,
                            const std::vector<docker::Container>* containers = nullptr,
                            const std::vector<std::string>& container_parents = {});

// Running containers as bindings: each container's cgroup (from its init's /proc/PID/cgroup)
// belongs to the named workload whose `container` glob matches its name, else to the first zone
// whose labels, names or images select it, else to the policy's default zone (fail closed). A
// zone's labels select when every label and every matchExpressions requirement holds and the
// zone lists no Kubernetes namespaces (a container is in none).
// The parent cgroup of the containers (/docker with the cgroupfs driver, or what the daemon and
// HostConfig.CgroupParent say) is bound as a placeholder of the default zone, so a container
// started after the last scan is under the default zone's rules from its first instruction,
// until it is identified; the parent itself is no workload. A parent that is a systemd slice
// (the systemd driver's, where host services live too) is bound as a birth parent instead
// (birth_parent_binding). Its addresses come from the API.
std::vector<policy::WorkloadBinding> container_bindings(
    const policy::Policy& policy, const std::vector<docker::Container>& containers,
    const std::string& cgroup2_root, const std::vector<std::string>& container_parents = {});

// A container parent shared with host services (a systemd slice: the systemd driver's
// /system.slice, a configured or per-container CgroupParent slice), where no placeholder may be
// bound: bound Exempt (its host services are under no policy) and marked as a birth parent, so
// that a child the kernel sees named as a runtime's container scope is bound at its mkdir as a
// workload of `zone` (bpf/birth_guard.bpf.c; mark_birth_parents() after compile).
// display_name says what alerts call such a child until identified ("zone:/system.slice/*").
policy::WorkloadBinding birth_parent_binding(const std::string& path, std::uint64_t cgroup_id,
                                             const std::string& zone);
bool is_birth_parent(const policy::WorkloadBinding& binding);

// After compile, which gives a birth parent a plain exempt entry: each birth parent among
// `bindings` becomes GR_WL_EXEMPT | GR_WL_BIRTH_PARENT with what a child born there gets: an
// anonymous workload of the binding's zone (the binding's anonymous_id when free, so that it stays
// stable across re-scans), named like a placeholder's unidentified children
// ("zone:/system.slice/*") so that alerts and metrics name it, with its zone's flags (audit) and
// level (the parent's + 1) in `reserved`. A zone the policy does not have leaves the entry plainly
// exempt (logged). Returns how many were marked.
std::size_t mark_birth_parents(policy::CompiledPolicy& compiled, const policy::Policy& policy,
                               std::span<const policy::WorkloadBinding> bindings);

// Whether a cgroup's name (its last path component) is one a container runtime gives a
// container's scope under the systemd driver: docker-, cri-containerd-, crio- or libpod-, the
// 64 hex digits of the id, ".scope" (GR_RUNTIME_SCOPE_PREFIXES, as the kernel side matches).
bool runtime_scope_name(const std::string& name);

// Where the policy places a container: (named workload or "", zone), as container_bindings does.
std::pair<std::string, std::string> place_container(const policy::Policy& policy,
                                                    const docker::Container& container);

// The v2 cgroup path of a process ("/docker/<id>"), from /proc/PID/cgroup; "" if unknown.
std::string cgroup_of(pid_t pid);

// The top-most of the bindings' cgroups, as absolute directories: attaching there covers every
// bound cgroup exactly once.
std::vector<std::string> top_most(const std::vector<policy::WorkloadBinding>& bindings,
                                  const std::string& cgroup2_root);

// Non-loopback, non-link-local addresses of the network namespace of `pid`. Empty when the
// process shares the agent's own namespace (the host's addresses identify no workload).
Result<std::vector<policy::Cidr>> netns_addresses(pid_t pid);

// Bit n set when some bound cgroup sits at level n of the hierarchy ("/a/b" is level 2): the
// levels at which the programs look for a workload among a task's ancestors.
std::uint32_t cgroup_levels(const std::vector<policy::WorkloadBinding>& bindings);

// The first process found in the cgroup or below it, or 0 when it holds none.
pid_t first_process(const std::string& cgroup_dir);

}  // namespace guardrail::discovery
