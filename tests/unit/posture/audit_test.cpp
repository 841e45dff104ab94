// assess_container() on a fake /proc, host_has_apparmor(), and `guardrail audit` without Docker.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "guardrail/posture/posture.hpp"

namespace guardrail::posture {
namespace {

namespace fs = std::filesystem;

class PostureAudit : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("posture_audit_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "proc" / "41234");
    std::ofstream(dir_ / "proc" / "41234" / "status")
        << "Name:\tsleep\nUid:\t65534\t65534\t65534\t65534\nCapInh:\t0000000000000000\n"
           "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n"
           "CapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  static nlohmann::json inspect(int pid) {
    return {{"Id", "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b"},
            {"Name", "/agent-7"},
            {"State", {{"Status", "running"}, {"Pid", pid}}},
            {"AppArmorProfile", "docker-default"},
            {"HostConfig",
             {{"CapDrop", {"ALL"}},
              {"Privileged", false},
              {"ReadonlyRootfs", true},
              {"Memory", 268435456},
              {"NanoCpus", 500000000},
              {"PidsLimit", 64}}},
            {"Mounts", nlohmann::json::array()},
            {"Config",
             {{"User", "65534"},
              {"Env", {"LANG=C.UTF-8"}},
              {"Image", "registry.example/agent:1.4"},
              {"Labels", {{"guardrail.zone", "agent-sandbox"}}}}}};
  }

  fs::path dir_;
};

TEST_F(PostureAudit, AssessContainerReadsItsInitUnderProcRoot) {
  const auto p = assess_container(inspect(41234), true, {}, (dir_ / "proc").string());
  EXPECT_EQ(p.container.name, "agent-7");
  EXPECT_EQ(p.container.image, "registry.example/agent:1.4");
  EXPECT_EQ(p.container.pid, 41234);
  EXPECT_EQ(p.findings.size(), 14u);
  for (const auto& f : p.findings) EXPECT_TRUE(f.passed) << f.check << ": " << f.detail;
  EXPECT_TRUE(p.compliant());
}

TEST_F(PostureAudit, VanishedInitFailsTheProcChecksWithTheReason) {
  const auto p = assess_container(inspect(777), false, {}, (dir_ / "proc").string());
  EXPECT_FALSE(p.compliant());
  const std::string reason = "cannot tell: cannot read " +
                             (dir_ / "proc" / "777" / "status").string() +
                             ": No such file or directory";
  for (const auto& f : p.findings) {
    if (f.check == "capabilities_dropped" || f.check == "seccomp_filter" ||
        f.check == "no_new_privs" || f.check == "non_root_uid") {
      EXPECT_FALSE(f.passed) << f.check;
      EXPECT_EQ(f.detail, reason) << f.check;
    } else {
      EXPECT_TRUE(f.passed) << f.check << ": " << f.detail;
    }
  }
}

TEST_F(PostureAudit, HostAppArmorSwitch) {
  std::ofstream(dir_ / "yes") << "Y\n";
  std::ofstream(dir_ / "no") << "N\n";
  EXPECT_TRUE(host_has_apparmor((dir_ / "yes").string()));
  EXPECT_FALSE(host_has_apparmor((dir_ / "no").string()));
  EXPECT_FALSE(host_has_apparmor((dir_ / "absent").string()));
}

TEST_F(PostureAudit, CommandExitsTwoWithTheClientsReasonWhenDockerIsAbsent) {
  const std::string socket = (dir_ / "docker.sock").string();
  std::ostringstream out, err;
  EXPECT_EQ(run_audit_command(false, socket, out, err), 2);
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(err.str(), "guardrail audit: Docker socket " + socket +
                           " does not exist: is dockerd running? (or pass --docker-socket)\n");

  std::ostringstream jout, jerr;
  EXPECT_EQ(run_audit_command(true, socket, jout, jerr), 2);
  EXPECT_EQ(jout.str(), "");
  EXPECT_EQ(jerr.str(), err.str());
}

}  // namespace
}  // namespace guardrail::posture
