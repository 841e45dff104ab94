// print_text() and to_json() on a hand-built report.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "guardrail/probe/probe.hpp"

namespace guardrail::probe {
namespace {

Report sample() {
  Report r;
  r.kernel_release = "6.18.0-test";
  r.cgroup2_mount = "/sys/fs/cgroup/unified";
  r.duration_ms = 12.5;
  r.features = {
      {"cgroup_skb", true, "loaded and attached to a scratch cgroup (cgroup_skb/egress)"},
      {"bpf_lsm", false,
       "lsm/socket_create: program load refused: Operation not permitted (this kernel refuses "
       "BPF trampolines; LSM programs unavailable)"},
  };
  r.guards = {
      {Guard::Network, Backend::CgroupSockAddrSkb, "prevention", ""},
      {Guard::Mounts, Backend::Tracepoint, "detection (+kill)", "the mount may still happen."},
  };
  return r;
}

TEST(ProbeReport, HasAndGuardLookups) {
  auto r = sample();
  EXPECT_TRUE(r.has("cgroup_skb"));
  EXPECT_FALSE(r.has("bpf_lsm"));
  EXPECT_FALSE(r.has("no_such_feature"));
  ASSERT_NE(r.guard(Guard::Mounts), nullptr);
  EXPECT_EQ(r.guard(Guard::Mounts)->backend, Backend::Tracepoint);
  EXPECT_EQ(r.guard(Guard::Bpf), nullptr);
}

TEST(ProbeReport, TextShowsKernelFeaturesMatrixAndNotes) {
  std::ostringstream out;
  print_text(sample(), out);
  auto text = out.str();
  EXPECT_NE(text.find("6.18.0-test"), std::string::npos);
  EXPECT_NE(text.find("/sys/fs/cgroup/unified"), std::string::npos);
  EXPECT_NE(text.find("12.5 ms"), std::string::npos);
  EXPECT_NE(text.find("cgroup_skb           yes"), std::string::npos) << text;
  EXPECT_NE(text.find("bpf_lsm              NO    lsm/socket_create: program load refused"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("network          cgroup_sock_addr+cgroup_skb  prevention"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("mounts: the mount may still happen."), std::string::npos) << text;
  EXPECT_EQ(text.find("network: "), std::string::npos) << "no note for a preferred backend";
}

TEST(ProbeReport, TextSaysWhenCgroup2IsMissing) {
  Report r;
  std::ostringstream out;
  print_text(r, out);
  EXPECT_NE(out.str().find("(not mounted)"), std::string::npos);
}

TEST(ProbeReport, JsonHasTheDocumentedShape) {
  auto j = to_json(sample());
  EXPECT_EQ(j["kernel"], "6.18.0-test");
  EXPECT_EQ(j["cgroup2_mount"], "/sys/fs/cgroup/unified");
  ASSERT_EQ(j["features"].size(), 2u);
  EXPECT_EQ(j["features"][0]["name"], "cgroup_skb");
  EXPECT_EQ(j["features"][0]["available"], true);
  EXPECT_EQ(j["features"][1]["available"], false);
  EXPECT_NE(j["features"][1]["reason"].get<std::string>().find("refused"), std::string::npos);
  ASSERT_EQ(j["guards"].size(), 2u);
  EXPECT_EQ(j["guards"][0]["guard"], "network");
  EXPECT_EQ(j["guards"][0]["backend"], "cgroup_sock_addr+cgroup_skb");
  EXPECT_EQ(j["guards"][1]["guarantee"], "detection (+kill)");
  EXPECT_EQ(j["guards"][1]["note"], "the mount may still happen.");
}

}  // namespace
}  // namespace guardrail::probe
