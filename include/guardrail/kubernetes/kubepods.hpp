// Where the kubelet puts pods in the cgroup v2 tree, for both cgroup drivers, every QoS class
// and the runtimes' container naming:
//   cgroupfs: <root>/kubepods[/burstable|/besteffort]/pod<uid>[/<container id>]
//   systemd:
//   <root>/kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid_with_underscores>.slice
//             [/cri-containerd-<id>.scope | /crio-<id>.scope | /docker-<id>.scope]
// <root> is the kubelet's --cgroup-root ("/" usually; on a kind node, whatever the node's
// cgroup namespace puts above it). Guaranteed pods sit directly under kubepods. With systemd a
// --cgroup-root of its own renames kubepods after it: kind's `cgroupRoot: /kubelet` gives
//   /kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/
//   kubelet-kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope
// cgroupfs containers are named by their bare id (containerd, cri-dockerd) or crio-<id>.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace guardrail::kubernetes {

enum class CgroupDriver { Cgroupfs, Systemd };

struct KubepodsCgroup {
  CgroupDriver driver = CgroupDriver::Cgroupfs;
  std::string prefix;      // the path above kubepods ("" or "/kind-node/..."), no trailing '/'
  std::string kubepods;    // the kubepods directory's path ("/kubepods.slice")
  std::string qos;         // "guaranteed", "burstable", "besteffort"; "" for kubepods itself
  std::string pod_uid;     // with dashes, as the API server spells it; "" above pod level
  std::string pod_cgroup;  // the pod's directory path; "" above pod level
  // The container's id (runtime prefix and .scope removed, 64 hex digits), or "". Empty too for
  // CRI-O's crio-conmon-<id>[.scope]: the container's monitor process, which is the pod's
  // (runtime "cri-o"), not the container's.
  std::string container_id;
  // "containerd", "cri-o", "docker" (from the scope prefix), or "" (above container level, or a
  // cgroupfs container named by its bare id, which containerd and cri-dockerd both do).
  std::string runtime;
};

// Parses a cgroup path (relative to the cgroup2 mount). The first component that is a kubepods
// root counts (cgroupfs `kubepods`; systemd `kubepods.slice`, or `<p>-kubepods.slice` right below
// `<p>.slice`). nullopt when there is none, or when a component below kubepods down to the
// container is not what the kubelet and the runtimes make (a stray directory: not a QoS slice,
// not pod<uid>, not a container). Below a container anything goes: the container's own
// sub-cgroups are still that container's.
std::optional<KubepodsCgroup> parse_kubepods_cgroup(std::string_view path);

}  // namespace guardrail::kubernetes
