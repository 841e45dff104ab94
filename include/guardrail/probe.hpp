// What this kernel supports, found by loading a tiny program for each feature (never by reading
// the kernel config: a kernel can list `bpf` among its LSMs and still refuse LSM programs), and
// which backend each guard will use as a result.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace guardrail::probe {

struct Feature {
  std::string name;  // e.g. "btf", "ringbuf", "cgroup_skb", "bpf_lsm"
  bool available = false;
  std::string reason;  // why yes or no, e.g. "program load: Operation not permitted"
};

struct GuardBackend {
  std::string guard;      // "network", "raw-sockets", "runtime-sockets", "capabilities", "mounts"
  std::string backend;    // e.g. "cgroup_sock_addr+cgroup_skb", "lsm", "cgroup_sock", "unavailable"
  std::string guarantee;  // "prevention", "detection (+kill)", "none"
};

struct Report {
  std::string kernel_release;
  std::string cgroup2_mount;  // empty when cgroup v2 is not mounted
  std::vector<Feature> features;
  std::vector<GuardBackend> guards;

  bool has(const std::string& feature) const;
  const GuardBackend* guard(const std::string& name) const;
};

// Probes the running kernel. Needs root (CAP_BPF + CAP_SYS_ADMIN); without it every program
// feature is reported unavailable with the reason.
Report run_probe();

void print_text(const Report& report, std::ostream& out);
nlohmann::json to_json(const Report& report);

// `guardrail probe [--json]`. Returns the process exit code.
int run_probe_command(bool json, std::ostream& out);

}  // namespace guardrail::probe
