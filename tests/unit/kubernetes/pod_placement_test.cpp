// Pods placed by the policy's selectors, this node's pod cgroups (a directory tree stands in for
// the cgroup2 mount: the code only walks and stats it), pods on other nodes, and Services.
#include "guardrail/kubernetes/pod_placement.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "testing/temp_dir.hpp"

namespace guardrail::kubernetes {
namespace {

namespace fs = std::filesystem;
using policy::BindingKind;
using policy::LabelExpression;
using Op = LabelExpression::Op;

Pod pod(const std::string& ns, const std::string& name, std::map<std::string, std::string> labels,
        const std::string& uid = "", std::vector<std::string> ips = {}) {
  Pod p;
  p.namespace_name = ns;
  p.name = name;
  p.labels = std::move(labels);
  p.uid = uid.empty() ? ns + "-" + name : uid;
  p.ips = std::move(ips);
  p.phase = "Running";
  return p;
}

policy::Zone zone(const std::string& name) {
  policy::Zone z;
  z.name = name;
  return z;
}

// Zones in file order: web (prod, app=web), tiered (tier In (front, back)), ops (namespaces
// monitoring and kube-system), sandbox (the default zone, by its name).
policy::Policy sample_policy() {
  policy::Policy p;
  p.name = "t";
  policy::Zone web = zone("web");
  web.namespaces = {"prod"};
  web.match_labels = {{"app", "web"}};
  policy::Zone tiered = zone("tiered");
  tiered.match_expressions = {{"tier", Op::In, {"front", "back"}}};
  policy::Zone ops = zone("ops");
  ops.namespaces = {"monitoring", "kube-system"};
  ops.match_expressions = {{"k8s-app", Op::NotIn, {"kube-dns"}}};
  policy::Zone sandbox = zone("agent-sandbox");
  sandbox.cgroup_globs = {"/guardrail/agents/*"};  // selects no pod
  p.zones = {web, tiered, ops, sandbox};
  policy::Workload api;
  api.name = "api";
  api.zone = "web";
  api.pod = "prod/api-*";
  p.workloads = {api};
  return p;
}

// ---- label selectors --------------------------------------------------------------------------

TEST(PodSelectors, EachOperator) {
  const std::map<std::string, std::string> labels = {{"app", "web"}, {"tier", "front"}};
  EXPECT_TRUE((LabelExpression{"tier", Op::In, {"back", "front"}}).matches(labels));
  EXPECT_FALSE((LabelExpression{"tier", Op::In, {"back"}}).matches(labels));
  EXPECT_FALSE((LabelExpression{"missing", Op::In, {"front"}}).matches(labels));
  EXPECT_TRUE((LabelExpression{"tier", Op::NotIn, {"back"}}).matches(labels));
  EXPECT_FALSE((LabelExpression{"tier", Op::NotIn, {"front"}}).matches(labels));
  EXPECT_TRUE((LabelExpression{"missing", Op::NotIn, {"front"}}).matches(labels))
      << "NotIn holds for an absent key";
  EXPECT_TRUE((LabelExpression{"app", Op::Exists, {}}).matches(labels));
  EXPECT_FALSE((LabelExpression{"missing", Op::Exists, {}}).matches(labels));
  EXPECT_TRUE((LabelExpression{"missing", Op::DoesNotExist, {}}).matches(labels));
  EXPECT_FALSE((LabelExpression{"app", Op::DoesNotExist, {}}).matches(labels));
}

TEST(PodSelectors, LabelsAndExpressionsMustAllHold) {
  policy::Policy p;
  policy::Zone z = zone("z");
  z.match_labels = {{"app", "web"}};
  z.match_expressions = {{"tier", Op::Exists, {}}, {"debug", Op::DoesNotExist, {}}};
  p.zones = {z};
  EXPECT_EQ(place_pod(p, pod("a", "p", {{"app", "web"}, {"tier", "x"}}), "").zone, "z");
  EXPECT_EQ(place_pod(p, pod("a", "p", {{"app", "web"}}), "").zone, "");
  EXPECT_EQ(place_pod(p, pod("a", "p", {{"app", "api"}, {"tier", "x"}}), "").zone, "");
  EXPECT_EQ(place_pod(p, pod("a", "p", {{"app", "web"}, {"tier", "x"}, {"debug", "1"}}), "").zone,
            "");
}

TEST(PodSelectors, NamespacesAloneSelectTheirPods) {
  policy::Policy p;
  policy::Zone z = zone("z");
  z.namespaces = {"prod", "staging"};
  p.zones = {z};
  EXPECT_EQ(place_pod(p, pod("staging", "p", {}), "").zone, "z");
  EXPECT_EQ(place_pod(p, pod("dev", "p", {}), "").zone, "");
}

TEST(PodSelectors, ZoneWithoutPodSelectorsSelectsNoPod) {
  policy::Policy p;
  policy::Zone z = zone("z");
  z.cgroup_globs = {"/kubepods/*"};
  z.name_globs = {"*"};
  z.image_globs = {"*"};
  p.zones = {z};
  const PodPlacement placed = place_pod(p, pod("a", "p", {{"app", "web"}}), "");
  EXPECT_EQ(placed.zone, "");
  EXPECT_FALSE(placed.exempt);
}

// ---- precedence -------------------------------------------------------------------------------

TEST(PodPlacement, WorkloadGlobFirstThenZonesInFileOrder) {
  const policy::Policy p = sample_policy();
  // api-1 in prod: the workload's glob, though the zone web would select it too.
  const PodPlacement api = place_pod(p, pod("prod", "api-1", {{"app", "web"}}), "");
  EXPECT_EQ(api.workload, "api");
  EXPECT_EQ(api.zone, "web");
  // A pod both web and tiered select: web comes first in the file.
  const PodPlacement both = place_pod(p, pod("prod", "w", {{"app", "web"}, {"tier", "back"}}), "");
  EXPECT_EQ(both.workload, "");
  EXPECT_EQ(both.zone, "web");
  EXPECT_EQ(place_pod(p, pod("dev", "w", {{"app", "web"}, {"tier", "back"}}), "").zone, "tiered");
  // The glob's namespace part is matched too, and '*' does not cross '/'.
  EXPECT_EQ(place_pod(p, pod("staging", "api-1", {}), "").workload, "");
}

TEST(PodPlacement, EveryOtherPodIsInTheDefaultZone) {
  policy::Policy p = sample_policy();
  const PodPlacement other = place_pod(p, pod("dev", "x", {}), "");
  EXPECT_EQ(other.zone, "agent-sandbox");  // implied by the zone's name
  EXPECT_FALSE(other.exempt);
  p.default_zone = "tiered";
  EXPECT_EQ(place_pod(p, pod("dev", "x", {}), "").zone, "tiered");
  p.default_zone.clear();
  p.zones.pop_back();  // no agent-sandbox: no default zone
  EXPECT_EQ(place_pod(p, pod("dev", "x", {}), "").zone, "");
}

TEST(PodPlacement, KubeSystemAndSelfExemptUnlessNamed) {
  const policy::Policy p = sample_policy();
  // tiered selects every namespace by labels; that does not name kube-system.
  const PodPlacement dns =
      place_pod(p, pod("kube-system", "coredns", {{"tier", "front"}, {"k8s-app", "kube-dns"}}), "");
  EXPECT_TRUE(dns.exempt);
  EXPECT_EQ(dns.zone, "");
  // ops lists kube-system: it takes its pods that its labels select.
  EXPECT_EQ(place_pod(p, pod("kube-system", "metrics", {{"k8s-app", "metrics"}}), "").zone, "ops");
  // The agent's own pod, by UID: exempt though tiered would select it.
  const Pod self = pod("guardrail", "agent-x", {{"tier", "back"}}, "self-uid");
  EXPECT_TRUE(place_pod(p, self, "self-uid").exempt);
  EXPECT_EQ(place_pod(p, self, "").zone, "tiered") << "another agent's pod is no exception";
  // A workload glob names it.
  policy::Policy named = p;
  policy::Workload w;
  w.name = "agent";
  w.zone = "ops";
  w.pod = "guardrail/agent-*";
  named.workloads.push_back(w);
  EXPECT_EQ(place_pod(named, self, "self-uid").workload, "agent");
}

// ---- this node's pods -------------------------------------------------------------------------

const std::string kUidA = "11111111-2222-3333-4444-555555555555";
const std::string kUidB = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const std::string kUidC = "01234567-89ab-cdef-0123-456789abcdef";
const std::string kUidSelf = "feedfeed-0000-1111-2222-333333333333";
const std::string kUidUnknown = "99999999-8888-7777-6666-555555555555";
const std::string kId = "3f0c1e9a7b2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6";

std::string underscored(std::string uid) {
  std::ranges::replace(uid, '-', '_');
  return uid;
}

class NodePodsTree : public ::testing::Test {
 protected:
  void mkdirs(const std::string& path) { fs::create_directories(root() + path); }
  std::string root() const { return dir_.path().string(); }
  std::uint64_t inode(const std::string& path) const {
    struct stat st {};
    return ::stat((root() + path).c_str(), &st) == 0 ? st.st_ino : 0;
  }
  const policy::WorkloadBinding* find(const NodePods& n, const std::string& path) const {
    const auto it = std::ranges::find(n.bindings, path, &policy::WorkloadBinding::cgroup_path);
    return it == n.bindings.end() ? nullptr : &*it;
  }

