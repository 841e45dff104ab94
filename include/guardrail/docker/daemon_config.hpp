// Where the Docker daemon creates its containers' cgroups, from the daemon itself: its cgroup
// driver (GET /info), its --cgroup-parent (the dockerd process behind the API socket, found by
// SO_PEERCRED: its command line, else the daemon.json it reads), never a hard-coded path.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "guardrail/util/result.hpp"

namespace guardrail::docker {

// The pid of the process that listens on a unix socket (SO_PEERCRED of a fresh connection).
Result<pid_t> socket_owner_pid(const std::string& socket_path);

// A process's command line, one argument per element; empty when it cannot be read.
std::vector<std::string> process_argv(pid_t pid);

// The daemon's configured cgroup parent: --cgroup-parent on its command line, else the
// "cgroup-parent" of its daemon.json (--config-file, default /etc/docker/daemon.json), read
// under `root` (the daemon's root directory, "/proc/PID/root", so that a containerized agent
// reads the host's file); "" when neither sets one.
std::string configured_cgroup_parent(const std::vector<std::string>& argv,
                                     const std::string& root = "");

// A systemd slice unit as its cgroup path: "a-b.slice" -> "/a.slice/a-b.slice", "-.slice" -> "".
std::string slice_path(const std::string& slice);

// The cgroup (v2 path, "/docker") under which the daemon creates container cgroups, given its
// cgroup driver ("cgroupfs" or "systemd"), its configured parent ("" for the default) and its
// own cgroup (a relative cgroupfs parent is below the cgroup the runtime runs in: the daemon's).
std::string containers_parent(const std::string& driver, const std::string& configured,
                              const std::string& daemon_cgroup);

// Whether new cgroups under `parent` may be put in the default zone until identified: a parent
// that holds only containers, never where host services live (the root, system.slice,
// user.slice, init.scope).
bool parent_holds_only_containers(const std::string& parent);

}  // namespace guardrail::docker
