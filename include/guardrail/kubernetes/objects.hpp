// The parts of Kubernetes API objects the agent uses (pods, services, endpoint slices), decoded
// from the API server's JSON. Everything else in an object is ignored.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "guardrail/util/result.hpp"

namespace guardrail::kubernetes {

struct ContainerStatus {
  std::string name;
  std::string runtime;       // "containerd", "cri-o", "docker" (the containerID's scheme)
  std::string container_id;  // without the "<runtime>://" prefix; empty until it has started
};

struct Pod {
  std::string uid;
  // A static pod's mirror: annotation kubernetes.io/config.mirror, the UID the kubelet gave the
  // static pod (its config hash) and named its cgroup after; metadata.uid is the mirror's own.
  std::string mirror_uid;
  std::string namespace_name;
  std::string name;
  std::string node_name;  // spec.nodeName; empty while unscheduled
  std::map<std::string, std::string> labels;
  std::vector<std::string> ips;             // status.podIPs (status.podIP when absent)
  bool host_network = false;                // spec.hostNetwork: its IPs are the node's
  std::string phase;                        // status.phase
  bool terminating = false;                 // metadata.deletionTimestamp is set
  std::vector<ContainerStatus> containers;  // status.containerStatuses + initContainerStatuses
  std::string resource_version;
};

struct ServicePort {
  std::string name;
  std::string protocol = "TCP";  // TCP, UDP, SCTP
  std::uint16_t port = 0;
  // spec.ports[].targetPort: a number, or the name of a container port (resolved through the
  // EndpointSlices' ports); both empty/0 means "same as port".
  std::uint16_t target_port = 0;
  std::string target_port_name;
};

struct Service {
  std::string namespace_name;
  std::string name;
  std::string type;                      // ClusterIP, NodePort, LoadBalancer, ExternalName
  std::vector<std::string> cluster_ips;  // spec.clusterIPs (spec.clusterIP); "None" dropped
  std::vector<ServicePort> ports;
  std::string resource_version;
};

struct EndpointPort {
  std::string name;
  std::string protocol = "TCP";
  std::uint16_t port = 0;
};

struct Endpoint {
  std::vector<std::string> addresses;
  bool ready = true;          // conditions.ready (absent means ready)
  std::string pod_namespace;  // targetRef of kind Pod, when given
  std::string pod_name;
  std::string pod_uid;
};

struct EndpointSlice {
  std::string namespace_name;
  std::string name;
  std::string service_name;  // label kubernetes.io/service-name
  std::string address_type;  // IPv4, IPv6, FQDN
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;
  std::string resource_version;
};

// Decoders: fail (naming the field) on an object that is not of the kind or lacks its name.
Result<Pod> pod_from_json(const nlohmann::json& object);
Result<Service> service_from_json(const nlohmann::json& object);
Result<EndpointSlice> endpoint_slice_from_json(const nlohmann::json& object);

}  // namespace guardrail::kubernetes