  // Pods: web (prod, app=web) with two IPs, dns (kube-system), api-1 (the workload's glob),
  // host (hostNetwork, dev: the default zone), self (the agent).
  std::vector<Pod> pods() const {
    std::vector<Pod> out = {
        pod("prod", "web-1", {{"app", "web"}}, kUidA, {"10.244.1.5", "fd00:10:244:1::5"}),
        pod("kube-system", "coredns-1", {{"k8s-app", "kube-dns"}}, kUidB, {"10.244.1.6"}),
        pod("prod", "api-1", {}, kUidC, {"10.244.1.7"}),
        pod("guardrail", "agent-1", {{"tier", "back"}}, kUidSelf, {"10.244.1.8"}),
    };
    Pod host = pod("dev", "host-1", {}, "", {"172.18.0.2"});
    host.uid = "2222aaaa-0000-0000-0000-000000000000";
    host.host_network = true;
    out.push_back(host);
    return out;
  }

  test::TempDir dir_{"gr-kubepods"};
};

TEST_F(NodePodsTree, SystemdDriver) {
  const std::string kp = "/kubepods.slice";
  const std::string web =
      kp + "/kubepods-burstable.slice/kubepods-burstable-pod" + underscored(kUidA) + ".slice";
  const std::string dns =
      kp + "/kubepods-burstable.slice/kubepods-burstable-pod" + underscored(kUidB) + ".slice";
  const std::string api = kp + "/kubepods-pod" + underscored(kUidC) + ".slice";  // guaranteed
  const std::string self =
      kp + "/kubepods-besteffort.slice/kubepods-besteffort-pod" + underscored(kUidSelf) + ".slice";
  const std::string host = kp + "/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                           underscored("2222aaaa-0000-0000-0000-000000000000") + ".slice";
  const std::string unknown = kp + "/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                              underscored(kUidUnknown) + ".slice";
  for (const std::string& d : {web + "/cri-containerd-" + kId + ".scope", dns, api, self, host,
                               unknown, kp + "/stray.slice", kp + "/kubepods-burstable.slice/x"})
    mkdirs(d);
  const std::string self_cgroup = self + "/cri-containerd-" + kId + ".scope";
  const NodePods n = node_pod_bindings(sample_policy(), pods(), root(), "/", self_cgroup, kUidSelf);

  EXPECT_EQ(n.kubepods_dirs, std::vector<std::string>{kp});
  ASSERT_EQ(n.bindings.size(), 6u);  // web, dns, api, self, host, the placeholder
  const auto* w = find(n, web);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->kind, BindingKind::Workload);
  EXPECT_EQ(w->workload, "");
  EXPECT_EQ(w->zone, "web");
  EXPECT_EQ(w->cgroup_id, inode(web));
  EXPECT_EQ(w->anonymous_id, 0u);
  EXPECT_EQ(w->display_name, "prod/web-1");
  ASSERT_EQ(w->addresses.size(), 2u);
  EXPECT_EQ(w->addresses[0].text, "10.244.1.5");
  EXPECT_EQ(w->addresses[1].family, AF_INET6);

