// Per-workload token buckets: a noisy workload cannot drown everyone else's alerts. What is
// refused is counted by the caller, never dropped silently.
#pragma once

#include <cstdint>
#include <unordered_map>

namespace guardrail::pipeline {

class RateLimiter {
 public:
  // `rate` tokens per second, at most `burst` saved up. A zero rate disables limiting.
  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst < 1 ? 1 : burst) {}

  bool allow(std::uint32_t workload_id, std::uint64_t now_ns);
  std::size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    std::uint64_t refilled_ns;
  };
  void forget_idle(std::uint64_t now_ns);

  double rate_;
  double burst_;
  std::unordered_map<std::uint32_t, Bucket> buckets_;
  std::uint64_t last_sweep_ns_ = 0;
};

}  // namespace guardrail::pipeline
