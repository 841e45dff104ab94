// The decoders of pods, services and endpoint slices, on objects shaped as the API server sends
// them (list items without kind, watch objects with it).
#include "guardrail/kubernetes/objects.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace guardrail::kubernetes {
namespace {

using nlohmann::json;

json realistic_pod() {
  return json::parse(R"({
    "kind": "Pod", "apiVersion": "v1",
    "metadata": {"name": "web-7d9f", "namespace": "shop", "uid": "5f0c-11",
                 "resourceVersion": "4711", "labels": {"app": "web", "tier": "front"},
                 "ownerReferences": [{"kind": "ReplicaSet", "name": "web"}]},
    "spec": {"nodeName": "node-a", "containers": [{"name": "web", "image": "nginx"}]},
    "status": {"phase": "Running", "podIP": "10.244.1.5",
               "podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00:10:244:1::5"}],
               "initContainerStatuses": [{"name": "init", "containerID": "cri-o://0123"}],
               "containerStatuses": [
                 {"name": "web", "containerID": "containerd://abc", "ready": true},
                 {"name": "side", "containerID": "docker://def"},
                 {"name": "pending", "state": {"waiting": {"reason": "ContainerCreating"}}}]}
  })");
}

TEST(PodFromJson, DecodesEveryField) {
  auto pod = pod_from_json(realistic_pod());
  ASSERT_TRUE(pod) << pod.error().message;
  EXPECT_EQ(pod->uid, "5f0c-11");
  EXPECT_EQ(pod->namespace_name, "shop");
  EXPECT_EQ(pod->name, "web-7d9f");
  EXPECT_EQ(pod->node_name, "node-a");
  EXPECT_EQ(pod->labels, (std::map<std::string, std::string>{{"app", "web"}, {"tier", "front"}}));
  EXPECT_EQ(pod->ips, (std::vector<std::string>{"10.244.1.5", "fd00:10:244:1::5"}));
  EXPECT_FALSE(pod->host_network);
  EXPECT_EQ(pod->phase, "Running");
  EXPECT_FALSE(pod->terminating);
  EXPECT_EQ(pod->resource_version, "4711");
  ASSERT_EQ(pod->containers.size(), 4u);
  // Init containers first, then the app containers, each with its runtime split off.
  EXPECT_EQ(pod->containers[0].name, "init");
  EXPECT_EQ(pod->containers[0].runtime, "cri-o");
  EXPECT_EQ(pod->containers[0].container_id, "0123");
  EXPECT_EQ(pod->containers[1].runtime, "containerd");
  EXPECT_EQ(pod->containers[1].container_id, "abc");
  EXPECT_EQ(pod->containers[2].runtime, "docker");
  EXPECT_EQ(pod->containers[2].container_id, "def");
  // Not started yet: no ID at all.
  EXPECT_EQ(pod->containers[3].name, "pending");
  EXPECT_EQ(pod->containers[3].runtime, "");
  EXPECT_EQ(pod->containers[3].container_id, "");
}

TEST(PodFromJson, AStaticPodsMirrorCarriesTheKubeletsUid) {
  json j = realistic_pod();
  EXPECT_EQ(pod_from_json(j)->mirror_uid, "");
  j["metadata"]["annotations"] = {
      {"kubernetes.io/config.mirror", "1e5c0d3b7f2a4c6e9b8d0a1f2e3d4c5b"}};
  auto pod = pod_from_json(j);
  ASSERT_TRUE(pod) << pod.error().message;
  EXPECT_EQ(pod->mirror_uid, "1e5c0d3b7f2a4c6e9b8d0a1f2e3d4c5b");
  EXPECT_EQ(pod->uid, "5f0c-11");
}

TEST(PodFromJson, FallsBackToPodIpAndReadsHostNetworkAndDeletion) {
  json j = realistic_pod();
  j["status"].erase("podIPs");
  j["spec"]["hostNetwork"] = true;
  j["metadata"]["deletionTimestamp"] = "2026-12-02T10:00:00Z";
  auto pod = pod_from_json(j);
  ASSERT_TRUE(pod) << pod.error().message;
  EXPECT_EQ(pod->ips, std::vector<std::string>{"10.244.1.5"});
  EXPECT_TRUE(pod->host_network);
  EXPECT_TRUE(pod->terminating);
}