  const auto* d = find(n, dns);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->kind, BindingKind::Exempt);
  EXPECT_EQ(d->zone, "");
  EXPECT_TRUE(d->addresses.empty());

  const auto* a = find(n, api);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->workload, "api");
  EXPECT_EQ(a->zone, "web");

  const auto* s = find(n, self);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->kind, BindingKind::Exempt);
  EXPECT_EQ(s->cgroup_id, inode(self));

  const auto* h = find(n, host);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->zone, "agent-sandbox");
  EXPECT_TRUE(h->addresses.empty()) << "a hostNetwork pod's IPs are the node's";

  EXPECT_EQ(find(n, unknown), nullptr) << "a pod not known yet is the placeholder's";
  const policy::WorkloadBinding& ph = n.bindings.back();
  EXPECT_EQ(ph.kind, BindingKind::Placeholder);
  EXPECT_EQ(ph.cgroup_path, kp);
  EXPECT_EQ(ph.zone, "agent-sandbox");
  EXPECT_EQ(ph.cgroup_id, inode(kp));
}

// The attack: a workload makes, inside its own container cgroup (its own subtree, which the
// cgroup guard lets it write), directories named as kube-system's pod and as the agent's own pod,
// and moves itself there, hoping to be exempt. Below a container is the container's: no binding.
TEST_F(NodePodsTree, APodCgroupSpelledInsideAWorkloadIsTheWorkloads) {
  const std::string kp = "/kubepods.slice";
  const std::string web =
      kp + "/kubepods-burstable.slice/kubepods-burstable-pod" + underscored(kUidA) + ".slice";
  const std::string container = web + "/cri-containerd-" + kId + ".scope";
  const std::string fake_dns = container + "/kubepods-burstable.slice/kubepods-burstable-pod" +
                               underscored(kUidB) + ".slice";
  const std::string fake_self = container + "/kubepods-pod" + underscored(kUidSelf) + ".slice";
  const std::string fake_cgroupfs = container + "/kubepods/pod" + kUidB;
  for (const std::string& d : {fake_dns, fake_self, fake_cgroupfs}) mkdirs(d);
  const NodePods n = node_pod_bindings(sample_policy(), pods(), root(), "/", "", kUidSelf);
  ASSERT_EQ(n.bindings.size(), 2u);  // web and the placeholder, nothing else
  EXPECT_EQ(n.bindings[0].cgroup_path, web);
  EXPECT_EQ(n.bindings[0].kind, BindingKind::Workload);
  EXPECT_EQ(n.bindings[1].kind, BindingKind::Placeholder);
  for (const auto& b : n.bindings) EXPECT_NE(b.kind, BindingKind::Exempt) << b.cgroup_path;
}

