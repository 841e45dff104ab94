#include "privileges.hpp"

#include <fstream>
#include <utility>

namespace guardrail::agent {

std::string missing_capabilities(std::uint64_t effective) {
  // Loading and attaching cgroup programs (CAP_BPF, CAP_NET_ADMIN), tracing programs
  // (CAP_PERFMON), entering workloads' network namespaces and making cgroups (CAP_SYS_ADMIN).
  static constexpr std::pair<int, const char*> kNeeded[] = {
      {39, "CAP_BPF"}, {12, "CAP_NET_ADMIN"}, {38, "CAP_PERFMON"}, {21, "CAP_SYS_ADMIN"}};
  const bool sys_admin = effective & (std::uint64_t{1} << 21);
  std::string missing;
  for (const auto& [bit, name] : kNeeded) {
    if (effective & (std::uint64_t{1} << bit)) continue;
    if (sys_admin && (bit == 39 || bit == 38)) continue;
    missing += std::string(missing.empty() ? "" : ", ") + name;
  }
  return missing;
}

std::uint64_t effective_capabilities() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("CapEff:")) return std::stoull(line.substr(7), nullptr, 16);
  return ~std::uint64_t{0};
}

}  // namespace guardrail::agent
