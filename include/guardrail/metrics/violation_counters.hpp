// guardrail_violations_total{kind,verdict,zone} counted per event without building labels: the
// counter of each (kind, verdict, zone id) is looked up once and kept. Building the label map
// and asking prometheus-cpp's Family for the series cost more per event than the rest of the
// counting. A zone's name can change at a policy swap while its id stays: the caller passes the
// generation of its name table, and a counter found under an older generation is looked up
// again by name, so a renamed zone's events count under the new name.
// Not thread-safe: one per counting thread (the ring buffer consumer).
#pragma once

#include <prometheus/counter.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "guardrail/events/events.hpp"
#include "guardrail/metrics/metrics.hpp"

namespace guardrail {

class ViolationCounters {
 public:
  explicit ViolationCounters(Metrics& metrics) : metrics_(metrics) {}

  // One violation of event type `type`, `verdict`, by a workload of zone `zone_id`, named
  // `zone_name()` in name table generation `generation` (called only when not cached).
  template <typename ZoneName>
  void count(std::uint16_t type, std::uint8_t verdict, std::uint32_t zone_id,
             std::uint64_t generation, ZoneName&& zone_name) {
    const std::uint64_t key =
        (std::uint64_t(type) << 40) | (std::uint64_t(verdict) << 32) | zone_id;
    auto [it, added] = cache_.try_emplace(key);
    Entry& entry = it->second;
    if (added || entry.generation != generation) {
      entry.counter = &metrics_.violation_counter(events::kind_name(type),
                                                  events::verdict_name(verdict), zone_name());
      entry.generation = generation;
    }
    entry.counter->Increment();
  }

  std::size_t cached() const { return cache_.size(); }

 private:
  struct Entry {
    std::uint64_t generation = 0;
    prometheus::Counter* counter = nullptr;
  };
  Metrics& metrics_;
  // Bounded by kinds x verdicts x zones of the policies seen.
  std::unordered_map<std::uint64_t, Entry> cache_;
};

}  // namespace guardrail
