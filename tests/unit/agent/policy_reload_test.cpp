// The plain parts of a policy reload: the file's hash, reading and parsing it once, and which
// host guards a new policy asks for that would need a restart.
#include "policy_reload.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing/temp_dir.hpp"

namespace guardrail::agent {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

constexpr const char* kPolicy = R"(apiVersion: guardrail.io/v1alpha1
kind: GuardrailPolicy
metadata: {name: reload-test}
spec:
  zones:
    - name: agent-sandbox
      selector: {cgroups: ["/guardrail/agents/*"]}
)";

class PolicyFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    const auto p = dir_.path() / "policy.yaml";
    std::ofstream(p, std::ios::trunc) << text;
    return p.string();
  }
  test::TempDir dir_{"guardrail-policy-file"};
};

TEST_F(PolicyFileTest, AValidFileIsParsedAndHashedAsRead) {
  const auto path = write(kPolicy);
  const auto file = read_policy_file(path, false);
  ASSERT_TRUE(file.policy.has_value()) << (file.errors.empty() ? "" : file.errors[0]);
  EXPECT_TRUE(file.errors.empty());
  EXPECT_EQ(file.policy->name, "reload-test");
  EXPECT_EQ(file.policy->mode, policy::Mode::Enforce);
  EXPECT_EQ(file.sha256, sha256_hex(kPolicy));
}

TEST_F(PolicyFileTest, ForceAuditPutsEveryZoneInAuditMode) {
  const auto file = read_policy_file(write(kPolicy), true);
  ASSERT_TRUE(file.policy.has_value());
  EXPECT_EQ(file.policy->mode, policy::Mode::Audit);
  EXPECT_EQ(file.policy->zones.at(0).mode, policy::Mode::Audit);
}

TEST_F(PolicyFileTest, ErrorsArePositionedAsPolicyCheckPrintsThem) {
  const std::string broken = std::string(kPolicy) + "  flows: [\n";
  const auto path = write(broken);
  const auto file = read_policy_file(path, false);
  EXPECT_FALSE(file.policy.has_value());
  ASSERT_FALSE(file.errors.empty());
  EXPECT_TRUE(file.errors[0].starts_with(path + ":")) << file.errors[0];
  EXPECT_NE(file.errors[0].find(": error: "), std::string::npos) << file.errors[0];
  EXPECT_EQ(file.sha256, sha256_hex(broken));  // the alert names what was refused
}

TEST_F(PolicyFileTest, AnUnreadableFileHasNoHash) {
  const auto file = read_policy_file((dir_.path() / "missing.yaml").string(), false);
  EXPECT_FALSE(file.policy.has_value());
  ASSERT_EQ(file.errors.size(), 1u);
  EXPECT_NE(file.errors[0].find("cannot read"), std::string::npos) << file.errors[0];
  EXPECT_TRUE(file.sha256.empty());
}

std::vector<probe::GuardBackend> fallback_backends() {
  return {{Guard::RawSockets, Backend::CgroupSock, "prevention", ""},
          {Guard::RuntimeSockets, Backend::CgroupConnectUnix, "prevention", ""},
          {Guard::Capabilities, Backend::TpBtf, "detection", ""},
          {Guard::Mounts, Backend::Unavailable, "none", "no raw syscall tracepoint"},
          {Guard::Bpf, Backend::Tracepoint, "detection", ""}};
}

TEST(GuardsNeedingRestart, OnTheFallbackOnlyGuardsLoadedAtStartUpRun) {
  const auto backends = fallback_backends();
  EXPECT_EQ(guards_needing_restart({Guard::RawSockets, Guard::Capabilities}, {Guard::RawSockets},
                                   &backends),
            std::set<Guard>{Guard::Capabilities});
  EXPECT_TRUE(guards_needing_restart({Guard::RawSockets}, {Guard::RawSockets, Guard::Capabilities},
                                     &backends)
                  .empty());  // fewer guards: their programs stay loaded, the maps say no
}

TEST(GuardsNeedingRestart, TheBpfGuardAlwaysLoads) {
  const auto backends = fallback_backends();
  EXPECT_TRUE(guards_needing_restart({Guard::Bpf}, {}, &backends).empty());
}

TEST(GuardsNeedingRestart, AGuardThisKernelCannotRunIsNoRestartsBusiness) {
  const auto backends = fallback_backends();
  EXPECT_TRUE(guards_needing_restart({Guard::Mounts}, {}, &backends).empty());
}

TEST(GuardsNeedingRestart, TheLsmObjectLoadsEveryGuard) {
  const std::vector<probe::GuardBackend> lsm = {{Guard::Capabilities, Backend::Lsm, "", ""},
                                                {Guard::Mounts, Backend::Lsm, "", ""}};
  EXPECT_TRUE(guards_needing_restart({Guard::Capabilities, Guard::Mounts}, {}, &lsm).empty());
}

TEST(GuardsNeedingRestart, NoHostGuardObjectMeansUnavailableNotRestart) {
  EXPECT_TRUE(guards_needing_restart({Guard::Capabilities}, {}, nullptr).empty());
}

TEST(GuardList, NamesEachGuard) {
  EXPECT_EQ(guard_list({Guard::Capabilities, Guard::Mounts}), "capabilities, mounts");
  EXPECT_EQ(guard_list({}), "");
}

}  // namespace
}  // namespace guardrail::agent
