// The probe's chooser and the host guard loader agree: every backend the chooser can answer, on
// any combination of kernel features, is one HostGuard::load loads. (Once, the chooser could
// answer lsm_cgroup, which no loader loaded: the guard looked protected and was not.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "guardrail/loader/host_guard.hpp"
#include "guardrail/probe/probe.hpp"

namespace guardrail {
namespace {

std::vector<probe::Feature> features_of(unsigned mask) {
  std::vector<probe::Feature> features;
  for (std::size_t i = 0; i < probe::kFeatureNames.size(); ++i)
    features.push_back({std::string(probe::kFeatureNames[i]), ((mask >> i) & 1) != 0, "test"});
  return features;
}

TEST(HostGuardBackends, EveryBackendTheChooserAnswersIsOneTheLoaderLoads) {
  static_assert(probe::kFeatureNames.size() < 32);
  const unsigned combinations = 1u << probe::kFeatureNames.size();
  for (unsigned mask = 0; mask < combinations; ++mask)
    for (const auto& g : probe::choose_backends(features_of(mask))) {
      if (g.guard == Guard::Network) continue;
      ASSERT_TRUE(HostGuard::loads(g.guard, g.backend))
          << guard_name(g.guard) << " on " << backend_name(g.backend) << " (features mask " << mask
          << ")";
    }
}

TEST(HostGuardBackends, TheLoaderRefusesWhatItHasNoProgramFor) {
  EXPECT_FALSE(HostGuard::loads(Guard::Mounts, Backend::LsmCgroup));
  EXPECT_FALSE(HostGuard::loads(Guard::Capabilities, Backend::Tracepoint));
  EXPECT_FALSE(HostGuard::loads(Guard::Network, Backend::CgroupSockAddrSkb));
  EXPECT_TRUE(HostGuard::loads(Guard::Bpf, Backend::Lsm));
  EXPECT_TRUE(HostGuard::loads(Guard::RawSockets, Backend::CgroupSock));
}

}  // namespace
}  // namespace guardrail
