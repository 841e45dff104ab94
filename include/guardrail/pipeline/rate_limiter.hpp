// Token buckets per workload and kind: a noisy workload cannot drown everyone else's alerts, and
// a workload's flood of one kind (refused connects) cannot drown its own alerts of another kind
// (a mount). What is refused is counted by the caller, never dropped silently.
#pragma once

#include <cstdint>
#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "guardrail/util/result.hpp"

namespace guardrail::pipeline {

// A kind's budget: `rate` alerts per second per workload, at most `burst` saved up. A zero rate
// disables limiting for the kind.
struct KindBudget {
  double rate = 50;
  double burst = 100;
  bool operator==(const KindBudget&) const = default;
};

// "KIND=RATE" or "KIND=RATE/BURST" (the form of --rate-limit-kind), e.g. "mount=5/20". The
// kind is an alert kind name (net_connect, mount, ...); the burst defaults to twice the rate
// (at least 1). Fails naming the kind or number that is wrong and the known kinds.
Result<std::pair<std::uint16_t, KindBudget>> parse_kind_budget(std::string_view spec);

class RateLimiter {
 public:
  // Every kind gets `fallback` unless `per_kind` names it.
  explicit RateLimiter(KindBudget fallback, std::map<std::uint16_t, KindBudget> per_kind = {});
  RateLimiter(double rate, double burst) : RateLimiter(KindBudget{rate, burst}) {}

  // Takes a token from the bucket of (workload, kind); false when it is empty.
  bool allow(std::uint32_t workload_id, std::uint16_t kind, std::uint64_t now_ns);
  bool allow(std::uint32_t workload_id, std::uint64_t now_ns) {
    return allow(workload_id, 0, now_ns);
  }
  // False when no kind is limited (every rate is 0): nothing can ever be refused.
  bool limits_anything() const;
  bool limits(std::uint16_t kind) const { return budget(kind).rate > 0; }
  std::size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    std::uint64_t refilled_ns;
    std::uint16_t kind;
  };
  const KindBudget& budget(std::uint16_t kind) const;
  void forget_idle(std::uint64_t now_ns);

  KindBudget fallback_;
  std::map<std::uint16_t, KindBudget> per_kind_;
  std::unordered_map<std::uint64_t, Bucket> buckets_;  // (workload << 16 | kind) -> bucket
  std::uint64_t last_sweep_ns_ = 0;
};

}  // namespace guardrail::pipeline