TEST_F(NodePodsTree, CgroupfsDriver) {
  const std::string web = "/kubepods/burstable/pod" + kUidA;
  const std::string api = "/kubepods/pod" + kUidC;
  const std::string dns = "/kubepods/besteffort/pod" + kUidB;
  for (const std::string& d : {web + "/" + kId, api, dns, std::string("/kubepods/stray")})
    mkdirs(d);
  const NodePods n = node_pod_bindings(sample_policy(), pods(), root() + "/", "", "", "");
  EXPECT_EQ(n.kubepods_dirs, std::vector<std::string>{"/kubepods"});
  ASSERT_EQ(n.bindings.size(), 4u);
  // Path order, the placeholder last.
  EXPECT_EQ(n.bindings[0].cgroup_path, dns);
  EXPECT_EQ(n.bindings[0].kind, BindingKind::Exempt);
  EXPECT_EQ(n.bindings[1].cgroup_path, web);
  EXPECT_EQ(n.bindings[1].zone, "web");
  EXPECT_EQ(n.bindings[1].cgroup_id, inode(web));
  EXPECT_EQ(n.bindings[2].cgroup_path, api);
  EXPECT_EQ(n.bindings[2].workload, "api");
  EXPECT_EQ(n.bindings[3].kind, BindingKind::Placeholder);
  EXPECT_EQ(n.bindings[3].cgroup_path, "/kubepods");
}

