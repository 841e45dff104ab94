// Decoding of pods, services and endpoint slices from the API server's JSON. The decoders are
// lenient about everything but identity: a field of the wrong type reads as absent (the API
// server's own objects are well formed; a proxy or a newer version may add or drop fields), while
// an object without its name, or of another kind, is refused. List items carry no `kind` (only
// the list does), so an absent kind is accepted.
#include "guardrail/kubernetes/objects.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <string_view>

#include "json_fields.hpp"

namespace guardrail::kubernetes {
namespace {

using detail::member;
using detail::str;
using nlohmann::json;

std::vector<std::string> strings(const json& list) {
  std::vector<std::string> out;
  if (!list.is_array()) return out;
  for (const json& item : list)
    if (item.is_string() && !item.get<std::string>().empty())
      out.push_back(item.get<std::string>());
  return out;
}

// Label values are strings in the API; anything else is skipped rather than guessed at.
std::map<std::string, std::string> labels_of(const json& metadata) {
  std::map<std::string, std::string> out;
  const json& labels = member(metadata, "labels");
  if (!labels.is_object()) return out;
  for (auto it = labels.begin(); it != labels.end(); ++it)
    if (it->is_string()) out[it.key()] = it->get<std::string>();
  return out;
}

// A port number: 1..65535, else 0 (absent or out of range).
std::uint16_t port_of(const json& v) {
  if (!v.is_number_integer()) return 0;
  const auto n = v.get<std::int64_t>();
  return n >= 1 && n <= 65535 ? std::uint16_t(n) : std::uint16_t{0};
}

std::string protocol_of(const json& port) {
  std::string protocol = str(port, "protocol");
  return protocol.empty() ? "TCP" : protocol;
}

// The name, protocol and number of each port of a list; `more` reads the kind's own fields.
template <typename Port, typename More>
std::vector<Port> ports_of(const json& list, More more) {
  std::vector<Port> out;
  if (!list.is_array()) return out;
  for (const json& p : list) {
    Port port;
    port.name = str(p, "name");
    port.protocol = protocol_of(p);
    port.port = port_of(member(p, "port"));
    more(p, port);
    out.push_back(std::move(port));
  }
  return out;
}

// The object's identity, checked: its kind (when it says one) and metadata.name.
struct Identity {
  std::string namespace_name, name, resource_version;
};

Result<Identity> identity(const json& object, std::string_view kind, bool namespaced) {
  if (!object.is_object())
    return fail(
        fmt::format("Kubernetes {}: expected a JSON object, got {}", kind, object.type_name()));
  const json& k = member(object, "kind");
  if (k.is_string() && k.get<std::string>() != kind)
    return fail(fmt::format("Kubernetes {}: the object is a {}", kind, k.get<std::string>()));
  const json& metadata = member(object, "metadata");
  Identity id{str(metadata, "namespace"), str(metadata, "name"), str(metadata, "resourceVersion")};
  if (id.name.empty())
    return fail(fmt::format("Kubernetes {}: metadata.name is missing (namespace '{}')", kind,
                            id.namespace_name));
  if (namespaced && id.namespace_name.empty())
    return fail(fmt::format("Kubernetes {} {}: metadata.namespace is missing", kind, id.name));
  return id;
}

// A decoded object with its identity (checked) filled in.
template <typename T>
Result<T> named(const json& object, std::string_view kind) {
  auto id = identity(object, kind, true);
  if (!id) return propagate(id);
  T out;
  out.namespace_name = id->namespace_name;
  out.name = id->name;
  out.resource_version = id->resource_version;
  return out;
}

// "containerd://abc" -> {"containerd", "abc"}. An ID without a scheme keeps the whole text as
// the ID (the runtime is then unknown).
void split_container_id(const std::string& id, ContainerStatus& out) {
  const auto sep = id.find("://");
  if (sep == std::string::npos) {
    out.container_id = id;
    return;
  }
  out.runtime = id.substr(0, sep);
  out.container_id = id.substr(sep + 3);
}

void add_statuses(const json& list, std::vector<ContainerStatus>& out) {
  if (!list.is_array()) return;
  for (const json& status : list) {
    ContainerStatus c;
    c.name = str(status, "name");
    split_container_id(str(status, "containerID"), c);
    out.push_back(std::move(c));
  }
}

}  // namespace

Result<Pod> pod_from_json(const json& object) {
  auto pod = named<Pod>(object, "Pod");
  if (!pod) return pod;
  const json& metadata = member(object, "metadata");
  const json& spec = member(object, "spec");
  const json& status = member(object, "status");
  pod->uid = str(metadata, "uid");
  pod->labels = labels_of(metadata);
  // A static pod's mirror names the kubelet's UID for it (the one its cgroup carries).
  pod->mirror_uid = str(member(metadata, "annotations"), "kubernetes.io/config.mirror");
  pod->terminating = !member(metadata, "deletionTimestamp").is_null();
  pod->node_name = str(spec, "nodeName");
  pod->host_network =
      member(spec, "hostNetwork").is_boolean() && member(spec, "hostNetwork").get<bool>();
  pod->phase = str(status, "phase");
  // podIPs is [{"ip": "10.244.1.5"}, {"ip": "fd00::5"}]; older servers set only podIP.
  const json& pod_ips = member(status, "podIPs");
  if (pod_ips.is_array())
    for (const json& entry : pod_ips)
      if (std::string ip = str(entry, "ip"); !ip.empty()) pod->ips.push_back(std::move(ip));
  if (pod->ips.empty())
    if (std::string ip = str(status, "podIP"); !ip.empty()) pod->ips.push_back(std::move(ip));
  add_statuses(member(status, "initContainerStatuses"), pod->containers);
  add_statuses(member(status, "containerStatuses"), pod->containers);
  return pod;
}

Result<Service> service_from_json(const json& object) {
  auto service = named<Service>(object, "Service");
  if (!service) return service;
  const json& spec = member(object, "spec");
  service->type = str(spec, "type");
  if (service->type.empty()) service->type = "ClusterIP";
  service->cluster_ips = strings(member(spec, "clusterIPs"));
  if (service->cluster_ips.empty())
    if (std::string ip = str(spec, "clusterIP"); !ip.empty()) service->cluster_ips.push_back(ip);
  // A headless service's clusterIP is "None": it has no virtual IP to judge connects to.
  std::erase(service->cluster_ips, "None");
  service->ports =
      ports_of<ServicePort>(member(spec, "ports"), [](const json& p, ServicePort& port) {
        const json& target = member(p, "targetPort");
        if (target.is_string())
          port.target_port_name = target.get<std::string>();
        else
          port.target_port = port_of(target);
      });
  return service;
}

Result<EndpointSlice> endpoint_slice_from_json(const json& object) {
  auto slice = named<EndpointSlice>(object, "EndpointSlice");
  if (!slice) return slice;
  const json& metadata = member(object, "metadata");
  slice->service_name = labels_of(metadata)["kubernetes.io/service-name"];
  slice->address_type = str(object, "addressType");
  const json& endpoints = member(object, "endpoints");
  if (endpoints.is_array()) {
    for (const json& e : endpoints) {
      Endpoint endpoint;
      endpoint.addresses = strings(member(e, "addresses"));
      const json& ready = member(member(e, "conditions"), "ready");
      endpoint.ready = !ready.is_boolean() || ready.get<bool>();
      const json& target = member(e, "targetRef");
      if (str(target, "kind") == "Pod") {
        endpoint.pod_namespace = str(target, "namespace");
        if (endpoint.pod_namespace.empty()) endpoint.pod_namespace = slice->namespace_name;
        endpoint.pod_name = str(target, "name");
        endpoint.pod_uid = str(target, "uid");
      }
      slice->endpoints.push_back(std::move(endpoint));
    }
  }
  slice->ports = ports_of<EndpointPort>(member(object, "ports"), [](const json&, EndpointPort&) {});
  return slice;
}

}  // namespace guardrail::kubernetes
