// parse_proc_status() on real-looking /proc/PID/status texts, read_proc_status() on a fake /proc,
// capability_names().
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "guardrail/posture/posture.hpp"

namespace guardrail::posture {
namespace {

// A hardened container's init seen from the host (trimmed of the memory lines).
constexpr const char* kHardened =
    "Name:\tsleep\n"
    "Umask:\t0022\n"
    "State:\tS (sleeping)\n"
    "Tgid:\t41234\n"
    "Pid:\t41234\n"
    "PPid:\t41200\n"
    "TracerPid:\t0\n"
    "Uid:\t65534\t65534\t65534\t65534\n"
    "Gid:\t65534\t65534\t65534\t65534\n"
    "FDSize:\t64\n"
    "Groups:\t65534 \n"
    "NStgid:\t41234\t1\n"
    "VmRSS:\t     512 kB\n"
    "SigCgt:\t0000000000000000\n"
    "CapInh:\t0000000000000000\n"
    "CapPrm:\t0000000000000000\n"
    "CapEff:\t0000000000000000\n"
    "CapBnd:\t0000000000000000\n"
    "CapAmb:\t0000000000000000\n"
    "NoNewPrivs:\t1\n"
    "Seccomp:\t2\n"
    "Seccomp_filters:\t1\n"
    "Speculation_Store_Bypass:\tthread force mitigated\n"
    "Cpus_allowed_list:\t0-1\n";

// Docker's default: root, the 14 default capabilities, the default seccomp profile.
constexpr const char* kDefault =
    "Name:\tnginx\n"
    "Uid:\t0\t1000\t0\t0\n"
    "Gid:\t0\t0\t0\t0\n"
    "CapInh:\t0000000000000000\n"
    "CapPrm:\t00000000a80425fb\n"
    "CapEff:\t00000000a80425fb\n"
    "CapBnd:\t00000000a80425fb\n"
    "CapAmb:\t0000000000000000\n"
    "NoNewPrivs:\t0\n"
    "Seccomp:\t2\n"
    "Seccomp_filters:\t1\n";

// The parsed fields as one value, so that a test states them all at once.
auto fields(const ProcStatus& s) {
  return std::tuple(s.cap_eff, s.cap_bnd, s.seccomp, s.no_new_privs, s.uid, s.missing);
}
using Missing = std::vector<std::string>;

TEST(PostureProc, ParsesHardenedStatus) {
  EXPECT_EQ(fields(parse_proc_status(kHardened)),
            std::tuple(0ULL, 0ULL, 2, true, 65534L, Missing{}));
}

TEST(PostureProc, ParsesDefaultStatusAndTakesEffectiveUid) {
  // uid 1000 is the second field: effective, not real.
  EXPECT_EQ(fields(parse_proc_status(kDefault)),
            std::tuple(0xa80425fbULL, 0xa80425fbULL, 2, false, 1000L, Missing{}));
}

TEST(PostureProc, MissingAndGarbledFieldsAreListedNotTakenAsZero) {
  const ProcStatus s = parse_proc_status(
      "Name:\tx\nCapEff:\tzz00000000000000\nUid:\t0\nNoNewPrivs:\t7\nSeccomp:\t0\n");
  EXPECT_EQ(s.missing, (std::vector<std::string>{"CapEff", "CapBnd", "NoNewPrivs", "Uid"}));
  EXPECT_EQ(s.seccomp, 0);
  EXPECT_EQ(s.uid, -1);

  EXPECT_EQ(parse_proc_status("").missing,
            (std::vector<std::string>{"CapEff", "CapBnd", "Seccomp", "NoNewPrivs", "Uid"}));
}

class PostureProcFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("posture_proc_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(root_ / "41234");
    std::filesystem::create_directories(root_ / "555");
    std::ofstream(root_ / "41234" / "status") << kHardened;
    std::ofstream(root_ / "555" / "status") << "Name:\told\nUid:\t0\t0\t0\t0\n";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::filesystem::path root_;
};

TEST_F(PostureProcFiles, ReadsStatusUnderProcRoot) {
  auto s = read_proc_status(41234, root_.string());
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->uid, 65534);
  EXPECT_EQ(s->seccomp, 2);
}

TEST_F(PostureProcFiles, AbsentIncompleteOrNoPidFailsWithReason) {
  auto absent = read_proc_status(999, root_.string());
  ASSERT_FALSE(absent.has_value());
  EXPECT_EQ(absent.error().message,
            "cannot read " + (root_ / "999" / "status").string() + ": No such file or directory");

  auto incomplete = read_proc_status(555, root_.string());
  ASSERT_FALSE(incomplete.has_value());
  EXPECT_NE(incomplete.error().message.find("lacks CapEff, CapBnd, Seccomp, NoNewPrivs"),
            std::string::npos)
      << incomplete.error().message;

  auto none = read_proc_status(0, root_.string());
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().message, "no init process (State.Pid 0): is it running?");
}

TEST(PostureProc, CapabilityNames) {
  EXPECT_EQ(capability_names(0), "");
  EXPECT_EQ(capability_names((1ULL << 12) | (1ULL << 13) | (1ULL << 21)),
            "CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN");
  EXPECT_EQ(capability_names((1ULL << 40) | (1ULL << 41)), "CAP_CHECKPOINT_RESTORE, CAP_41");
}

}  // namespace
}  // namespace guardrail::posture
