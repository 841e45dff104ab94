#include "guardrail/policy/vocabulary.hpp"

namespace guardrail::policy {

const std::vector<std::string> kPostureChecks = {"capabilities_dropped", "bounding_set_empty",
                                                 "seccomp_filter",       "no_new_privs",
                                                 "non_root_uid",         "read_only_rootfs",
                                                 "no_host_mounts",       "no_runtime_socket",
                                                 "no_secret_env",        "cpu_limit",
                                                 "memory_limit",         "pids_limit",
                                                 "not_privileged",       "apparmor"};

const std::vector<std::string> kDefaultRuntimeSockets = {
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/docker/containerd/containerd.sock",
    "/var/run/docker/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
};

}  // namespace guardrail::policy
