// One alert on its way through the pipeline: the kernel event it stands for, what enrichment
// learned about the process, and how many events it folds together.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "guardrail/events/events.hpp"

namespace guardrail::pipeline {

struct ProcessInfo {
  std::string exe;  // "" when unknown (the process is gone, or the event has no process)
  pid_t ppid = 0;
  std::string parent_exe;
};

struct PendingAlert {
  events::Event event;  // the latest event folded in
  ProcessInfo process;
  std::uint64_t count = 1;     // events this alert stands for
  std::uint64_t first_ns = 0;  // kernel (boot-time) timestamps of the first and last event
  std::uint64_t last_ns = 0;

  static PendingAlert of(const events::Event& ev) {
    const auto ts = events::header(ev).ts_ns;
    return {ev, {}, 1, ts, ts};
  }
};

}  // namespace guardrail::pipeline
