// A client of the Kubernetes API server over HTTPS (libcurl): where it is and how to
// authenticate (in-cluster service account, or a kubeconfig for runs outside the cluster), and
// list/watch of one resource as informers do it (list, then watch from its resourceVersion with
// bookmarks; a fresh list on 410 Gone; reconnect with backoff). The bearer token is read from
// its file again when the file changes (projected service account tokens rotate).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "guardrail/util/result.hpp"

namespace guardrail::kubernetes {

struct ApiConfig {
  std::string server;      // "https://10.96.0.1:443"
  std::string ca_file;     // PEM bundle to verify the server with; empty: ca_pem or system CAs
  std::string ca_pem;      // certificate-authority-data, decoded
  std::string token_file;  // re-read when it changes; empty: token
  std::string token;       // a static token (kubeconfig `token:`)
  std::string client_cert_file, client_key_file;  // kubeconfig client certificates, if any
  std::string client_cert_pem, client_key_pem;
  std::string source;  // where this came from, for messages ("in-cluster", "kubeconfig X")
};

// From KUBERNETES_SERVICE_HOST/PORT and /var/run/secrets/kubernetes.io/serviceaccount (the
// directory can be changed for tests). Fails naming what is missing.
Result<ApiConfig> in_cluster_config(
    const std::string& account_dir = "/var/run/secrets/kubernetes.io/serviceaccount");
// The current context of a kubeconfig file (server, CA, token / tokenFile / client cert).
Result<ApiConfig> kubeconfig_config(const std::string& path);

// One resource kept in sync with the API server: objects by "namespace/name" (by "name" for
// cluster-scoped ones, namespaces). List items get the list's kind and apiVersion filled in.
struct WatchSpec {
  std::string path;            // "/api/v1/pods", "/apis/discovery.k8s.io/v1/endpointslices"
  std::string field_selector;  // "spec.nodeName=node-a", or empty
  std::string label_selector;
  std::chrono::milliseconds backoff_min{200}, backoff_max{10'000};
  int timeout_seconds = 300;  // the watch's timeoutSeconds: the server ends it, we re-watch
};

struct WatchStatus {
  bool synced = false;  // the first list has arrived
  std::string resource_version;
  std::uint64_t lists = 0;  // full lists done (1 + relists after 410 or errors)
  std::uint64_t watch_events = 0, bookmarks = 0, reconnects = 0;
  std::string last_error;  // empty while healthy
};

// The objects of a watch at one moment, "namespace/name" -> object. Copying one copies pointers;
// an object that did not change between two snapshots is the same pointer in both.
using ObjectSnapshot = std::map<std::string, std::shared_ptr<const nlohmann::json>>;

class ResourceWatch {
 public:
  // changed: called on the watch's thread after the set of objects changed (a list or an event).
  static Result<std::unique_ptr<ResourceWatch>> start(ApiConfig config, WatchSpec spec,
                                                      std::function<void()> changed);
  ~ResourceWatch();  // stops the thread, closing the connection
  ResourceWatch(const ResourceWatch&) = delete;
  ResourceWatch& operator=(const ResourceWatch&) = delete;

  std::map<std::string, nlohmann::json> objects() const;  // a deep copy, "namespace/name" -> object
  ObjectSnapshot snapshot() const;                        // the same, sharing the objects
  WatchStatus status() const;

  struct State;  // defined in the implementation
  explicit ResourceWatch(std::shared_ptr<State> state);

 private:
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace guardrail::kubernetes
