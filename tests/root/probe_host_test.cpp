// run_probe() on this machine's kernel (Linux 6.18 VM, see shared/KERNEL.md): cgroup programs,
// tracepoints and tp_btf work; BPF-LSM is listed but refused.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <sstream>
#include <string>

#include "guardrail/probe/probe.hpp"
#include "guardrail/util/cgroup2_mount.hpp"

namespace guardrail::probe {
namespace {

class ProbeHost : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    // The probe reports missing mounts; these tests are about the kernel, so provide them.
    if (!fs_mounted("/sys/kernel/tracing", TRACEFS_MAGIC))
      ::mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr);
    if (!fs_mounted("/sys/fs/bpf", BPF_FS_MAGIC)) ::mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr);
  }
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "\n\n*** SKIPPED: probe root tests need root (CAP_BPF + CAP_SYS_ADMIN); "
                      "run guardrail_root_tests as root ***\n";
  }
  static const Report& report() {
    static const Report r = run_probe();
    return r;
  }
  static const Feature& feature(const std::string& name) {
    for (const auto& f : report().features)
      if (f.name == name) return f;
    static Feature missing{"(missing)", false, "not in the report"};
    ADD_FAILURE() << "feature " << name << " missing from the report";
    return missing;
  }
};

TEST_F(ProbeHost, ReportsEveryFeatureOnceInOrder) {
  ASSERT_EQ(report().features.size(), kFeatureNames.size());
  for (size_t i = 0; i < kFeatureNames.size(); ++i)
    EXPECT_EQ(report().features[i].name, kFeatureNames[i]);
}

TEST_F(ProbeHost, WhatThisKernelAllows) {
  for (auto name :
       {"btf", "ringbuf", "cgroup2", "bpffs", "cgroup_skb", "cgroup_sock_addr",
        "cgroup_connect_unix", "cgroup_sock_create", "tp_btf", "tracepoint", "bpf_send_signal",
        "cgroup_mkdir"}) {
    const auto& f = feature(name);
    EXPECT_TRUE(f.available) << name << ": " << f.reason;
    EXPECT_FALSE(f.reason.empty()) << name;
  }
  EXPECT_NE(feature("tracepoint").reason.find("attached"), std::string::npos);
  EXPECT_NE(feature("cgroup_skb").reason.find("attached"), std::string::npos);
}

TEST_F(ProbeHost, BpfLsmIsRefusedAndSaysSo) {
  const auto& lsm = feature("bpf_lsm");
  EXPECT_FALSE(lsm.available);
  EXPECT_NE(lsm.reason.find("refused"), std::string::npos) << lsm.reason;
  EXPECT_NE(lsm.reason.find("Operation not permitted"), std::string::npos) << lsm.reason;
  EXPECT_FALSE(feature("lsm_cgroup").available);
}

TEST_F(ProbeHost, Cgroup2IsTheHybridUnifiedMount) {
  EXPECT_EQ(report().cgroup2_mount, find_cgroup2_mount());
  EXPECT_FALSE(report().cgroup2_mount.empty());
}

TEST_F(ProbeHost, GuardsFallBackAsTheDesignSays) {
  ASSERT_NE(report().guard(*guard_named("network")), nullptr);
  EXPECT_EQ(backend_name(report().guard(*guard_named("network"))->backend),
            "cgroup_sock_addr+cgroup_skb");
  // No BPF-LSM: a privileged workload can detach the programs until the agent re-attaches.
  EXPECT_EQ(report().guard(*guard_named("network"))->guarantee, "prevention (interruptible)");
  EXPECT_EQ(backend_name(report().guard(*guard_named("raw-sockets"))->backend), "cgroup_sock");
  EXPECT_EQ(backend_name(report().guard(*guard_named("runtime-sockets"))->backend),
            "cgroup_connect_unix");
  EXPECT_EQ(backend_name(report().guard(*guard_named("capabilities"))->backend), "tp_btf");
  EXPECT_EQ(report().guard(*guard_named("capabilities"))->guarantee, "detection (+kill)");
  EXPECT_EQ(backend_name(report().guard(*guard_named("mounts"))->backend), "tracepoint");
}

TEST_F(ProbeHost, LeavesNoScratchCgroupBehind) {
  (void)report();
  std::string scratch = report().cgroup2_mount + "/guardrail-probe-" + std::to_string(::getpid());
  struct stat st {};
  EXPECT_NE(::stat(scratch.c_str(), &st), 0) << scratch << " still exists";
}

int g_libbpf_lines = 0;
int count_libbpf(libbpf_print_level, const char*, va_list) { return ++g_libbpf_lines, 0; }

TEST_F(ProbeHost, SilencesLibbpfAndRestoresItsPrinter) {
  auto previous = libbpf_set_print(count_libbpf);
  g_libbpf_lines = 0;
  auto start = std::chrono::steady_clock::now();
  Report r = run_probe();
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(g_libbpf_lines, 0) << "refused loads must not reach the log";
  EXPECT_EQ(libbpf_set_print(previous), &count_libbpf) << "the old printer was not restored";
  // It runs at every agent start.
  EXPECT_LT(elapsed, std::chrono::milliseconds(500));
  std::cout << "probe took " << r.duration_ms << " ms\n";
}

TEST_F(ProbeHost, CommandPrintsTheTableAndSucceeds) {
  std::ostringstream out;
  EXPECT_EQ(run_probe_command(false, out), 0);
  EXPECT_NE(out.str().find("bpf_lsm"), std::string::npos);
  EXPECT_NE(out.str().find("mount may still happen"), std::string::npos);
  std::ostringstream json;
  EXPECT_EQ(run_probe_command(true, json), 0);
  auto doc = nlohmann::json::parse(json.str());
  EXPECT_EQ(doc["guards"].size(), kGuards.size());
  EXPECT_FALSE(doc.contains("error"));
}

}  // namespace
}  // namespace guardrail::probe
