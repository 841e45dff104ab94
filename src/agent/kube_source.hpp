// Kubernetes discovery for the agent: the API server's pods (this node's, and the cluster's for
// identities), Services and EndpointSlices, kept in sync by watches, turned into bindings at each
// scan.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "guardrail/kubernetes/api_client.hpp"
#include "guardrail/kubernetes/decoded_objects.hpp"
#include "guardrail/kubernetes/objects.hpp"
#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail::agent {

struct KubeOptions {
  std::string kubeconfig;    // empty: the in-cluster service account
  std::string node_name;     // the pods bound here are those with spec.nodeName == node_name
  std::string kubelet_root;  // the kubelet's --cgroup-root, relative to the cgroup2 mount
};

struct WatchReport {
  std::string resource;  // "node_pods", "pods", "services", "endpointslices"
  kubernetes::WatchStatus status;
  std::size_t objects = 0;
};

// What the API server told, at one moment.
struct KubeView {
  std::vector<kubernetes::Pod> node_pods;  // spec.nodeName == this node
  std::vector<kubernetes::Pod> all_pods;
  std::vector<kubernetes::Service> services;
  std::vector<kubernetes::EndpointSlice> slices;
  bool synced = false;              // every watch has had its first list
  std::vector<std::string> errors;  // each failing watch's last error, named
  std::vector<WatchReport> watches;
};

class KubeSource {
 public:
  // changed: called (on a watch thread) whenever any watched set changed.
  static Result<std::unique_ptr<KubeSource>> start(const KubeOptions& options,
                                                   std::function<void()> changed);
  KubeView view() const;
  const KubeOptions& options() const { return options_; }
  std::string self_pod_uid() const { return self_pod_uid_; }
  // The agent's own cgroup path as its /proc/self/cgroup reads (read once: it does not move).
  const std::string& self_cgroup() const { return self_cgroup_; }
  // Blocks until every watch listed once, or the timeout passed; true when synced.
  bool wait_synced(std::chrono::milliseconds timeout) const;

  KubeSource(KubeOptions options, std::vector<std::unique_ptr<kubernetes::ResourceWatch>> watches,
             std::string self_cgroup, std::string self_pod_uid);

 private:
  KubeOptions options_;
  // node pods, all pods, services, endpoint slices (in that order)
  std::vector<std::unique_ptr<kubernetes::ResourceWatch>> watches_;
  std::string self_cgroup_;
  std::string self_pod_uid_;
  // What view() decoded last, per watch: a scan decodes only the objects that changed since.
  struct Decoded {
    std::mutex mutex;
    kubernetes::DecodedObjects<kubernetes::Pod> node_pods{&kubernetes::pod_from_json, "pod"};
    kubernetes::DecodedObjects<kubernetes::Pod> all_pods{&kubernetes::pod_from_json, "pod"};
    kubernetes::DecodedObjects<kubernetes::Service> services{&kubernetes::service_from_json,
                                                             "service"};
    kubernetes::DecodedObjects<kubernetes::EndpointSlice> slices{
        &kubernetes::endpoint_slice_from_json, "endpointslice"};
  };
  std::unique_ptr<Decoded> decoded_;
};

}  // namespace guardrail::agent
