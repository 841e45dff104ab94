// The posture checks as one table: each check a named function over the same evidence, listed in
// report order. assess() runs the table; policy::kPostureChecks (the names spec.quarantineOn
// accepts) names the same checks in the same order, which a unit test holds it to.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "guardrail/posture/inspect.hpp"
#include "guardrail/posture/posture.hpp"

namespace guardrail::posture {

// What the checks see of one container. A view: it lives only while assess() runs.
struct Evidence {
  const nlohmann::json& inspect;
  const nlohmann::json& host;    // inspect.HostConfig
  const nlohmann::json& config;  // inspect.Config
  const Result<ProcStatus>& status;
  pid_t pid;  // inspect.State.Pid, for the messages about /proc
  std::vector<inspect::Mount> mounts;
  bool host_has_apparmor;
  const BindAllowlist& allowed_bind_sources;
};

// One check's answer; the table supplies its name.
struct Verdict {
  bool passed = false;
  std::string detail;
};

struct Check {
  std::string_view name;
  Verdict (*run)(const Evidence&);
  // Whether the check applies at all (nullptr: always); a check that does not apply is left out
  // of the report rather than passed.
  bool (*applies)(const Evidence&) = nullptr;
};

// Every check, in report order.
std::span<const Check* const> check_table();

// The checks themselves, each named as in its findings and defined with its name beside it.
namespace checks {

// From /proc (what the kernel applies): proc_checks.cpp.
extern const Check capabilities_dropped, bounding_set_empty, seccomp_filter, no_new_privs,
    non_root_uid;

// From the mounts: mount_checks.cpp.
extern const Check no_host_mounts, no_runtime_socket;

// From the configuration: config_checks.cpp.
extern const Check read_only_rootfs, not_privileged, no_secret_env, cpu_limit, memory_limit,
    pids_limit, apparmor;

}  // namespace checks
}  // namespace guardrail::posture
