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
    if (g.guard == name) return g;
  ADD_FAILURE() << "no guard " << name;
  return {};
}

TEST(ProbeBackends, EveryGuardIsListedOnceInOrder) {
  auto guards = choose_backends({});
  ASSERT_EQ(guards.size(), kGuardNames.size());
  for (size_t i = 0; i < guards.size(); ++i) EXPECT_EQ(guards[i].guard, kGuardNames[i]);
}

TEST(ProbeBackends, NothingAvailableMeansEveryGuardUnavailableWithANote) {
  for (const auto& g : choose_backends(with({}))) {
    EXPECT_EQ(g.backend, "unavailable") << g.guard;
    EXPECT_EQ(g.guarantee, "none") << g.guard;
    EXPECT_FALSE(g.note.empty()) << g.guard;
  }
}

TEST(ProbeBackends, ThisHostWithoutLsmFallsBack) {
  auto guards =
      choose_backends(with({"cgroup_skb", "cgroup_sock_addr", "cgroup_connect_unix",
                            "cgroup_sock_create", "tracepoint", "tp_btf", "bpf_send_signal"}));
  EXPECT_EQ(guard(guards, "network").backend, "cgroup_sock_addr+cgroup_skb");
  EXPECT_EQ(guard(guards, "network").guarantee, "prevention");
  EXPECT_TRUE(guard(guards, "network").note.empty());
  EXPECT_EQ(guard(guards, "raw-sockets").backend, "cgroup_sock");
  // cgroup/sock_create runs for inet sockets only: packet sockets are only detected.
  EXPECT_EQ(guard(guards, "raw-sockets").guarantee,
            "prevention (raw inet); detection (+kill) (packet)");
  EXPECT_NE(guard(guards, "raw-sockets").note.find("AF_PACKET"), std::string::npos);
  EXPECT_EQ(guard(guards, "runtime-sockets").backend, "cgroup_connect_unix");
  EXPECT_EQ(guard(guards, "runtime-sockets").guarantee, "prevention (by path)");
  EXPECT_EQ(guard(guards, "bpf").backend, "tracepoint");
  EXPECT_EQ(guard(guards, "capabilities").backend, "tp_btf");
  EXPECT_EQ(guard(guards, "capabilities").guarantee, "detection (+kill)");
  EXPECT_EQ(guard(guards, "mounts").backend, "tracepoint");
  EXPECT_EQ(guard(guards, "mounts").guarantee, "detection (+kill)");
  EXPECT_NE(guard(guards, "mounts").note.find("mount may still happen"), std::string::npos);
}

TEST(ProbeBackends, NetworkNeedsBothSkbAndSockAddr) {
  EXPECT_EQ(guard(choose_backends(with({"cgroup_skb"})), "network").backend, "unavailable");
  EXPECT_EQ(guard(choose_backends(with({"cgroup_sock_addr"})), "network").backend, "unavailable");
}

TEST(ProbeBackends, LsmIsPreferredEverywhereButNetwork) {
  auto guards = choose_backends(with({"bpf_lsm", "cgroup_sock_create", "cgroup_connect_unix",
                                      "tp_btf", "tracepoint", "bpf_send_signal"}));
  for (auto name : {"raw-sockets", "runtime-sockets", "capabilities", "mounts"}) {
    EXPECT_EQ(guard(guards, name).backend, "lsm") << name;
    EXPECT_EQ(guard(guards, name).guarantee, "prevention") << name;
    EXPECT_TRUE(guard(guards, name).note.empty()) << name;
  }
}

TEST(ProbeBackends, LsmCgroupIsNotedWhenItWorks) {
  auto guards = choose_backends(with({"bpf_lsm", "lsm_cgroup"}));
  EXPECT_EQ(guard(guards, "mounts").backend, "lsm");
  EXPECT_NE(guard(guards, "mounts").note.find("lsm_cgroup"), std::string::npos);
}

TEST(ProbeBackends, WithoutSendSignalTheFallbackOnlyDetects) {
  auto guards = choose_backends(with({"tp_btf", "tracepoint"}));
  EXPECT_EQ(guard(guards, "capabilities").guarantee, "detection");
  EXPECT_EQ(guard(guards, "mounts").guarantee, "detection");
}

TEST(ProbeBackends, AMissingFeatureCountsAsUnavailable) {
  auto guards = choose_backends({{"tp_btf", true, ""}});
  EXPECT_EQ(guard(guards, "capabilities").backend, "tp_btf");
  EXPECT_EQ(guard(guards, "mounts").backend, "unavailable");
}

}  // namespace
}  // namespace guardrail::probe
