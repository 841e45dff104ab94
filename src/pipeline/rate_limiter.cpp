#include "guardrail/pipeline/rate_limiter.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

#include "guardrail.h"
#include "guardrail/events/events.hpp"

namespace guardrail::pipeline {

namespace {
constexpr std::uint64_t kSweepEveryNs = 60'000'000'000;

double clamp_burst(double burst) { return burst < 1 ? 1 : burst; }

std::string known_kinds() {
  std::string out;
  for (std::uint16_t t = 1; t < 256; t++)
    if (events::kind_name(t) != "unknown")
      out += (out.empty() ? "" : ", ") + std::string(events::kind_name(t));
  return out;
}

Result<double> parse_number(std::string_view text, std::string_view what, std::string_view spec) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value))
    return fail("--rate-limit-kind '" + std::string(spec) + "': " + std::string(what) + " '" +
                std::string(text) + "' is not a number");
  if (value < 0)
    return fail("--rate-limit-kind '" + std::string(spec) + "': " + std::string(what) +
                " must not be negative");
  return value;
}

}  // namespace

Result<std::pair<std::uint16_t, KindBudget>> parse_kind_budget(std::string_view spec) {
  const auto eq = spec.find('=');
  if (eq == std::string_view::npos)
    return fail("--rate-limit-kind '" + std::string(spec) +
                "': expected KIND=RATE or KIND=RATE/BURST, e.g. mount=5/20");
  const std::string_view kind = spec.substr(0, eq);
  std::string_view numbers = spec.substr(eq + 1);
  std::uint16_t type = 0;
  for (std::uint16_t t = 1; t < 256 && type == 0; t++)
    if (events::kind_name(t) == kind) type = t;
  if (type == 0)
    return fail("--rate-limit-kind '" + std::string(spec) + "': unknown kind '" +
                std::string(kind) + "' (kinds: " + known_kinds() + ")");
  const auto slash = numbers.find('/');
  auto rate = parse_number(numbers.substr(0, slash), "the rate", spec);
  if (!rate) return propagate(rate);
  KindBudget budget{*rate, std::max(1.0, 2 * *rate)};
  if (slash != std::string_view::npos) {
    auto burst = parse_number(numbers.substr(slash + 1), "the burst", spec);
    if (!burst) return propagate(burst);
    if (*burst < 1 && *rate > 0)
      return fail("--rate-limit-kind '" + std::string(spec) + "': the burst must be at least 1");
    budget.burst = *burst;
  }
  return std::pair{type, budget};
}

RateLimiter::RateLimiter(KindBudget fallback, std::map<std::uint16_t, KindBudget> per_kind)
    : fallback_{fallback.rate, clamp_burst(fallback.burst)}, per_kind_(std::move(per_kind)) {
  for (auto& [kind, b] : per_kind_) b.burst = clamp_burst(b.burst);
}

const KindBudget& RateLimiter::budget(std::uint16_t kind) const {
  auto it = per_kind_.find(kind);
  return it == per_kind_.end() ? fallback_ : it->second;
}

bool RateLimiter::limits_anything() const {
  return fallback_.rate > 0 ||
         std::any_of(per_kind_.begin(), per_kind_.end(), [](auto& e) { return e.second.rate > 0; });
}

bool RateLimiter::allow(std::uint32_t workload_id, std::uint16_t kind, std::uint64_t now_ns) {
  const KindBudget& limit = budget(kind);
  if (limit.rate <= 0) return true;
  forget_idle(now_ns);
  const std::uint64_t key = std::uint64_t(workload_id) << 16 | kind;
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{limit.burst, now_ns, kind});
  Bucket& b = it->second;
  if (!fresh && now_ns > b.refilled_ns) {
    b.tokens = std::min(limit.burst, b.tokens + double(now_ns - b.refilled_ns) * limit.rate / 1e9);
    b.refilled_ns = now_ns;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

// A bucket that has refilled completely behaves like a new one: drop it, so the map holds only
// (workload, kind) pairs that alerted recently.
void RateLimiter::forget_idle(std::uint64_t now_ns) {
  if (now_ns - last_sweep_ns_ < kSweepEveryNs) return;
  last_sweep_ns_ = now_ns;
  std::erase_if(buckets_, [&](const auto& entry) {
    const Bucket& b = entry.second;
    const KindBudget& limit = budget(b.kind);
    return b.tokens + double(now_ns - b.refilled_ns) * limit.rate / 1e9 >= limit.burst;
  });
}

}  // namespace guardrail::pipeline
