// Pods as workload bindings (see pod_placement.hpp): placing a pod by the policy's selectors,
// this node's pod cgroups from the kubepods tree, and pods on other nodes by their addresses.
#include "guardrail/kubernetes/pod_placement.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "guardrail/discovery/discovery.hpp"
#include "guardrail/kubernetes/kubepods.hpp"

namespace guardrail::kubernetes {
namespace {

namespace fs = std::filesystem;

bool selects_pod(const policy::Zone& zone, const Pod& pod) {
  // A zone that says nothing about pods selects none: its cgroups, names and images are for the
  // other discovery sources.
  if (zone.namespaces.empty() && zone.match_labels.empty() && zone.match_expressions.empty())
    return false;
  if (!zone.namespaces.empty() &&
      std::ranges::find(zone.namespaces, pod.namespace_name) == zone.namespaces.end())
    return false;
  return zone.matches_labels(pod.labels);
}

bool lists_namespace(const policy::Zone& zone, const std::string& namespace_name) {
  return std::ranges::find(zone.namespaces, namespace_name) != zone.namespaces.end();
}

// The cgroup id of a directory below the cgroup2 mount: its inode; 0 when it is gone.
std::uint64_t cgroup_id(const std::string& cgroup2_root, const std::string& path) {
  struct stat st {};
  return ::stat((cgroup2_root + path).c_str(), &st) == 0 ? st.st_ino : 0;
}

// "" for the mount root ("" or "/"), else "/a/b" without a trailing '/'.
std::string normalized(std::string path) {
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (!path.empty() && path.front() != '/') path.insert(path.begin(), '/');
  return path;
}

// Where the kubelet below kubelet_root may have put kubepods: cgroupfs `kubepods`, systemd
// `kubepods.slice`, and for a --cgroup-root of its own with systemd `<p>-kubepods.slice` below
// `<p>.slice` (kubelet_root given as the slice, "/kubelet.slice", or as the kubelet's
// cgroupRoot, "/kubelet", which systemd spells "/kubelet.slice").
std::vector<std::string> kubepods_candidates(const std::string& root) {
  std::vector<std::string> out = {root + "/kubepods", root + "/kubepods.slice"};
  if (root.empty()) return out;
  const std::string last = root.substr(root.rfind('/') + 1);
  if (last.ends_with(".slice")) {
    out.push_back(root + "/" + last.substr(0, last.size() - 6) + "-kubepods.slice");
  } else if (root.find(".slice") == std::string::npos) {
    std::string slices, unit;
    for (std::size_t start = 1; start <= root.size();) {
      std::size_t end = root.find('/', start);
      if (end == std::string::npos) end = root.size();
      unit += (unit.empty() ? "" : "-") + root.substr(start, end - start);
      slices += "/" + unit + ".slice";
      start = end + 1;
    }
    out.push_back(slices + "/" + unit + "-kubepods.slice");
  }
  return out;
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

// The subdirectories of a cgroup, as paths below the mount; none when it is gone.
std::vector<std::string> children(const std::string& cgroup2_root, const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(cgroup2_root + path, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_directory(type_ec)) out.push_back(path + "/" + it->path().filename().string());
  }
  return out;
}

struct PodCgroup {
  std::string path;
  std::string uid;
};

// The pod cgroups below a kubepods root: its children and its QoS slices' children.
void collect_pods(const std::string& cgroup2_root, const std::string& dir,
                  std::vector<PodCgroup>& out) {
  for (const std::string& child : children(cgroup2_root, dir)) {
    const auto parsed = parse_kubepods_cgroup(child);
    if (!parsed) continue;  // a stray directory: the placeholder's
    if (parsed->pod_cgroup == child)
      out.push_back({child, parsed->pod_uid});
    else if (parsed->pod_uid.empty() && !parsed->qos.empty())
      collect_pods(cgroup2_root, child, out);
  }
}

std::vector<policy::Cidr> addresses_of(const Pod& pod) {
  std::vector<policy::Cidr> out;
  if (pod.host_network) return out;  // the node's addresses, not the pod's
  for (const std::string& ip : pod.ips)
    if (auto cidr = policy::parse_cidr(ip)) out.push_back(std::move(*cidr));
  return out;
}

policy::WorkloadBinding exempt_binding(const std::string& path, std::uint64_t id) {
  policy::WorkloadBinding b;
  b.cgroup_path = path;
  b.cgroup_id = id;
  b.kind = policy::BindingKind::Exempt;
  return b;
}

}  // namespace

PodPlacement place_pod(const policy::Policy& policy, const Pod& pod,
                       const std::string& self_pod_uid) {
  const bool guarded =
      pod.namespace_name == "kube-system" || (!self_pod_uid.empty() && pod.uid == self_pod_uid);
  const std::string full_name = pod.namespace_name + "/" + pod.name;
  for (const policy::Workload& w : policy.workloads)
    if (!w.pod.empty() && discovery::glob_matches(w.pod, full_name)) return {w.name, w.zone, false};
  for (const policy::Zone& z : policy.zones)
    if (selects_pod(z, pod) && (!guarded || lists_namespace(z, pod.namespace_name)))
      return {"", z.name, false};
  if (guarded) return {"", "", true};
  return {"", policy.effective_default_zone(), false};
}

NodePods node_pod_bindings(const policy::Policy& policy, const std::vector<Pod>& pods,
                           const std::string& cgroup2_root, const std::string& kubelet_root,
                           const std::string& self_cgroup, const std::string& self_pod_uid) {
  const std::string mount = normalized(cgroup2_root);
  NodePods out;
  std::vector<PodCgroup> pod_cgroups;
  for (const std::string& candidate : kubepods_candidates(normalized(kubelet_root))) {
    const auto parsed = parse_kubepods_cgroup(candidate);
    const bool is_root = parsed && parsed->kubepods == candidate && parsed->qos.empty();
    if (!is_root || !is_directory(mount + candidate) ||
        std::ranges::find(out.kubepods_dirs, candidate) != out.kubepods_dirs.end())
      continue;
    out.kubepods_dirs.push_back(candidate);
    collect_pods(mount, candidate, pod_cgroups);
  }
  std::ranges::sort(pod_cgroups, {}, &PodCgroup::path);

  std::map<std::string, const Pod*> by_uid;
  for (const Pod& pod : pods) {
    by_uid.emplace(pod.uid, &pod);
    if (!pod.mirror_uid.empty()) by_uid.emplace(pod.mirror_uid, &pod);
  }
  const auto self = parse_kubepods_cgroup(self_cgroup);
  const std::string self_pod = self ? self->pod_cgroup : "";
  bool self_bound = false;

  for (const PodCgroup& pc : pod_cgroups) {
    const std::uint64_t id = cgroup_id(mount, pc.path);
    if (!id) continue;  // removed since the walk saw it
    if (pc.path == self_pod) {
      out.bindings.push_back(exempt_binding(pc.path, id));
      self_bound = true;
      continue;
    }
    const auto it = by_uid.find(pc.uid);
    if (it == by_uid.end()) continue;  // not known yet: the placeholder's, the default zone
    const Pod& pod = *it->second;
    const PodPlacement placement = place_pod(policy, pod, self_pod_uid);
    if (placement.exempt) {
      out.bindings.push_back(exempt_binding(pc.path, id));
      continue;
    }
    if (placement.zone.empty()) continue;  // no selector, no default zone: not under policy
    policy::WorkloadBinding b;
    b.workload = placement.workload;
    b.zone = placement.zone;
    b.cgroup_path = pc.path;
    b.cgroup_id = id;
    b.addresses = addresses_of(pod);
    b.display_name = pod.namespace_name + "/" + pod.name;
    out.bindings.push_back(std::move(b));
  }
  // The agent's own pod, also when it is outside the roots walked (a kubelet_root that does not
  // say where the kubelet put it): the agent never judges itself.
  if (!self_pod.empty() && !self_bound)
    if (const std::uint64_t id = cgroup_id(mount, self_pod))
      out.bindings.push_back(exempt_binding(self_pod, id));

  const std::string default_zone = policy.effective_default_zone();
  if (!default_zone.empty())
    for (const std::string& dir : out.kubepods_dirs) {
      const std::uint64_t id = cgroup_id(mount, dir);
      if (!id) continue;
      policy::WorkloadBinding b;
      b.zone = default_zone;
      b.cgroup_path = dir;
      b.cgroup_id = id;
      b.kind = policy::BindingKind::Placeholder;
      out.bindings.push_back(std::move(b));
    }
  return out;
}

std::vector<policy::WorkloadBinding> remote_pod_bindings(const policy::Policy& policy,
                                                         const std::vector<Pod>& pods,
                                                         const std::string& node_name,
                                                         const std::string& self_pod_uid) {
  std::vector<policy::WorkloadBinding> out;
  for (const Pod& pod : pods) {
    if (pod.node_name == node_name || pod.host_network || pod.phase == "Succeeded" ||
        pod.phase == "Failed")
      continue;
    std::vector<policy::Cidr> addresses = addresses_of(pod);
    if (addresses.empty()) continue;
    const PodPlacement placement = place_pod(policy, pod, self_pod_uid);
    if (placement.exempt || placement.zone.empty()) continue;
    policy::WorkloadBinding b;
    b.workload = placement.workload;
    b.zone = placement.zone;
    b.addresses = std::move(addresses);
    b.kind = policy::BindingKind::Remote;
    b.display_name = pod.namespace_name + "/" + pod.name;
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace guardrail::kubernetes
