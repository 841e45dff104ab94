// run_probe() and the `guardrail probe [--json]` command.
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "guardrail/probe/probe.hpp"
#include "guardrail/util/cgroup2_mount.hpp"

namespace guardrail::probe {
namespace {

constexpr const char* kNeedsRoot =
    "guardrail probe: results need root (CAP_BPF + CAP_SYS_ADMIN to load BPF programs); "
    "run it as root";

std::string kernel_release() {
  utsname u{};
  return ::uname(&u) == 0 ? u.release : "unknown";
}

// Not needed since 5.11 (memcg accounting), harmless there, and required on older kernels.
void raise_memlock() {
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  ::setrlimit(RLIMIT_MEMLOCK, &unlimited);
}

void sort_by_report_order(std::vector<Feature>& features) {
  auto rank = [](const Feature& f) {
    return std::ranges::find(kFeatureNames, f.name) - kFeatureNames.begin();
  };
  std::ranges::stable_sort(features, {}, rank);
}

}  // namespace

Report run_probe() {
  auto start = std::chrono::steady_clock::now();
  Report report;
  report.kernel_release = kernel_release();
  report.cgroup2_mount = find_cgroup2_mount();
  report.features = probe_system_features(report.cgroup2_mount);

  if (::geteuid() == 0) {
    raise_memlock();
    auto programs = probe_program_features(report.cgroup2_mount);
    report.features.insert(report.features.end(), programs.begin(), programs.end());
  } else {
    // Unprivileged loads fail with EPERM, which would read like a kernel limitation: say why.
    for (auto name : kFeatureNames) {
      if (std::ranges::any_of(report.features, [&](const Feature& f) { return f.name == name; }))
        continue;
      report.features.push_back({std::string(name), false, "not probed: needs root"});
    }
  }
  sort_by_report_order(report.features);
  report.guards = choose_backends(report.features);
  report.duration_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return report;
}

int run_probe_command(bool json, std::ostream& out) {
  bool root = ::geteuid() == 0;
  Report report = run_probe();
  if (json) {
    auto doc = to_json(report);
    if (!root) doc["error"] = kNeedsRoot;
    out << doc.dump(2) << "\n";
  } else {
    if (!root) out << kNeedsRoot << "\n\n";
    print_text(report, out);
  }
  return root ? 0 : 1;
}

}  // namespace guardrail::probe
