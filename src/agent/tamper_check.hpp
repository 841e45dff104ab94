// When the agent checks that every workload cgroup still carries its programs, and what a
// finding means. Where BPF-LSM cannot refuse bpf() to a workload, a privileged one can detach the
// agent's links: a tamper event (from the consumer thread) asks for a check at once and, since
// the event fires at syscall entry, again every millisecond for a short while until the detach
// shows; a periodic check catches what no event announced (a detach from outside every workload,
// a lost event). The check itself (query, re-attach) belongs to the loaders; this decides when to
// run it and turns what it found into TamperRepair records with the window measured.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "guardrail.h"
#include "guardrail/events/tamper.hpp"
#include "guardrail/loader/cgroup_attachments.hpp"

namespace guardrail::agent {

std::uint64_t boot_clock_ns();  // CLOCK_BOOTTIME, the clock of kernel event timestamps

class TamperCheck {
 public:
  // period_ns 0: no periodic check, only after tamper events. hold_ns: how long a finding no
  // event explains yet waits for one (the workload's event may still be in the ring buffer:
  // more than the consumer's poll timeout) before it is reported as the periodic check's.
  TamperCheck(std::uint64_t period_ns, std::uint64_t now_ns,
              std::uint64_t hold_ns = kDefaultHoldNs);

  // Any thread: a tamper event arrived. Commands that take programs away (detach, update,
  // replace) start the window at the event's time; fetching by id only asks for a check.
  // Returns true when a check should run (the caller wakes the main loop).
  bool on_event(const gr_host_event& event);

  // Main thread: how long until a check is due (-1: none scheduled).
  int timeout_ms(std::uint64_t now_ns) const;

  // Main thread: runs `repair` if a check is due (or `poked`), and reports each cgroup that was
  // missing programs. `restored_ns` is read after `repair` returns.
  using Repair = std::function<std::vector<MissingProgram>()>;
  struct Outcome {
    bool ran = false;
    std::vector<events::TamperRepair> repairs;
  };
  Outcome run(bool poked, std::uint64_t now_ns, const Repair& repair,
              const std::function<std::uint64_t()>& clock = boot_clock_ns);

  // How long after a destructive event the check keeps looking for the detach to show.
  static constexpr std::uint64_t kBurstNs = 200'000'000;
  static constexpr std::uint64_t kBurstStepNs = 1'000'000;
  static constexpr std::uint64_t kDefaultHoldNs = 100'000'000;

 private:
  const std::uint64_t period_ns_;
  std::atomic<std::uint64_t> event_ns_{0};  // the latest destructive event not yet accounted
  std::atomic<bool> requested_{false};
  std::uint64_t next_periodic_ns_ = 0;
  std::uint64_t last_clean_ns_;  // the last check that found everything attached
  std::uint64_t burst_until_ns_ = 0;
  const std::uint64_t hold_ns_;
  // Re-attached already, not reported yet: waiting for the event that explains it.
  struct Held {
    std::vector<MissingProgram> missing;
    std::uint64_t last_clean_ns;
    std::uint64_t restored_ns;
    std::uint64_t deadline_ns;
  };
  std::vector<Held> held_;
};

// Groups what the loaders found missing by cgroup, one repair record per cgroup.
std::vector<events::TamperRepair> group_by_cgroup(const std::vector<MissingProgram>& missing,
                                                  events::TamperSource source,
                                                  std::uint64_t interrupted_ns,
                                                  std::uint64_t restored_ns);

}  // namespace guardrail::agent
