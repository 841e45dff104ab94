// Dedup: the same workload, kind and target within a window become one alert with a count.
// The first occurrence leaves at once (an operator sees it without delay); the repeats inside
// the window leave as one further alert, with their count, when the window closes.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "guardrail/pipeline/alert.hpp"

namespace guardrail::pipeline {

// The workload, the kind, and the target the event is about: for traffic the protocol and the
// peer's address and port; for host guards the capability, socket type, mount operation and
// target, socket path or bpf command.
std::string dedup_key(const events::Event& event);

class Deduplicator {
 public:
  // A zero window disables dedup: every alert leaves at once. At most `max_windows` windows are
  // open at a time (a flood of distinct targets must not grow the map for a whole window): past
  // it, an alert of a new target leaves at once without opening a window (nothing is hidden; it
  // is just not folded) and is counted in unfolded().
  explicit Deduplicator(std::chrono::nanoseconds window, std::size_t max_windows = 65536)
      : window_ns_(window.count()), max_windows_(max_windows) {}

  // The alert to emit now, or nothing when it folded into an open window. Call expire(now_ns)
  // first so that no closed window is still open.
  std::optional<PendingAlert> offer(PendingAlert alert, std::uint64_t now_ns);
  // One alert per window closed by now_ns that folded repeats, with their count.
  std::vector<PendingAlert> expire(std::uint64_t now_ns);
  // Every open window's repeats, at shutdown.
  std::vector<PendingAlert> flush();
  std::size_t open_windows() const { return windows_.size(); }
  std::uint64_t unfolded() const { return unfolded_; }

 private:
  struct Window {
    std::uint64_t opened_ns = 0;
    std::optional<PendingAlert> repeats;
  };
  std::int64_t window_ns_;
  std::size_t max_windows_;
  std::uint64_t unfolded_ = 0;
  std::unordered_map<std::string, Window> windows_;
  std::deque<std::pair<std::uint64_t, std::string>> by_age_;  // windows open in time order
};

}  // namespace guardrail::pipeline
