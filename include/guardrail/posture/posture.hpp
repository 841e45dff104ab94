// Hardening posture of a running container against the baseline (README "Running workloads
// hardened"): read from /proc (what the kernel actually applies) and from the Docker API (how it
// was configured). One-shot as `guardrail audit`, continuous in the agent.
#pragma once

#include <sys/types.h>

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "guardrail/docker/client.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail::posture {

// One check's result, by the name used in alerts and in guardrail_posture_violations_total{check}.
// The checks and their report order: check_table() in checks.hpp (apparmor only where the host
// has AppArmor enabled).
struct Finding {
  std::string check;
  bool passed = false;
  std::string detail;  // what was found, e.g. "CapEff 00000000a80425fb", "SECRET_TOKEN in env"
};

struct ContainerPosture {
  docker::Container container;
  std::vector<Finding> findings;
  bool compliant() const;  // every finding passed
};

// What /proc says of a process (the container's init): /proc/PID/status fields.
struct ProcStatus {
  unsigned long long cap_eff = 0, cap_bnd = 0;
  int seccomp = 0;  // 0 disabled, 1 strict, 2 filter
  bool no_new_privs = false;
  long uid = -1;  // effective uid as seen from the host
  // Fields the text lacked or garbled ("CapEff", "CapBnd", "Seccomp", "NoNewPrivs", "Uid"): their
  // values above are defaults, not facts, and the checks that need them fail.
  std::vector<std::string> missing;
};
// Fails when the file cannot be read or lacks one of the fields above.
Result<ProcStatus> read_proc_status(pid_t pid, const std::string& proc_root = "/proc");
ProcStatus parse_proc_status(const std::string& status_text);

// "CAP_CHOWN, CAP_NET_RAW, ..." for the bits of a capability mask (CAP_41 past the known ones).
std::string capability_names(unsigned long long mask);

// Host paths that containers may bind-mount (each with what lies below it). None by default.
using BindAllowlist = std::vector<std::string>;

// The AppArmor switch of the host: /sys/module/apparmor/parameters/enabled reads "Y".
bool host_has_apparmor(const std::string& enabled_path = "/sys/module/apparmor/parameters/enabled");

// Pure: the findings for one container from its inspect document and its init's /proc status.
std::vector<Finding> assess(const nlohmann::json& inspect, const ProcStatus& status,
                            bool host_has_apparmor);
// The same where /proc may have failed (its checks then fail with the reason; bounding_set_empty
// falls back to the configuration and says so), with an allowlist of host bind sources.
std::vector<Finding> assess(const nlohmann::json& inspect, const Result<ProcStatus>& status,
                            bool host_has_apparmor, const BindAllowlist& allowed_bind_sources);

// One container from its inspect document: reads /proc/<State.Pid>/status under proc_root.
ContainerPosture assess_container(const nlohmann::json& inspect, bool host_has_apparmor,
                                  const BindAllowlist& allowed_bind_sources = {},
                                  const std::string& proc_root = "/proc");

// Every running container of the engine behind `client`.
Result<std::vector<ContainerPosture>> audit(const docker::Client& client);
Result<std::vector<ContainerPosture>> audit(const docker::Client& client,
                                            const BindAllowlist& allowed_bind_sources);

void print_table(const std::vector<ContainerPosture>& result, std::ostream& out);
nlohmann::json to_json(const std::vector<ContainerPosture>& result);

// `guardrail audit [--json] [--docker-socket PATH]`: exit 0 when every container complies,
// 1 when one falls short, 2 when Docker cannot be reached (with the reason and the fix).
int run_audit_command(bool json, const std::string& docker_socket, std::ostream& out,
                      std::ostream& err);

}  // namespace guardrail::posture