TEST(PodFromJson, AListItemWithoutKindAndAPendingPodDecode) {
  // List items carry no kind; an unscheduled pod has no node, IPs or statuses yet.
  auto pod = pod_from_json(json::parse(
      R"({"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Pending"}})"));
  ASSERT_TRUE(pod) << pod.error().message;
  EXPECT_EQ(pod->node_name, "");
  EXPECT_TRUE(pod->ips.empty());
  EXPECT_TRUE(pod->containers.empty());
  EXPECT_TRUE(pod->labels.empty());
  EXPECT_EQ(pod->phase, "Pending");
}

TEST(PodFromJson, RefusesOtherKindsAndNamelessObjects) {
  auto other = pod_from_json(
      json::parse(R"({"kind": "Service", "metadata": {"name": "s", "namespace": "n"}})"));
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("Service"), std::string::npos) << other.error().message;
  auto nameless = pod_from_json(json::parse(R"({"kind": "Pod", "metadata": {"namespace": "n"}})"));
  ASSERT_FALSE(nameless);
  EXPECT_NE(nameless.error().message.find("metadata.name"), std::string::npos);
  auto no_namespace = pod_from_json(json::parse(R"({"metadata": {"name": "p"}})"));
  ASSERT_FALSE(no_namespace);
  EXPECT_NE(no_namespace.error().message.find("metadata.namespace"), std::string::npos);
  EXPECT_FALSE(pod_from_json(json::array()));
  EXPECT_FALSE(pod_from_json(json("pod")));
}

TEST(PodFromJson, WrongTypedFieldsReadAsAbsent) {
  auto pod = pod_from_json(json::parse(R"({
    "metadata": {"name": "p", "namespace": "n", "labels": {"ok": "v", "num": 3}},
    "spec": {"nodeName": 7, "hostNetwork": "yes"},
    "status": {"podIPs": "10.0.0.1", "podIP": "10.0.0.2", "containerStatuses": {"x": 1}}})"));
  ASSERT_TRUE(pod) << pod.error().message;
  EXPECT_EQ(pod->labels, (std::map<std::string, std::string>{{"ok", "v"}}));
  EXPECT_EQ(pod->node_name, "");
  EXPECT_FALSE(pod->host_network);
  EXPECT_EQ(pod->ips, std::vector<std::string>{"10.0.0.2"});
  EXPECT_TRUE(pod->containers.empty());
}

TEST(ServiceFromJson, DecodesPortsWithNumberAndNamedTargets) {
  auto service = service_from_json(json::parse(R"({
    "kind": "Service", "apiVersion": "v1",
    "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "9"},
    "spec": {"type": "NodePort", "clusterIP": "10.96.4.2", "clusterIPs": ["10.96.4.2", "fd00::4:2"],
             "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080},
                       {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": "dns-port"},
                       {"port": 9000}]}})"));
  ASSERT_TRUE(service) << service.error().message;
  EXPECT_EQ(service->namespace_name, "shop");
  EXPECT_EQ(service->name, "web");
  EXPECT_EQ(service->type, "NodePort");
  EXPECT_EQ(service->resource_version, "9");
  EXPECT_EQ(service->cluster_ips, (std::vector<std::string>{"10.96.4.2", "fd00::4:2"}));
  ASSERT_EQ(service->ports.size(), 3u);
  EXPECT_EQ(service->ports[0].name, "http");
  EXPECT_EQ(service->ports[0].protocol, "TCP");
  EXPECT_EQ(service->ports[0].port, 80);
  EXPECT_EQ(service->ports[0].target_port, 8080);
  EXPECT_EQ(service->ports[0].target_port_name, "");
  EXPECT_EQ(service->ports[1].protocol, "UDP");
  EXPECT_EQ(service->ports[1].target_port, 0);
  EXPECT_EQ(service->ports[1].target_port_name, "dns-port");
  // No targetPort: both empty, meaning "the same as port".
  EXPECT_EQ(service->ports[2].port, 9000);
  EXPECT_EQ(service->ports[2].target_port, 0);
  EXPECT_EQ(service->ports[2].target_port_name, "");
}

TEST(ServiceFromJson, HeadlessDropsNoneAndOldServersGiveClusterIpOnly) {
  auto headless = service_from_json(json::parse(R"({"metadata": {"name": "db", "namespace": "n"},
    "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}]}})"));
  ASSERT_TRUE(headless) << headless.error().message;
  EXPECT_TRUE(headless->cluster_ips.empty());
  EXPECT_EQ(headless->type, "ClusterIP");  // the API's default
  auto old = service_from_json(json::parse(
      R"({"metadata": {"name": "a", "namespace": "n"}, "spec": {"clusterIP": "10.96.0.10"}})"));
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->cluster_ips, std::vector<std::string>{"10.96.0.10"});
}