TEST_F(NodePodsTree, KindCgroupRoot) {
  // kind: cgroupRoot /kubelet with systemd, given as the kubelet's setting or as the slice.
  const std::string kp = "/kubelet.slice/kubelet-kubepods.slice";
  const std::string web = kp + "/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod" +
                          underscored(kUidA) + ".slice";
  mkdirs(web + "/cri-containerd-" + kId + ".scope");
  for (const std::string& kubelet_root : {"/kubelet", "/kubelet.slice", "kubelet.slice/"}) {
    const NodePods n = node_pod_bindings(sample_policy(), pods(), root(), kubelet_root, "", "");
    EXPECT_EQ(n.kubepods_dirs, std::vector<std::string>{kp}) << kubelet_root;
    ASSERT_EQ(n.bindings.size(), 2u) << kubelet_root;
    EXPECT_EQ(n.bindings[0].cgroup_path, web);
    EXPECT_EQ(n.bindings[0].zone, "web");
    EXPECT_EQ(n.bindings[1].cgroup_path, kp);
  }
  // Below the mount root there is no kubepods.
  EXPECT_TRUE(
      node_pod_bindings(sample_policy(), pods(), root(), "/", "", "").kubepods_dirs.empty());
}

TEST_F(NodePodsTree, SelfIsExemptBeforeItsPodIsKnownAndWhateverSelectsIt) {
  const std::string self = "/kubepods/besteffort/pod" + kUidSelf;
  mkdirs(self + "/" + kId);
  policy::Policy p = sample_policy();
  policy::Workload w;
  w.name = "agent";
  w.zone = "ops";
  w.pod = "guardrail/*";
  p.workloads.push_back(w);
  for (const auto& known : {pods(), std::vector<Pod>{}}) {
    const NodePods n = node_pod_bindings(p, known, root(), "/", self + "/" + kId, "");
    const auto* s = find(n, self);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->kind, BindingKind::Exempt);
  }
}

TEST_F(NodePodsTree, StaticPodsByMirrorUidAndNoPlaceholderWithoutDefaultZone) {
  const std::string hash = "6c6d0b1a3f2c9e8b7a6f5e4d3c2b1a09";
  const std::string apiserver = "/kubepods/burstable/pod" + hash;
  mkdirs(apiserver);
  policy::Policy p = sample_policy();
  p.zones.pop_back();  // no default zone
  // ops lists kube-system and takes what is not kube-dns: the mirror pod, found by its
  // mirror_uid (its metadata.uid names no cgroup).
  Pod mirror = pod("kube-system", "kube-apiserver-node-a", {}, kUidB);
  mirror.mirror_uid = hash;
  const NodePods n = node_pod_bindings(p, {mirror}, root(), "/", "", "");
  ASSERT_EQ(n.bindings.size(), 1u);
  EXPECT_EQ(n.bindings[0].cgroup_path, apiserver);
  EXPECT_EQ(n.bindings[0].kind, BindingKind::Workload);
  EXPECT_EQ(n.bindings[0].zone, "ops");
  EXPECT_EQ(n.bindings[0].display_name, "kube-system/kube-apiserver-node-a");
  // A pod no selector names is under no policy without a default zone.
  mkdirs("/kubepods/burstable/pod" + kUidUnknown);
  const NodePods other =
      node_pod_bindings(p, {pod("dev", "x", {}, kUidUnknown)}, root(), "/", "", "");
  EXPECT_TRUE(other.bindings.empty());
  EXPECT_EQ(other.kubepods_dirs, std::vector<std::string>{"/kubepods"});
}

TEST_F(NodePodsTree, TerminatingPodsStayBoundWhileTheirCgroupExists) {
  const std::string web = "/kubepods/burstable/pod" + kUidA;
  mkdirs(web);
  std::vector<Pod> known = pods();
  known[0].terminating = true;
  known[0].phase = "Succeeded";
  const NodePods n = node_pod_bindings(sample_policy(), known, root(), "/", "", "");
  const auto* w = find(n, web);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->zone, "web");
}

