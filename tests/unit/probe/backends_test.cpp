// choose_backends(): the design's backend table, driven by hand-made feature results.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "guardrail/probe/probe.hpp"

namespace guardrail::probe {
namespace {

std::vector<Feature> with(std::initializer_list<const char*> available) {
  std::vector<Feature> features;
  for (auto name : kFeatureNames) {
    bool yes = std::ranges::find_if(available, [&](const char* a) { return name == a; }) !=
               available.end();
    features.push_back({std::string(name), yes, yes ? "test: yes" : "test: no"});
  }
  return features;
}

GuardBackend guard(const std::vector<GuardBackend>& guards, const std::string& name) {
  for (const auto& g : guards)
    if (guard_name(g.guard) == name) return g;
  ADD_FAILURE() << "no guard " << name;
  return {};
}

std::string backend(const std::vector<GuardBackend>& guards, const std::string& name) {
  return std::string(backend_name(guard(guards, name).backend));
}

TEST(ProbeBackends, EveryGuardIsListedOnceInOrder) {
  auto guards = choose_backends({});
  ASSERT_EQ(guards.size(), kGuards.size());
  for (size_t i = 0; i < guards.size(); ++i) EXPECT_EQ(guards[i].guard, kGuards[i]);
}

TEST(ProbeBackends, NothingAvailableMeansEveryGuardUnavailableWithANote) {
  for (const auto& g : choose_backends(with({}))) {
    EXPECT_EQ(g.backend, Backend::Unavailable) << guard_name(g.guard);
    EXPECT_EQ(g.guarantee, "none") << guard_name(g.guard);
    EXPECT_FALSE(g.note.empty()) << guard_name(g.guard);
  }
}

TEST(ProbeBackends, ThisHostWithoutLsmFallsBack) {
  auto guards =
      choose_backends(with({"cgroup_skb", "cgroup_sock_addr", "cgroup_connect_unix",
                            "cgroup_sock_create", "tracepoint", "tp_btf", "bpf_send_signal"}));
  EXPECT_EQ(backend(guards, "network"), "cgroup_sock_addr+cgroup_skb");
  // Without BPF-LSM a privileged workload can detach the programs until the agent re-attaches.
  EXPECT_EQ(guard(guards, "network").guarantee, "prevention (interruptible)");
  EXPECT_NE(guard(guards, "network")
                .note.find("interrupt enforcement until the agent "
                           "re-attaches"),
            std::string::npos);
  EXPECT_NE(guard(guards, "network").note.find("measured here"), std::string::npos);
  EXPECT_NE(guard(guards, "raw-sockets").note.find("re-attaches"), std::string::npos);
  EXPECT_EQ(backend(guards, "raw-sockets"), "cgroup_sock");
  // cgroup/sock_create runs for inet sockets only: packet sockets are only detected.
  EXPECT_EQ(guard(guards, "raw-sockets").guarantee,
            "prevention (raw inet); detection (+kill) (packet)");
  EXPECT_NE(guard(guards, "raw-sockets").note.find("AF_PACKET"), std::string::npos);
  EXPECT_EQ(backend(guards, "runtime-sockets"), "cgroup_connect_unix");
  EXPECT_EQ(guard(guards, "runtime-sockets").guarantee, "prevention (by address)");
  EXPECT_NE(guard(guards, "runtime-sockets").note.find("mode: allowlist fails closed"),
            std::string::npos);
  EXPECT_NE(guard(guards, "runtime-sockets").note.find("between two workloads are not told apart"),
            std::string::npos);
  EXPECT_EQ(backend(guards, "bpf"), "tracepoint");
  EXPECT_EQ(backend(guards, "capabilities"), "tp_btf");
  EXPECT_EQ(guard(guards, "capabilities").guarantee, "detection (+kill)");
  EXPECT_EQ(backend(guards, "mounts"), "tracepoint");
  EXPECT_EQ(guard(guards, "mounts").guarantee, "detection (+kill)");
  EXPECT_NE(guard(guards, "mounts").note.find("mount may still happen"), std::string::npos);
}

TEST(ProbeBackends, NetworkNeedsBothSkbAndSockAddr) {
  EXPECT_EQ(backend(choose_backends(with({"cgroup_skb"})), "network"), "unavailable");
  EXPECT_EQ(backend(choose_backends(with({"cgroup_sock_addr"})), "network"), "unavailable");
}

TEST(ProbeBackends, LsmIsPreferredEverywhereButNetwork) {
  auto guards = choose_backends(with({"bpf_lsm", "cgroup_sock_create", "cgroup_connect_unix",
                                      "tp_btf", "tracepoint", "bpf_send_signal"}));
  // lsm/bpf refuses workloads the bpf() commands that would detach the network guard.
  EXPECT_EQ(guard(choose_backends(with({"bpf_lsm", "cgroup_skb", "cgroup_sock_addr"})), "network")
                .guarantee,
            "prevention");
  for (auto name : {"raw-sockets", "runtime-sockets", "capabilities", "mounts"}) {
    EXPECT_EQ(backend(guards, name), "lsm") << name;
    EXPECT_EQ(guard(guards, name).guarantee, "prevention") << name;
    EXPECT_TRUE(guard(guards, name).note.empty()) << name;
  }
}

// lsm_cgroup is probed but never a backend: the host guards load only the LSM object attached
// host-wide (HostGuard::loads), so a kernel with lsm_cgroup and no plain BPF-LSM falls back.
TEST(ProbeBackends, LsmCgroupAloneIsNeverChosen) {
  auto with_lsm = choose_backends(with({"bpf_lsm", "lsm_cgroup"}));
  EXPECT_EQ(backend(with_lsm, "mounts"), "lsm");
  auto without = choose_backends(with({"lsm_cgroup", "tracepoint", "tp_btf"}));
  EXPECT_EQ(backend(without, "mounts"), "tracepoint");
  EXPECT_EQ(backend(without, "capabilities"), "tp_btf");
  EXPECT_EQ(backend(without, "raw-sockets"), "unavailable");
  for (auto features : {with({"lsm_cgroup"}), with({"bpf_lsm", "lsm_cgroup"})})
    for (const auto& g : choose_backends(features))
      EXPECT_NE(g.backend, Backend::LsmCgroup) << guard_name(g.guard);
}

TEST(ProbeBackends, WithoutSendSignalTheFallbackOnlyDetects) {
  auto guards = choose_backends(with({"tp_btf", "tracepoint"}));
  EXPECT_EQ(guard(guards, "capabilities").guarantee, "detection");
  EXPECT_EQ(guard(guards, "mounts").guarantee, "detection");
}

TEST(ProbeBackends, AMissingFeatureCountsAsUnavailable) {
  auto guards = choose_backends({{"tp_btf", true, ""}});
  EXPECT_EQ(backend(guards, "capabilities"), "tp_btf");
  EXPECT_EQ(backend(guards, "mounts"), "unavailable");
}

}  // namespace
}  // namespace guardrail::probe
