// The baseline checks (README "Running workloads hardened") on one container, as one table run in
// report order: pure, from its inspect document and what /proc says of its init.
#include "guardrail/posture/checks.hpp"

#include <algorithm>
#include <array>

namespace guardrail::posture {
namespace {

using nlohmann::json;

// Report order; the names are policy::kPostureChecks, in its order (table_test.cpp holds them
// to it).
constexpr std::array kChecks = {
    &checks::capabilities_dropped, &checks::bounding_set_empty,
    &checks::seccomp_filter,       &checks::no_new_privs,
    &checks::non_root_uid,         &checks::read_only_rootfs,
    &checks::no_host_mounts,       &checks::no_runtime_socket,
    &checks::no_secret_env,        &checks::cpu_limit,
    &checks::memory_limit,         &checks::pids_limit,
    &checks::not_privileged,       &checks::apparmor,
};

}  // namespace

std::span<const Check* const> check_table() { return kChecks; }

bool ContainerPosture::compliant() const { return std::ranges::all_of(findings, &Finding::passed); }

std::vector<Finding> assess(const json& inspect, const ProcStatus& status, bool host_has_apparmor) {
  return assess(inspect, Result<ProcStatus>(status), host_has_apparmor, {});
}

std::vector<Finding> assess(const json& inspect, const Result<ProcStatus>& status,
                            bool host_has_apparmor, const BindAllowlist& allowed_bind_sources) {
  const Evidence evidence{
      .inspect = inspect,
      .host = inspect::member(inspect, "HostConfig"),
      .config = inspect::member(inspect, "Config"),
      .status = status,
      .pid = pid_t(inspect::integer(inspect::member(inspect, "State"), "Pid")),
      .mounts = inspect::mounts(inspect),
      .host_has_apparmor = host_has_apparmor,
      .allowed_bind_sources = allowed_bind_sources,
  };
  std::vector<Finding> out;
  for (const Check* check : kChecks) {
    if (check->applies && !check->applies(evidence)) continue;
    Verdict verdict = check->run(evidence);
    out.push_back({std::string(check->name), verdict.passed, std::move(verdict.detail)});
  }
  return out;
}

}  // namespace guardrail::posture