// ---- other nodes' pods ------------------------------------------------------------------------

TEST(RemotePods, PlacedPodsOfOtherNodesByAddress) {
  std::vector<Pod> pods = {
      pod("prod", "web-2", {{"app", "web"}}, "", {"10.244.2.5", "fd00:10:244:2::5"}),
      pod("prod", "api-2", {}, "", {"10.244.2.6"}),
      pod("dev", "other", {}, "", {"10.244.2.7"}),  // the default zone
      pod("kube-system", "coredns-2", {{"k8s-app", "kube-dns"}}, "", {"10.244.2.8"}),  // exempt
      pod("prod", "web-here", {{"app", "web"}}, "", {"10.244.1.9"}),
      pod("prod", "web-pending", {{"app", "web"}}),  // no IP yet
      pod("prod", "web-done", {{"app", "web"}}, "", {"10.244.2.10"}),
      pod("prod", "web-host", {{"app", "web"}}, "", {"172.18.0.3"}),
  };
  for (Pod& p : pods) p.node_name = "node-b";
  pods[4].node_name = "node-a";
  pods[6].phase = "Failed";
  pods[7].host_network = true;
  const auto bindings = remote_pod_bindings(sample_policy(), pods, "node-a", "");
  ASSERT_EQ(bindings.size(), 3u);
  EXPECT_EQ(bindings[0].zone, "web");
  EXPECT_EQ(bindings[0].workload, "");
  EXPECT_EQ(bindings[0].kind, BindingKind::Remote);
  EXPECT_EQ(bindings[0].cgroup_id, 0u);
  EXPECT_EQ(bindings[0].cgroup_path, "");
  EXPECT_EQ(bindings[0].display_name, "prod/web-2");
  ASSERT_EQ(bindings[0].addresses.size(), 2u);
  EXPECT_EQ(bindings[0].addresses[1].text, "fd00:10:244:2::5");
  EXPECT_EQ(bindings[1].workload, "api");
  EXPECT_EQ(bindings[1].zone, "web");
  EXPECT_EQ(bindings[2].zone, "agent-sandbox") << "the default zone's pods too: fail closed";
  EXPECT_EQ(bindings[2].display_name, "dev/other");
}

// ---- services ---------------------------------------------------------------------------------

Service service(const std::string& name, std::vector<std::string> ips,
                std::vector<ServicePort> ports, const std::string& type = "ClusterIP") {
  Service s;
  s.namespace_name = "prod";
  s.name = name;
  s.type = type;
  s.cluster_ips = std::move(ips);
  s.ports = std::move(ports);
  return s;
}

ServicePort service_port(const std::string& name, std::uint16_t port, std::uint16_t target = 0,
                         const std::string& protocol = "TCP") {
  ServicePort p;
  p.name = name;
  p.port = port;
  p.target_port = target;
  p.protocol = protocol;
  return p;
}

EndpointSlice slice(const std::string& service_name, const std::string& type,
                    std::vector<Endpoint> endpoints, std::vector<EndpointPort> ports) {
  EndpointSlice s;
  s.namespace_name = "prod";
  s.name = service_name + "-" + type;
  s.service_name = service_name;
  s.address_type = type;
  s.endpoints = std::move(endpoints);
  s.ports = std::move(ports);
  return s;
}

Endpoint endpoint(const std::string& address, bool ready = true) {
  Endpoint e;
  e.addresses = {address};
  e.ready = ready;
  return e;
}

std::vector<std::string> texts(const std::vector<policy::Cidr>& cidrs) {
  std::vector<std::string> out;
  for (const auto& c : cidrs) out.push_back(c.text);
  return out;
}

