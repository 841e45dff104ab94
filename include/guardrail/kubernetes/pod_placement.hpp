// Pods as workload bindings: which zone or named workload a pod belongs to by the policy's
// selectors (namespaces, labels, matchExpressions; workloads' `pod: namespace/name` globs), the
// cgroups of this node's pods found in the kubepods tree, the addresses of pods on other nodes,
// and Services judged by their backends.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "guardrail/kubernetes/objects.hpp"
#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"

namespace guardrail::kubernetes {

struct PodPlacement {
  std::string workload;  // a named workload whose `pod` glob matches, or ""
  std::string zone;      // its zone; "" when the pod is under no policy (exempt)
  bool exempt = false;   // kube-system or the agent's own pod, no selector naming it
};

// A named workload's pod glob ("ns/name-*") first, then the zones in file order (a zone
// selects a pod when its namespaces list names the pod's namespace or is empty, and its labels
// and matchExpressions all hold, at least one of the three being given), then: pods of
// kube-system and the agent's own pod (self_pod_uid) are exempt; every other pod is in the
// default zone (fail closed; zone "" without one). Those two are only taken by a selector that
// names them: a workload glob matching them, or a zone whose namespaces list has their
// namespace (a zone selecting every namespace by labels alone leaves them exempt).
PodPlacement place_pod(const policy::Policy& policy, const Pod& pod,
                       const std::string& self_pod_uid);

struct NodePods {
  std::vector<policy::WorkloadBinding> bindings;
  std::vector<std::string> kubepods_dirs;  // relative paths of the kubepods roots found
};

// This node's pods: every pod cgroup in the kubepods tree(s) below kubelet_root (relative to
// cgroup2_root) becomes a binding of its pod (placed by place_pod; BindingKind::Exempt for an
// exempt pod) with the pod's IPs (not for hostNetwork pods). A pod cgroup with no pod known yet
// is left to the placeholder: each kubepods root is bound as a Placeholder of the default zone,
// so a pod is judged as the default zone from its first instruction until identified. The
// agent's own pod (from /proc/self/cgroup, self_cgroup) is Exempt always, even before its
// metadata arrives and whatever selects it. Pods are matched to cgroups by UID (a static pod's
// by its mirror_uid). Exempt bindings carry no addresses (an exempt pod on another node is not
// known by address either). Anonymous members have display_name "namespace/name". Bindings
// come in path order, the placeholders last; a pod cgroup gone during the walk is skipped.
NodePods node_pod_bindings(const policy::Policy& policy, const std::vector<Pod>& pods,
                           const std::string& cgroup2_root, const std::string& kubelet_root,
                           const std::string& self_cgroup, const std::string& self_pod_uid);

// Pods on other nodes that the policy places in a zone or workload: BindingKind::Remote
// bindings (no cgroup), carrying their IPs, so traffic to them is judged by who they are.
// Pods the default zone takes are included (fail closed); exempt pods, hostNetwork pods (their
// IPs are their node's), pods without IPs and finished pods (Succeeded, Failed) are not, nor
// pods of node_name (node_pod_bindings binds those). display_name is "namespace/name".
std::vector<policy::WorkloadBinding> remote_pod_bindings(const policy::Policy& policy,
                                                         const std::vector<Pod>& pods,
                                                         const std::string& node_name,
                                                         const std::string& self_pod_uid);

// Services: each ClusterIP, port and protocol with its backends' addresses and the port they
// listen on (targetPort, a name resolved through the slices' ports). Headless services and
// ExternalName services give none. Backends are the ready endpoints of the service's slices
// of the cluster IP's family (dual-stack services: one binding per family). An EndpointSlice
// port is named after the service port and holds the resolved target port; a named targetPort
// that resolves to different numbers on different pods (they are then in different slices)
// gives one binding per number, each with its own backends. A port without ready backends
// still gives a binding, with none.
std::vector<policy::ServiceBinding> service_bindings(const std::vector<Service>& services,
                                                     const std::vector<EndpointSlice>& slices);

}  // namespace guardrail::kubernetes
