// What the consumer thread needs to name ids, shared with the main thread that re-scans.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>

#include "guardrail/events/events.hpp"

namespace guardrail::agent {

// A new table is merged over the old one: ids are never reused, so the name of a workload that
// just went away still names its last events.
class Names {
 public:
  void set(events::NameTable table) {
    std::lock_guard lock(mutex_);
    if (table_.workloads.size() > 100000) table_.workloads.clear();  // bound the history
    if (table_.cgroups.size() > 100000) table_.cgroups.clear();
    for (auto& [id, name] : table.workloads) table_.workloads[id] = std::move(name);
    for (auto& [id, names] : table.cgroups) table_.cgroups[id] = std::move(names);
    table_.zones = std::move(table.zones);
    table_.policy = std::move(table.policy);
    // After the table: a reader that sees the new generation finds the new names.
    generation_.fetch_add(1, std::memory_order_release);
  }
  // Changes with every set(): what was cached from an older table may name a zone wrongly.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  template <typename F>
  auto with(F&& f) const {
    std::lock_guard lock(mutex_);
    return f(table_);
  }

 private:
  mutable std::mutex mutex_;
  events::NameTable table_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace guardrail::agent