TEST(Services, NamedTargetPortResolvedThroughTheSlices) {
  // targetPort: http (a container port name); the slice's port is named after the service
  // port ("web") and holds the resolved number.
  ServicePort web = service_port("web", 80);
  web.target_port_name = "http";
  const auto bindings = service_bindings(
      {service("web", {"10.96.0.10"}, {web, service_port("dns", 53, 5353, "UDP")})},
      {slice("web", "IPv4", {endpoint("10.244.1.5"), endpoint("10.244.2.5", false)},
             {{"web", "TCP", 8080}, {"dns", "UDP", 5353}})});
  ASSERT_EQ(bindings.size(), 2u);
  EXPECT_EQ(bindings[0].service, "prod/web");
  EXPECT_EQ(bindings[0].cluster_ip.text, "10.96.0.10");
  EXPECT_EQ(bindings[0].cluster_ip.prefix_len, 32);
  EXPECT_EQ(bindings[0].protocol, 6);
  EXPECT_EQ(bindings[0].port, 80);
  EXPECT_EQ(bindings[0].target_port, 8080);
  EXPECT_EQ(texts(bindings[0].backends), std::vector<std::string>{"10.244.1.5"})
      << "only ready endpoints";
  EXPECT_EQ(bindings[1].protocol, 17);
  EXPECT_EQ(bindings[1].port, 53);
  EXPECT_EQ(bindings[1].target_port, 5353);
}

TEST(Services, TargetPortWithoutASlicePortAndNoBackends) {
  const auto bindings = service_bindings(
      {service("a", {"10.96.0.11"},
               {service_port("", 443, 8443, "SCTP"), service_port("plain", 9000)})},
      {});
  ASSERT_EQ(bindings.size(), 2u);
  EXPECT_EQ(bindings[0].protocol, 132);
  EXPECT_EQ(bindings[0].target_port, 8443);
  EXPECT_TRUE(bindings[0].backends.empty()) << "emitted, with no backends";
  EXPECT_EQ(bindings[1].target_port, 9000) << "no targetPort: the port itself";
}

TEST(Services, DualStackOneBindingPerFamily) {
  const auto bindings = service_bindings(
      {service("web", {"10.96.0.10", "fd00:96::10"}, {service_port("", 80, 8080)}, "NodePort")},
      {slice("web", "IPv4", {endpoint("10.244.1.5"), endpoint("10.244.2.5")}, {{"", "TCP", 8080}}),
       slice("web", "IPv6", {endpoint("fd00:10:244:1::5")}, {{"", "TCP", 8080}}),
       slice("other", "IPv4", {endpoint("10.244.9.9")}, {{"", "TCP", 8080}})});
  ASSERT_EQ(bindings.size(), 2u);
  EXPECT_EQ(bindings[0].cluster_ip.family, AF_INET);
  EXPECT_EQ(texts(bindings[0].backends), (std::vector<std::string>{"10.244.1.5", "10.244.2.5"}));
  EXPECT_EQ(bindings[1].cluster_ip.family, AF_INET6);
  EXPECT_EQ(texts(bindings[1].backends), std::vector<std::string>{"fd00:10:244:1::5"});
}

TEST(Services, NamedTargetPortResolvingDifferentlyPerSlice) {
  ServicePort web = service_port("web", 80);
  web.target_port_name = "http";
  const auto bindings = service_bindings(
      {service("web", {"10.96.0.10"}, {web}, "LoadBalancer")},
      {slice("web", "IPv4", {endpoint("10.244.1.5")}, {{"web", "TCP", 8080}}),
       slice("web", "IPv4", {endpoint("10.244.2.5")}, {{"web", "TCP", 9090}}),
       slice("web", "IPv4", {endpoint("10.244.3.5", false)}, {{"web", "TCP", 7070}})});
  ASSERT_EQ(bindings.size(), 2u);
  EXPECT_EQ(bindings[0].target_port, 8080);
  EXPECT_EQ(texts(bindings[0].backends), std::vector<std::string>{"10.244.1.5"});
  EXPECT_EQ(bindings[1].target_port, 9090);
  EXPECT_EQ(texts(bindings[1].backends), std::vector<std::string>{"10.244.2.5"});
}

TEST(Services, HeadlessAndExternalNameGiveNone) {
  EXPECT_TRUE(service_bindings({service("h", {"None"}, {service_port("", 80)}),
                                service("e", {}, {service_port("", 80)}, "ExternalName"),
                                service("n", {}, {service_port("", 80)})},
                               {})
                  .empty());
}

}  // namespace
}  // namespace guardrail::kubernetes
