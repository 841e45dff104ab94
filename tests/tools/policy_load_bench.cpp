// Policy load at scale, measured (not a test): for each rule count given, a zone with that many
// /32 egress rules is compiled and applied twice (a first load and a swap), printing the time of
// each phase and the kernel memory the maps took (/proc/meminfo Slab, before and after).
//   sudo build-dev/tests/guardrail_policy_load_bench 1000 10000 100000 1000000
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "guardrail/loader/policy_maps.hpp"
#include "guardrail/policy/compile.hpp"

using namespace guardrail;
using Clock = std::chrono::steady_clock;

namespace {

long slab_kib() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  long value = 0;
  std::string unit;
  while (in >> key >> value >> unit)
    if (key == "Slab:") return value;
  return 0;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

policy::Policy policy_of(std::size_t n) {
  policy::Policy p;
  p.name = "bench";
  policy::Zone z;
  z.name = "agents";
  z.cgroup_globs = {"/guardrail-bench/*"};
  z.egress.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    policy::EgressRule r;
    r.cidr.addr = {0,
                   0,
                   0,
                   0,
                   0,
                   0,
                   0,
                   0,
                   0,
                   0,
                   0xff,
                   0xff,
                   10,
                   static_cast<std::uint8_t>(i >> 16),
                   static_cast<std::uint8_t>(i >> 8),
                   static_cast<std::uint8_t>(i)};
    r.cidr.prefix_len = 32;
    r.cidr.family = AF_INET;
    r.protocol = policy::Protocol::Tcp;
    r.ports = {{443, 443}};
    z.egress.push_back(std::move(r));
  }
  p.zones.push_back(std::move(z));
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "needs root\n");
    return 77;
  }
  std::printf("%10s %10s %10s %10s %12s %14s\n", "rules", "compile_ms", "apply_ms", "swap_ms",
              "slab_MiB", "bytes/entry");
  for (int a = 1; a < argc; ++a) {
    const std::size_t n = std::stoul(argv[a]);
    const auto policy = policy_of(n);
    auto t = Clock::now();
    auto compiled = policy::compile(policy, {});
    const double compile_ms = ms_since(t);
    if (!compiled) {
      std::fprintf(stderr, "%s\n", compiled.error().message.c_str());
      return 1;
    }
    auto maps = PolicyMaps::create({});
    if (!maps) {
      std::fprintf(stderr, "%s\n", maps.error().message.c_str());
      return 1;
    }
    const long slab_before = slab_kib();
    t = Clock::now();
    if (auto r = (*maps)->apply(*compiled, 0, GR_WORKLOAD_ID_BASE); !r) {
      std::fprintf(stderr, "%s\n", r.error().message.c_str());
      return 1;
    }
    const double apply_ms = ms_since(t);
    const long slab_after = slab_kib();
    t = Clock::now();
    if (auto r = (*maps)->apply(*compiled, 0, GR_WORKLOAD_ID_BASE); !r) return 1;
    const double swap_ms = ms_since(t);
    const double mib = (slab_after - slab_before) / 1024.0;
    std::printf("%10zu %10.1f %10.1f %10.1f %12.1f %14.0f\n", compiled->egress.size(), compile_ms,
                apply_ms, swap_ms, mib,
                (slab_after - slab_before) * 1024.0 / compiled->egress.size());
  }
  return 0;
}