TEST(ServiceFromJson, OutOfRangePortsReadAsZeroAndKindIsChecked) {
  auto service = service_from_json(json::parse(R"({"metadata": {"name": "a", "namespace": "n"},
    "spec": {"ports": [{"port": 70000, "targetPort": -1}]}})"));
  ASSERT_TRUE(service) << service.error().message;
  ASSERT_EQ(service->ports.size(), 1u);
  EXPECT_EQ(service->ports[0].port, 0);
  EXPECT_EQ(service->ports[0].target_port, 0);
  EXPECT_FALSE(service_from_json(
      json::parse(R"({"kind": "Pod", "metadata": {"name": "a", "namespace": "n"}})")));
  EXPECT_FALSE(service_from_json(json::parse(R"({"metadata": {"namespace": "n"}})")));
}

TEST(EndpointSliceFromJson, DecodesEndpointsConditionsTargetsAndPorts) {
  auto slice = endpoint_slice_from_json(json::parse(R"({
    "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
    "metadata": {"name": "web-abc12", "namespace": "shop", "resourceVersion": "77",
                 "labels": {"kubernetes.io/service-name": "web",
                            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
    "addressType": "IPv4",
    "endpoints": [
      {"addresses": ["10.244.1.5"], "conditions": {"ready": true, "serving": true},
       "nodeName": "node-a",
       "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-7d9f", "uid": "5f0c-11"}},
      {"addresses": ["10.244.2.9"], "conditions": {"ready": false},
       "targetRef": {"kind": "Pod", "name": "web-2", "uid": "u2"}},
      {"addresses": ["10.0.0.50"], "conditions": {},
       "targetRef": {"kind": "Node", "name": "node-b"}}],
    "ports": [{"name": "http", "protocol": "TCP", "port": 8080}, {"port": 53, "protocol": "UDP"}]
  })"));
  ASSERT_TRUE(slice) << slice.error().message;
  EXPECT_EQ(slice->namespace_name, "shop");
  EXPECT_EQ(slice->name, "web-abc12");
  EXPECT_EQ(slice->service_name, "web");
  EXPECT_EQ(slice->address_type, "IPv4");
  EXPECT_EQ(slice->resource_version, "77");
  ASSERT_EQ(slice->endpoints.size(), 3u);
  EXPECT_EQ(slice->endpoints[0].addresses, std::vector<std::string>{"10.244.1.5"});
  EXPECT_TRUE(slice->endpoints[0].ready);
  EXPECT_EQ(slice->endpoints[0].pod_namespace, "shop");
  EXPECT_EQ(slice->endpoints[0].pod_name, "web-7d9f");
  EXPECT_EQ(slice->endpoints[0].pod_uid, "5f0c-11");
  EXPECT_FALSE(slice->endpoints[1].ready);
  // A targetRef without namespace is in the slice's namespace.
  EXPECT_EQ(slice->endpoints[1].pod_namespace, "shop");
  EXPECT_EQ(slice->endpoints[1].pod_name, "web-2");
  // ready absent means ready; a Node target is no pod.
  EXPECT_TRUE(slice->endpoints[2].ready);
  EXPECT_EQ(slice->endpoints[2].pod_name, "");
  EXPECT_EQ(slice->endpoints[2].pod_uid, "");
  ASSERT_EQ(slice->ports.size(), 2u);
  EXPECT_EQ(slice->ports[0].name, "http");
  EXPECT_EQ(slice->ports[0].port, 8080);
  EXPECT_EQ(slice->ports[1].protocol, "UDP");
  EXPECT_EQ(slice->ports[1].port, 53);
}

TEST(EndpointSliceFromJson, NoEndpointsNoLabelAndNoConditions) {
  auto slice = endpoint_slice_from_json(json::parse(R"({"metadata": {"name": "s", "namespace": "n"},
    "addressType": "IPv6", "endpoints": [{"addresses": ["fd00::1"]}], "ports": null})"));
  ASSERT_TRUE(slice) << slice.error().message;
  EXPECT_EQ(slice->service_name, "");
  ASSERT_EQ(slice->endpoints.size(), 1u);
  EXPECT_TRUE(slice->endpoints[0].ready);
  EXPECT_TRUE(slice->ports.empty());
  EXPECT_FALSE(endpoint_slice_from_json(
      json::parse(R"({"kind": "Endpoints", "metadata": {"name": "s", "namespace": "n"}})")));
}

}  // namespace
}  // namespace guardrail::kubernetes
