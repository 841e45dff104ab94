// Where the kubelet puts pods in the cgroup v2 tree, for both cgroup drivers, every QoS class
// and the runtimes' container naming:
//   cgroupfs: <root>/kubepods[/burstable|/besteffort]/pod<uid>[/<container id>]
//   systemd:  <root>/kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid_with_underscores>.slice
//             [/cri-containerd-<id>.scope | /crio-<id>.scope | /docker-<id>.scope]
// <root> is the kubelet's --cgroup-root ("/" usually; on a kind node, whatever the node's
// cgroup namespace puts above it). Guaranteed pods sit directly under kubepods.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace guardrail::kubernetes {

enum class CgroupDriver { Cgroupfs, Systemd };

struct KubepodsCgroup {
  CgroupDriver driver = CgroupDriver::Cgroupfs;
  std::string prefix;        // the path above kubepods ("" or "/kind-node/..."), no trailing '/'
  std::string kubepods;      // the kubepods directory's path ("/kubepods.slice")
  std::string qos;           // "guaranteed", "burstable", "besteffort"; "" for kubepods itself
  std::string pod_uid;       // with dashes, as the API server spells it; "" above pod level
  std::string pod_cgroup;    // the pod's directory path; "" above pod level
  std::string container_id;  // the container's id (runtime prefix and .scope removed), or ""
  std::string runtime;       // "containerd", "cri-o", "docker" (from the scope prefix), or ""
};

// Parses a cgroup path (relative to the cgroup2 mount). nullopt when no kubepods component is
// in it, or when a component below kubepods is not what the kubelet makes (a stray directory).
std::optional<KubepodsCgroup> parse_kubepods_cgroup(std::string_view path);

}  // namespace guardrail::kubernetes
