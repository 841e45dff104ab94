// assess() on hand-written inspect documents (Engine API 1.41, in testdata/) and /proc status
// values.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>

#include "guardrail/posture/posture.hpp"

namespace guardrail::posture {
namespace {

using nlohmann::json;

// A Docker inspect document under tests/unit/posture/testdata.
json read_json(const std::string& name) {
  std::ifstream in(std::string(GUARDRAIL_SOURCE_DIR) + "/tests/unit/posture/testdata/" + name);
  EXPECT_TRUE(in) << name;
  return json::parse(in);
}

// docker run --read-only --cap-drop ALL --security-opt no-new-privileges --user 65534:65534
//   --cpus 0.5 --memory 256m --pids-limit 64 --tmpfs /run/secrets -v agent-cache:/cache
//   -e LANG=C.UTF-8 registry.example/agent:1.4
json hardened_inspect() { return read_json("inspect_hardened.json"); }

ProcStatus hardened_proc() {
  return {.cap_eff = 0, .cap_bnd = 0, .seccomp = 2, .no_new_privs = true, .uid = 65534};
}

// docker run --privileged -v /var/run/docker.sock:/var/run/docker.sock -e SECRET_TOKEN=x nginx
json privileged_inspect() { return read_json("inspect_privileged.json"); }

ProcStatus privileged_proc() {
  return {.cap_eff = 0x1ffffffffffULL,
          .cap_bnd = 0x1ffffffffffULL,
          .seccomp = 0,
          .no_new_privs = false,
          .uid = 0};
}

std::map<std::string, Finding> by_check(const std::vector<Finding>& findings) {
  std::map<std::string, Finding> out;
  for (const auto& f : findings) EXPECT_TRUE(out.emplace(f.check, f).second) << f.check;
  return out;
}

std::vector<std::string> names(const std::vector<Finding>& findings) {
  std::vector<std::string> out;
  for (const auto& f : findings) out.push_back(f.check);
  return out;
}

// Every check in report order, with its detail on the hardened and on the privileged container.
struct ExpectedDetail {
  const char* check;
  const char* hardened;
  const char* privileged;
};
const ExpectedDetail kDetails[] = {
    {"capabilities_dropped", "CapEff 0000000000000000",
     "CapEff 000001ffffffffff (41 capabilities)"},
    {"bounding_set_empty", "CapBnd 0000000000000000; HostConfig.CapDrop [ALL], CapAdd []",
     "CapBnd 000001ffffffffff; HostConfig.CapDrop [], CapAdd []"},
    {"seccomp_filter", "Seccomp 2 (filter)", "Seccomp 0 (disabled)"},
    {"no_new_privs", "NoNewPrivs 1", "NoNewPrivs 0 (--security-opt no-new-privileges sets it)"},
    {"non_root_uid", "uid 65534 (baseline 65534); Config.User \"65534:65534\"",
     "uid 0 (baseline 65534); Config.User \"\""},
    {"read_only_rootfs", "HostConfig.ReadonlyRootfs true", "HostConfig.ReadonlyRootfs false"},
    {"no_host_mounts", "no host bind mounts",
     "host bind mounts: /var/run/docker.sock -> /var/run/docker.sock"},
    {"no_runtime_socket", "no runtime socket mounted",
     "runtime socket reachable through: /var/run/docker.sock -> /var/run/docker.sock"},
    {"no_secret_env", "no secret-like names in Config.Env",
     "SECRET_TOKEN in env (pass secrets as files on tmpfs)"},
    {"cpu_limit", "HostConfig.NanoCpus 500000000, CpuQuota 0, CpuPeriod 0",
     "HostConfig.NanoCpus 0, CpuQuota 0, CpuPeriod 0 (set --cpus)"},
    {"memory_limit", "HostConfig.Memory 268435456", "HostConfig.Memory 0 (set --memory)"},
    {"pids_limit", "HostConfig.PidsLimit 64", "HostConfig.PidsLimit 0 (set --pids-limit)"},
    {"not_privileged", "HostConfig.Privileged false", "HostConfig.Privileged true"},
    {"apparmor", "AppArmorProfile \"docker-default\"", "AppArmorProfile \"unconfined\""},
};

const std::vector<std::string> kAllChecks = [] {
  std::vector<std::string> out;
  for (const auto& row : kDetails) out.push_back(row.check);
  return out;
}();

TEST(PostureChecks, HardenedContainerPassesEveryCheck) {
  const auto findings = assess(hardened_inspect(), hardened_proc(), true);
  EXPECT_EQ(names(findings), kAllChecks);
  for (const auto& f : findings) EXPECT_TRUE(f.passed) << f.check << ": " << f.detail;
  auto f = by_check(findings);
  for (const auto& row : kDetails) EXPECT_EQ(f[row.check].detail, row.hardened) << row.check;
}

TEST(PostureChecks, NoAppArmorCheckWhereTheHostHasNone) {
  const auto findings = assess(hardened_inspect(), hardened_proc(), false);
  std::vector<std::string> expected(kAllChecks.begin(), kAllChecks.end() - 1);
  EXPECT_EQ(names(findings), expected);
}

TEST(PostureChecks, PrivilegedContainerFailsEachCheckByName) {
  const auto findings = assess(privileged_inspect(), privileged_proc(), true);
  EXPECT_EQ(names(findings), kAllChecks);
  auto f = by_check(findings);
  for (const auto& name : kAllChecks) EXPECT_FALSE(f[name].passed) << name;
  for (const auto& row : kDetails) EXPECT_EQ(f[row.check].detail, row.privileged) << row.check;

  for (const auto& finding : findings) EXPECT_EQ(finding.detail.find("=x"), std::string::npos);
}

TEST(PostureChecks, SecretValuesNeverAppearOnlyNames) {
  auto inspect = hardened_inspect();
  inspect["Config"]["Env"] = {"db_password=hunter2-Zq9", "API_KEY=AKIAZZZZ0000", "AUTH_TOKEN",
                              "ClientSecret=s3cr3t=with=equals", "LANG=C.UTF-8"};
  const auto findings = assess(inspect, hardened_proc(), false);
  auto f = by_check(findings);
  EXPECT_FALSE(f["no_secret_env"].passed);
  EXPECT_EQ(
      f["no_secret_env"].detail,
      "db_password, API_KEY, AUTH_TOKEN, ClientSecret in env (pass secrets as files on tmpfs)");
  for (const char* value : {"hunter2", "AKIAZZZZ", "s3cr3t", "with=equals"})
    for (const auto& finding : findings)
      EXPECT_EQ(finding.detail.find(value), std::string::npos) << finding.check;
}

TEST(PostureChecks, RuntimeSocketThroughDirectoriesAndOtherNames) {
  struct Case {
    const char* type;
    const char* source;
    const char* destination;
    bool exposed;
  };
  const Case cases[] = {
      {"bind", "/run", "/host-run", true},
      {"bind", "/var/run/", "/host-run", true},
      {"bind", "/run/containerd", "/c", true},
      {"bind", "/", "/host", true},
      {"bind", "/var", "/host-var", true},
      {"bind", "/run/crio/crio.sock", "/crio.sock", true},
      {"bind", "/home/u/.docker/run/docker.sock", "/sock", true},  // rootless
      {"bind", "/srv/api.sock", "/var/run/docker.sock", true},     // by its name inside
      {"bind", "/run/user/1000/containerd.sock", "/x", true},
      {"bind", "/srv/data", "/data", false},
      {"bind", "/run/secrets", "/s", false},
      {"volume", "/var/lib/docker/volumes/run/_data", "/run", false},
      {"tmpfs", "", "/run", false},
  };
  for (const auto& c : cases) {
    auto inspect = hardened_inspect();
    inspect["Mounts"] =
        json::array({{{"Type", c.type}, {"Source", c.source}, {"Destination", c.destination}}});
    auto f = by_check(assess(inspect, hardened_proc(), false));
    EXPECT_EQ(f["no_runtime_socket"].passed, !c.exposed) << c.source << " -> " << c.destination;
    if (c.exposed)
      EXPECT_EQ(f["no_runtime_socket"].detail, std::string("runtime socket reachable through: ") +
                                                   c.source + " -> " + c.destination);
    EXPECT_EQ(f["no_host_mounts"].passed, std::string(c.type) != "bind") << c.source;
  }
}

TEST(PostureChecks, BindAllowlistCoversPathsBelowItOnly) {
  auto inspect = hardened_inspect();
  inspect["Mounts"] = json::array({
      {{"Type", "bind"}, {"Source", "/srv/models/llama"}, {"Destination", "/models"}},
      {{"Type", "bind"}, {"Source", "/srv/models-private"}, {"Destination", "/p"}},
      {{"Type", "bind"}, {"Source", "/srv/models/../../etc"}, {"Destination", "/e"}},
  });
  auto f = by_check(assess(inspect, hardened_proc(), false, {"/srv/models/"}));
  EXPECT_FALSE(f["no_host_mounts"].passed);
  EXPECT_EQ(f["no_host_mounts"].detail,
            "host bind mounts: /srv/models-private -> /p, /srv/models/../../etc -> /e; "
            "allowed: /srv/models/llama -> /models");
}

TEST(PostureChecks, AllowedBindAloneComplies) {
  auto inspect = hardened_inspect();
  inspect["Mounts"].push_back(
      {{"Type", "bind"}, {"Source", "/srv/models/llama"}, {"Destination", "/models"}});
  auto f = by_check(assess(inspect, hardened_proc(), false, {"/srv/models"}));
  EXPECT_TRUE(f["no_host_mounts"].passed);
  EXPECT_EQ(f["no_host_mounts"].detail,
            "no host bind mounts; allowed: /srv/models/llama -> /models");
  // Without the allowlist (the default) the same mount fails.
  EXPECT_FALSE(by_check(assess(inspect, hardened_proc(), false))["no_host_mounts"].passed);
}

TEST(PostureChecks, UnreadableProcFailsProcChecksWithReasonAndBoundingSetFallsBackToConfig) {
  const Result<ProcStatus> gone = fail("cannot read /proc/41234/status: No such file or directory");
  auto f = by_check(assess(hardened_inspect(), gone, false, {}));
  for (const char* name :
       {"capabilities_dropped", "seccomp_filter", "no_new_privs", "non_root_uid"}) {
    EXPECT_FALSE(f[name].passed) << name;
    EXPECT_EQ(f[name].detail,
              "cannot tell: cannot read /proc/41234/status: No such file or directory");
  }
  EXPECT_TRUE(f["bounding_set_empty"].passed);
  EXPECT_EQ(f["bounding_set_empty"].detail,
            "from the configuration only (cannot read /proc/41234/status: No such file or "
            "directory): HostConfig.CapDrop [ALL], CapAdd []");
  EXPECT_TRUE(f["read_only_rootfs"].passed);  // the configuration checks still run

  // CapDrop ALL but a capability added back: not empty.
  auto added = hardened_inspect();
  added["HostConfig"]["CapAdd"] = {"NET_BIND_SERVICE"};
  auto g = by_check(assess(added, gone, false, {}));
  EXPECT_FALSE(g["bounding_set_empty"].passed);
}

TEST(PostureChecks, ProcTruthWinsOverConfiguredCapDrop) {
  ProcStatus s = hardened_proc();
  s.cap_bnd = 1ULL << 10;  // CAP_NET_BIND_SERVICE left in the bounding set
  s.cap_eff = 1ULL << 10;
  auto f = by_check(assess(hardened_inspect(), s, false));
  EXPECT_FALSE(f["bounding_set_empty"].passed);
  EXPECT_EQ(f["bounding_set_empty"].detail,
            "CapBnd 0000000000000400; HostConfig.CapDrop [ALL], CapAdd []");
  EXPECT_EQ(f["capabilities_dropped"].detail, "CapEff 0000000000000400 (CAP_NET_BIND_SERVICE)");
}

TEST(PostureChecks, FieldsMissingFromProcFailTheirChecks) {
  ProcStatus s = hardened_proc();
  s.missing = {"CapEff", "Seccomp"};
  auto f = by_check(assess(hardened_inspect(), s, false));
  EXPECT_FALSE(f["capabilities_dropped"].passed);
  EXPECT_EQ(f["capabilities_dropped"].detail,
            "cannot tell: /proc/41234/status has no readable CapEff line");
  EXPECT_FALSE(f["seccomp_filter"].passed);
  EXPECT_TRUE(f["no_new_privs"].passed);
  EXPECT_TRUE(f["bounding_set_empty"].passed);
}

TEST(PostureChecks, AbsentConfigurationFailsRatherThanPasses) {
  json bare = {{"Id", "abc"}, {"State", {{"Pid", 1}}}};
  auto f = by_check(assess(bare, hardened_proc(), true));
  for (const char* name : {"read_only_rootfs", "cpu_limit", "memory_limit", "pids_limit",
                           "not_privileged", "apparmor"})
    EXPECT_FALSE(f[name].passed) << name;
  EXPECT_EQ(f["not_privileged"].detail, "HostConfig.Privileged absent");
  EXPECT_EQ(f["read_only_rootfs"].detail, "HostConfig.ReadonlyRootfs absent");
  EXPECT_EQ(f["apparmor"].detail, "AppArmorProfile empty (host has AppArmor)");
  EXPECT_TRUE(f["no_host_mounts"].passed);
  EXPECT_TRUE(f["no_secret_env"].passed);
}

TEST(PostureChecks, CpuQuotaCountsAndUnlimitedPidsDoesNot) {
  auto inspect = hardened_inspect();
  inspect["HostConfig"]["NanoCpus"] = 0;
  inspect["HostConfig"]["CpuQuota"] = 50000;
  inspect["HostConfig"]["CpuPeriod"] = 100000;
  inspect["HostConfig"]["PidsLimit"] = -1;
  auto f = by_check(assess(inspect, hardened_proc(), false));
  EXPECT_TRUE(f["cpu_limit"].passed);
  EXPECT_EQ(f["cpu_limit"].detail, "HostConfig.NanoCpus 0, CpuQuota 50000, CpuPeriod 100000");
  EXPECT_FALSE(f["pids_limit"].passed);
  EXPECT_EQ(f["pids_limit"].detail, "HostConfig.PidsLimit -1 (set --pids-limit)");
}

}  // namespace
}  // namespace guardrail::posture
