// Where the cgroup v2 hierarchy is mounted. cgroup-attached programs and
// bpf_get_current_cgroup_id() both use the v2 hierarchy, so every cgroup path the agent opens
// must be under this mount: /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a
// hybrid one (v1 controllers beside it), anything at all on a hand-configured one.
#pragma once

#include <string>
#include <string_view>

namespace guardrail {

// Picks the cgroup2 mount point out of a mount table in /proc/self/mounts format. Prefers
// /sys/fs/cgroup, then /sys/fs/cgroup/unified, then the first cgroup2 line (a host can mount
// the same hierarchy twice). Octal escapes in the path (`\040` for a space) are decoded.
// Returns "" when no line has type cgroup2.
std::string parse_cgroup2_mount(std::string_view mount_table);

// parse_cgroup2_mount() of the file (default /proc/self/mounts); "" if it cannot be read.
std::string find_cgroup2_mount(const std::string& mounts_file = "/proc/self/mounts");

}  // namespace guardrail
