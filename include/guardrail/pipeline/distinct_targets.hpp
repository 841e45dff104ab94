// The targets (workload, kind, target: the dedup key) whose first alert already left. The first
// alert of a target not seen before is never suppressed by the rate limit; repeats are.
//
// Memory is bounded per kind: each kind has its own set of at most `capacity` targets, so a
// flood of distinct network targets fills only its own kind's set and never the mount set. A
// target is remembered for `memory` after its first alert, then it counts as new again. When a
// kind's set is full, a new target is reported as Full (the caller counts it, and its alert goes
// through the rate limit like a repeat): never a crash, never growth past the bound.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace guardrail::pipeline {

class DistinctTargets {
 public:
  enum class Seen { New, Known, Full };

  DistinctTargets(std::size_t capacity, std::chrono::nanoseconds memory)
      : capacity_(capacity), memory_ns_(std::uint64_t(memory.count())) {}

  // Whether `key` (a dedup_key) of `kind` was seen within the memory; remembers it when New.
  Seen offer(std::uint16_t kind, const std::string& key, std::uint64_t now_ns);
  std::size_t tracked(std::uint16_t kind) const;
  std::size_t tracked() const;

 private:
  struct Set {
    std::unordered_set<std::string> keys;
    // First-seen order; the keys live once, in `keys` (a node container: their addresses stay
    // put until erased).
    std::deque<std::pair<std::uint64_t, const std::string*>> by_age;
  };
  void forget_old(Set& set, std::uint64_t now_ns);

  std::size_t capacity_;
  std::uint64_t memory_ns_;
  std::unordered_map<std::uint16_t, Set> kinds_;
};

}  // namespace guardrail::pipeline
