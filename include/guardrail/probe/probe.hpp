// What this kernel supports, found by loading a tiny program for each feature (never by reading
// the kernel config: a kernel can list `bpf` among its LSMs and still refuse LSM programs), and
// which backend each guard will use as a result.
#pragma once

#include <array>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "guardrail/events/guards.hpp"

namespace guardrail::probe {

struct Feature {
  std::string name;  // e.g. "btf", "ringbuf", "cgroup_skb", "bpf_lsm"
  bool available = false;
  std::string reason;  // why yes or no, e.g. "program load: Operation not permitted"
};

struct GuardBackend {
  Guard guard = Guard::Network;
  Backend backend = Backend::Unavailable;  // e.g. CgroupSockAddrSkb, Lsm, CgroupSock, Unavailable
  std::string guarantee;                   // "prevention", "detection (+kill)", "none"
  std::string note;  // plain sentence when the guard fell back or is unavailable, else ""
};

struct Report {
  std::string kernel_release;
  std::string cgroup2_mount;  // empty when cgroup v2 is not mounted
  std::vector<Feature> features;
  std::vector<GuardBackend> guards;
  double duration_ms = 0;  // wall time of run_probe(): it runs at every agent start

  bool has(const std::string& feature) const;
  const GuardBackend* guard(Guard guard) const;
};

// Every feature run_probe() reports, in report order.
// clang-format off
inline constexpr std::array<std::string_view, 14> kFeatureNames = {
    "btf", "ringbuf", "cgroup2", "bpffs",
    "cgroup_skb", "cgroup_sock_addr", "cgroup_connect_unix", "cgroup_sock_create",
    "bpf_lsm", "lsm_cgroup", "tracepoint", "tp_btf", "bpf_send_signal", "cgroup_mkdir"};
// clang-format on

// The design's backend table as a pure function of the feature results: for each guard, in the
// order of kGuards, the strongest backend whose features are available (a feature missing from
// the list counts as unavailable). It only answers backends the loaders load: lsm_cgroup is never
// chosen (the host guards attach LSM programs host-wide and scope them by a map lookup).
std::vector<GuardBackend> choose_backends(const std::vector<Feature>& features);

// Building blocks of run_probe(), callable alone.
// btf, cgroup2, bpffs: files and mounts only, no privilege needed.
std::vector<Feature> probe_system_features(const std::string& cgroup2_mount);
// ringbuf and every program feature: loads (and attaches) the programs of feature_probe.bpf.c.
// Needs root. Cgroup programs are attached to a scratch child of cgroup2_mount, removed
// afterwards; with cgroup2_mount empty they are only loaded. The syscall tracepoint's detach
// waits out an RCU grace period (~80 ms), so it finishes on a detached background thread.
std::vector<Feature> probe_program_features(const std::string& cgroup2_mount);
// Whether a file system of the given statfs magic is mounted at path.
bool fs_mounted(const char* path, long magic);

// Probes the running kernel. Needs root (CAP_BPF + CAP_SYS_ADMIN); without it every program
// feature is reported unavailable with the reason.
Report run_probe();

void print_text(const Report& report, std::ostream& out);
// Whether containers made under a parent shared with host services (the systemd driver's
// /system.slice) are covered from their first instruction on this kernel, in words.
std::string birth_coverage_note(const Report& report);
nlohmann::json to_json(const Report& report);

// `guardrail probe [--json]`. Returns the process exit code.
int run_probe_command(bool json, std::ostream& out);

}  // namespace guardrail::probe
