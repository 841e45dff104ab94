#include "kube_source.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "guardrail/discovery/discovery.hpp"
#include "guardrail/kubernetes/kubepods.hpp"

namespace guardrail::agent {

KubeSource::KubeSource(KubeOptions options,
                       std::vector<std::unique_ptr<kubernetes::ResourceWatch>> watches,
                       std::string self_cgroup, std::string self_pod_uid)
    : options_(std::move(options)),
      watches_(std::move(watches)),
      self_cgroup_(std::move(self_cgroup)),
      self_pod_uid_(std::move(self_pod_uid)),
      decoded_(std::make_unique<Decoded>()) {}

Result<std::unique_ptr<KubeSource>> KubeSource::start(const KubeOptions& options,
                                                      std::function<void()> changed) {
  auto config = options.kubeconfig.empty() ? kubernetes::in_cluster_config()
                                           : kubernetes::kubeconfig_config(options.kubeconfig);
  if (!config)
    return fail("Kubernetes discovery: " + config.error().message +
                (options.kubeconfig.empty() ? " (outside a pod, pass --kubeconfig)"
                                            : " (check the kubeconfig's current context)"));
  if (options.node_name.empty())
    return fail(
        "Kubernetes discovery needs this node's name: pass --node-name (the DaemonSet sets it "
        "from spec.nodeName)");
  const std::vector<kubernetes::WatchSpec> specs = {
      {.path = "/api/v1/pods", .field_selector = "spec.nodeName=" + options.node_name},
      {.path = "/api/v1/pods"},
      {.path = "/api/v1/services"},
      {.path = "/apis/discovery.k8s.io/v1/endpointslices"},
  };
  std::vector<std::unique_ptr<kubernetes::ResourceWatch>> watches;
  for (const auto& spec : specs) {
    auto watch = kubernetes::ResourceWatch::start(*config, spec, changed);
    if (!watch) return fail("watch " + spec.path + ": " + watch.error().message);
    watches.push_back(std::move(*watch));
  }
  // The agent's own pod: POD_UID from the downward API (the DaemonSet sets it: in a private
  // cgroup namespace the agent's own cgroup path reads "/"), else the pod UID in its cgroup path;
  // empty outside a pod.
  std::string self_cgroup = discovery::cgroup_of(::getpid());
  std::string self_uid;
  if (const char* env = std::getenv("POD_UID"); env && *env)
    self_uid = env;
  else if (auto self = kubernetes::parse_kubepods_cgroup(self_cgroup))
    self_uid = self->pod_uid;
  spdlog::info("Kubernetes discovery: {} as node '{}'{}", config->source, options.node_name,
               self_uid.empty() ? "" : ", the agent's own pod " + self_uid);
  return std::make_unique<KubeSource>(options, std::move(watches), std::move(self_cgroup),
                                      std::move(self_uid));
}

KubeView KubeSource::view() const {
  KubeView v;
  std::lock_guard lock(decoded_->mutex);
  v.node_pods = decoded_->node_pods.update(watches_[0]->snapshot());
  v.all_pods = decoded_->all_pods.update(watches_[1]->snapshot());
  v.services = decoded_->services.update(watches_[2]->snapshot());
  v.slices = decoded_->slices.update(watches_[3]->snapshot());
  v.synced = true;
  const char* names[] = {"this node's pods", "pods", "services", "endpointslices"};
  const char* resources[] = {"node_pods", "pods", "services", "endpointslices"};
  const std::size_t counts[] = {v.node_pods.size(), v.all_pods.size(), v.services.size(),
                                v.slices.size()};
  for (std::size_t i = 0; i < watches_.size(); ++i) {
    const auto status = watches_[i]->status();
    v.synced = v.synced && status.synced;
    if (!status.last_error.empty())
      v.errors.push_back(std::string(names[i]) + ": " + status.last_error);
    v.watches.push_back({resources[i], status, counts[i]});
  }
  return v;
}

bool KubeSource::wait_synced(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool synced = true;
    for (const auto& w : watches_) synced = synced && w->status().synced;
    if (synced) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace guardrail::agent
