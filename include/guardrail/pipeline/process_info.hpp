// Enrichment: the executable and parent of the process behind an event, read from /proc and
// cached briefly so that a burst of events from one process costs one read.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "guardrail/pipeline/alert.hpp"

namespace guardrail::pipeline {

class ProcessInfoCache {
 public:
  explicit ProcessInfoCache(std::string proc_root = "/proc", std::size_t capacity = 4096,
                            std::uint64_t ttl_ns = 1'000'000'000)
      : proc_root_(std::move(proc_root)), capacity_(capacity), ttl_ns_(ttl_ns) {}

  // Empty info for pid 0 (events from softirq context have no process) or a process gone.
  ProcessInfo lookup(pid_t pid, std::uint64_t now_ns);

 private:
  ProcessInfo read(pid_t pid) const;
  struct Entry {
    ProcessInfo info;
    std::uint64_t read_ns;
  };
  std::string proc_root_;
  std::size_t capacity_;
  std::uint64_t ttl_ns_;
  std::unordered_map<pid_t, Entry> entries_;
};

// The parent pid from the text of /proc/PID/stat (the comm may hold spaces and parentheses).
pid_t parse_ppid(const std::string& stat);

}  // namespace guardrail::pipeline
