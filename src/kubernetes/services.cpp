// Services as ServiceBindings (see pod_placement.hpp): each cluster IP and port with the ready
// backends of its EndpointSlices and the port they listen on.
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "guardrail/kubernetes/pod_placement.hpp"

namespace guardrail::kubernetes {
namespace {

std::optional<std::uint8_t> protocol_number(const std::string& protocol) {
  if (protocol == "TCP") return 6;
  if (protocol == "UDP") return 17;
  if (protocol == "SCTP") return 132;
  return std::nullopt;
}

bool has_cluster_ip(const std::string& type) {
  // ClusterIP is the API server's default; NodePort and LoadBalancer services have one too.
  return type.empty() || type == "ClusterIP" || type == "NodePort" || type == "LoadBalancer";
}

int family_of(const std::string& address_type) {
  if (address_type == "IPv4") return AF_INET;
  if (address_type == "IPv6") return AF_INET6;
  return 0;  // FQDN slices name no address
}

// The port a slice's endpoints listen on for `port`: the slice port named after the service
// port (with its protocol) holds the resolved targetPort; else the service's own numbers.
std::uint16_t target_port_in(const EndpointSlice& slice, const ServicePort& port) {
  for (const EndpointPort& p : slice.ports)
    if (p.name == port.name && p.protocol == port.protocol && p.port != 0) return p.port;
  return port.target_port != 0 ? port.target_port : port.port;
}

void add_backends(const EndpointSlice& slice, std::vector<policy::Cidr>& out) {
  for (const Endpoint& e : slice.endpoints) {
    if (!e.ready) continue;
    for (const std::string& address : e.addresses) {
      auto cidr = policy::parse_cidr(address);
      if (cidr && std::ranges::find(out, *cidr) == out.end()) out.push_back(std::move(*cidr));
    }
  }
}

}  // namespace

std::vector<policy::ServiceBinding> service_bindings(const std::vector<Service>& services,
                                                     const std::vector<EndpointSlice>& slices) {
  std::vector<policy::ServiceBinding> out;
  for (const Service& service : services) {
    if (!has_cluster_ip(service.type)) continue;
    std::vector<const EndpointSlice*> own;
    for (const EndpointSlice& slice : slices)
      if (slice.namespace_name == service.namespace_name && slice.service_name == service.name)
        own.push_back(&slice);
    for (const std::string& ip : service.cluster_ips) {
      if (ip.empty() || ip == "None") continue;  // headless
      const auto cluster_ip = policy::parse_cidr(ip);
      if (!cluster_ip) continue;
      for (const ServicePort& port : service.ports) {
        const auto protocol = protocol_number(port.protocol);
        if (!protocol) continue;
        // Backends by the port they listen on; a port no slice resolves keeps its own number.
        std::map<std::uint16_t, std::vector<policy::Cidr>> by_target;
        for (const EndpointSlice* slice : own) {
          if (family_of(slice->address_type) != cluster_ip->family) continue;
          auto& backends = by_target[target_port_in(*slice, port)];
          add_backends(*slice, backends);
        }
        // A slice whose endpoints are all unready names a target no backend serves now.
        const bool any_ready =
            std::ranges::any_of(by_target, [](const auto& entry) { return !entry.second.empty(); });
        if (any_ready)
          std::erase_if(by_target, [](const auto& entry) { return entry.second.empty(); });
        if (by_target.empty()) by_target[port.target_port != 0 ? port.target_port : port.port];
        for (auto& [target, backends] : by_target) {
          policy::ServiceBinding b;
          b.service = service.namespace_name + "/" + service.name;
          b.cluster_ip = *cluster_ip;
          b.protocol = *protocol;
          b.port = port.port;
          b.target_port = target;
          b.backends = std::move(backends);
          out.push_back(std::move(b));
        }
      }
    }
  }
  return out;
}

}  // namespace guardrail::kubernetes
