// parse_kubepods_cgroup: every driver, QoS class and runtime's naming, prefixes above kubepods
// (kind), the systemd spelling of UIDs, and what is not the kubelet's.
#include "guardrail/kubernetes/kubepods.hpp"

#include <gtest/gtest.h>

#include <string>

namespace guardrail::kubernetes {
namespace {

const std::string kUid = "0b5c3b4e-8f1a-4c2d-9e3f-1a2b3c4d5e6f";
const std::string kUidSystemd = "0b5c3b4e_8f1a_4c2d_9e3f_1a2b3c4d5e6f";
const std::string kId = "3f0c1e9a7b2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6";

KubepodsCgroup parsed(const std::string& path) {
  const auto p = parse_kubepods_cgroup(path);
  EXPECT_TRUE(p.has_value()) << path;
  return p.value_or(KubepodsCgroup{});
}

TEST(Kubepods, CgroupfsEveryQosClass) {
  for (const std::string qos : {"burstable", "besteffort"}) {
    const std::string pod = "/kubepods/" + qos + "/pod" + kUid;
    const KubepodsCgroup p = parsed(pod + "/" + kId);
    EXPECT_EQ(p.driver, CgroupDriver::Cgroupfs);
    EXPECT_EQ(p.prefix, "");
    EXPECT_EQ(p.kubepods, "/kubepods");
    EXPECT_EQ(p.qos, qos);
    EXPECT_EQ(p.pod_uid, kUid);
    EXPECT_EQ(p.pod_cgroup, pod);
    EXPECT_EQ(p.container_id, kId);
    EXPECT_EQ(p.runtime, "");  // containerd and cri-dockerd both name it by the bare id
  }
  // Guaranteed pods sit in kubepods itself.
  const KubepodsCgroup g = parsed("/kubepods/pod" + kUid);
  EXPECT_EQ(g.qos, "guaranteed");
  EXPECT_EQ(g.pod_uid, kUid);
  EXPECT_EQ(g.pod_cgroup, "/kubepods/pod" + kUid);
  EXPECT_EQ(g.container_id, "");
}

TEST(Kubepods, SystemdEveryQosClassAndRuntime) {
  struct Case {
    std::string qos_slice;  // "" for guaranteed
    std::string qos;
  };
  for (const Case& c :
       {Case{"", "guaranteed"}, Case{"burstable", "burstable"}, Case{"besteffort", "besteffort"}}) {
    const std::string unit = c.qos_slice.empty() ? "kubepods" : "kubepods-" + c.qos_slice;
    const std::string pod = "/kubepods.slice" + (c.qos_slice.empty() ? "" : "/" + unit + ".slice") +
                            "/" + unit + "-pod" + kUidSystemd + ".slice";
    for (const auto& [scope, runtime] :
         {std::pair<std::string, std::string>{"cri-containerd-", "containerd"},
          {"crio-", "cri-o"},
          {"docker-", "docker"}}) {
      const KubepodsCgroup p = parsed(pod + "/" + scope + kId + ".scope");
      EXPECT_EQ(p.driver, CgroupDriver::Systemd);
      EXPECT_EQ(p.kubepods, "/kubepods.slice");
      EXPECT_EQ(p.qos, c.qos);
      EXPECT_EQ(p.pod_uid, kUid) << "systemd's '_' are the API server's '-'";
      EXPECT_EQ(p.pod_cgroup, pod);
      EXPECT_EQ(p.container_id, kId);
      EXPECT_EQ(p.runtime, runtime);
    }
    const KubepodsCgroup bare = parsed(pod);
    EXPECT_EQ(bare.pod_cgroup, pod);
    EXPECT_EQ(bare.container_id, "");
  }
}

TEST(Kubepods, LevelsAbovePods) {
  const KubepodsCgroup root = parsed("/kubepods.slice");
  EXPECT_EQ(root.kubepods, "/kubepods.slice");
  EXPECT_EQ(root.qos, "");
  EXPECT_EQ(root.pod_uid, "");
  const KubepodsCgroup qos = parsed("/kubepods.slice/kubepods-besteffort.slice");
  EXPECT_EQ(qos.qos, "besteffort");
  EXPECT_EQ(qos.pod_cgroup, "");
  EXPECT_EQ(parsed("/kubepods/burstable").qos, "burstable");
  EXPECT_EQ(parsed("kubepods/burstable/").kubepods, "/kubepods") << "slashes are not required";
}

TEST(Kubepods, CrioConmonIsThePodsNotAContainer) {
  const KubepodsCgroup s =
      parsed("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidSystemd +
             ".slice/crio-conmon-" + kId + ".scope");
  EXPECT_EQ(s.runtime, "cri-o");
  EXPECT_EQ(s.container_id, "");
  EXPECT_EQ(s.pod_uid, kUid);
  // CRI-O with cgroupfs: crio-<id> and crio-conmon-<id>, without .scope.
  const KubepodsCgroup c = parsed("/kubepods/besteffort/pod" + kUid + "/crio-" + kId);
  EXPECT_EQ(c.runtime, "cri-o");
  EXPECT_EQ(c.container_id, kId);
  const KubepodsCgroup m = parsed("/kubepods/besteffort/pod" + kUid + "/crio-conmon-" + kId);
  EXPECT_EQ(m.runtime, "cri-o");
  EXPECT_EQ(m.container_id, "");
}

TEST(Kubepods, KindNodeWithItsCgroupRoot) {
  // kind's kubelet runs with cgroupRoot: /kubelet and the systemd driver.
  const std::string pod =
      "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/"
      "kubelet-kubepods-burstable-pod" +
      kUidSystemd + ".slice";
  const KubepodsCgroup p = parsed(pod + "/cri-containerd-" + kId + ".scope");
  EXPECT_EQ(p.prefix, "/kubelet.slice");
  EXPECT_EQ(p.kubepods, "/kubelet.slice/kubelet-kubepods.slice");
  EXPECT_EQ(p.qos, "burstable");
  EXPECT_EQ(p.pod_uid, kUid);
  EXPECT_EQ(p.pod_cgroup, pod);
  EXPECT_EQ(p.runtime, "containerd");
  const KubepodsCgroup g =
      parsed("/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" + kUidSystemd + ".slice");
  EXPECT_EQ(g.qos, "guaranteed");
  EXPECT_EQ(g.pod_uid, kUid);
  // Seen from the host: the node container's cgroup is above it all.
  const std::string host = "/system.slice/docker-" + kId + ".scope" + pod;
  const KubepodsCgroup h = parsed(host);
  EXPECT_EQ(h.prefix, "/system.slice/docker-" + kId + ".scope/kubelet.slice");
  EXPECT_EQ(h.pod_cgroup, host);
  // Any prefix above a cgroupfs kubepods.
  const KubepodsCgroup c = parsed("/kind-control-plane/kubelet/kubepods/pod" + kUid + "/" + kId);
  EXPECT_EQ(c.prefix, "/kind-control-plane/kubelet");
  EXPECT_EQ(c.kubepods, "/kind-control-plane/kubelet/kubepods");
  EXPECT_EQ(c.container_id, kId);
}

TEST(Kubepods, StaticPodsHashUid) {
  // A static pod's UID is its config hash: 32 hex digits, no dashes to escape.
  const std::string hash = "6c6d0b1a3f2c9e8b7a6f5e4d3c2b1a09";
  EXPECT_EQ(
      parsed("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + hash + ".slice")
          .pod_uid,
      hash);
}

TEST(Kubepods, BelowAContainerIsStillTheContainers) {
  const KubepodsCgroup p = parsed("/kubepods/burstable/pod" + kUid + "/" + kId + "/init");
  EXPECT_EQ(p.container_id, kId);
  EXPECT_EQ(p.pod_cgroup, "/kubepods/burstable/pod" + kUid);
}

TEST(Kubepods, NotTheKubelets) {
  const std::string pod_s =
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidSystemd + ".slice";
  for (const std::string& path : {
           std::string(""),
           std::string("/"),
           std::string("/system.slice/docker.service"),
           std::string("/guardrail/agents/a"),
           std::string("/kubepodsx/burstable"),
           // stray directories at each level
           std::string("/kubepods/guaranteed"),
           std::string("/kubepods/burstable/stray"),
           std::string("/kubepods/burstable/podxyz"),
           std::string("/kubepods/burstable/pod"),
           "/kubepods/burstable/pod" + kUid + "/stray",
           "/kubepods/burstable/pod" + kUid + "/" + kId.substr(1),                  // 63 digits
           "/kubepods/burstable/pod" + kUid + "/cri-containerd-" + kId + ".scope",  // systemd's
           std::string("/kubepods.slice/burstable"),
           std::string("/kubepods.slice/kubepods-burstable.slice/stray.slice"),
           "/kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-pod" + kUidSystemd +
               ".slice",  // wrong QoS unit
           "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUid + ".slice",
           pod_s + "/stray",
           pod_s + "/" + kId,  // cgroupfs naming under systemd
           pod_s + "/cri-containerd-" + kId,
           pod_s + "/cri-containerd-" + kId.substr(0, 12) + ".scope",
           pod_s + "/containerd-" + kId + ".scope",
           // a "-kubepods" slice whose parent is not the slice it is named after
           "/other.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" + kUidSystemd + ".slice",
       })
    EXPECT_FALSE(parse_kubepods_cgroup(path).has_value()) << path;
}

}  // namespace
}  // namespace guardrail::kubernetes
