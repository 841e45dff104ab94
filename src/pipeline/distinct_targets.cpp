#include "guardrail/pipeline/distinct_targets.hpp"

namespace guardrail::pipeline {

void DistinctTargets::forget_old(Set& set, std::uint64_t now_ns) {
  while (!set.by_age.empty() && now_ns - set.by_age.front().first >= memory_ns_) {
    set.keys.erase(set.keys.find(*set.by_age.front().second));
    set.by_age.pop_front();
  }
}

DistinctTargets::Seen DistinctTargets::offer(std::uint16_t kind, const std::string& key,
                                             std::uint64_t now_ns) {
  Set& set = kinds_[kind];
  forget_old(set, now_ns);
  if (set.keys.contains(key)) return Seen::Known;
  if (set.keys.size() >= capacity_) return Seen::Full;
  const auto [it, inserted] = set.keys.insert(key);
  set.by_age.emplace_back(now_ns, &*it);
  return Seen::New;
}

std::size_t DistinctTargets::tracked(std::uint16_t kind) const {
  auto it = kinds_.find(kind);
  return it == kinds_.end() ? 0 : it->second.keys.size();
}

std::size_t DistinctTargets::tracked() const {
  std::size_t n = 0;
  for (const auto& [kind, set] : kinds_) n += set.keys.size();
  return n;
}

}  // namespace guardrail::pipeline
