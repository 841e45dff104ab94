#include "guardrail/pipeline/rate_limiter.hpp"

#include <algorithm>

namespace guardrail::pipeline {

namespace {
constexpr std::uint64_t kSweepEveryNs = 60'000'000'000;
}

bool RateLimiter::allow(std::uint32_t workload_id, std::uint64_t now_ns) {
  if (rate_ <= 0) return true;
  forget_idle(now_ns);
  auto [it, fresh] = buckets_.try_emplace(workload_id, Bucket{burst_, now_ns});
  Bucket& b = it->second;
  if (!fresh && now_ns > b.refilled_ns) {
    b.tokens = std::min(burst_, b.tokens + double(now_ns - b.refilled_ns) * rate_ / 1e9);
    b.refilled_ns = now_ns;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

// A bucket that has refilled completely behaves like a new one: drop it, so the map holds only
// workloads that alerted recently.
void RateLimiter::forget_idle(std::uint64_t now_ns) {
  if (now_ns - last_sweep_ns_ < kSweepEveryNs) return;
  last_sweep_ns_ = now_ns;
  std::erase_if(buckets_, [&](const auto& entry) {
    const Bucket& b = entry.second;
    return b.tokens + double(now_ns - b.refilled_ns) * rate_ / 1e9 >= burst_;
  });
}

}  // namespace guardrail::pipeline
