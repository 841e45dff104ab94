// Wall time of the phases of one long step (a policy reload, a map swap), for a debug log line:
// "parse 41.2 ms, compile 60.1 ms, apply 180.4 ms". Measures, never decides anything.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace guardrail {

class PhaseTimer {
 public:
  PhaseTimer() : last_(Clock::now()) {}

  // Ends the phase running since the last mark (or construction) under `name`.
  void mark(std::string_view name) {
    const auto now = Clock::now();
    phases_.emplace_back(std::string(name),
                         std::chrono::duration<double, std::milli>(now - last_).count());
    last_ = now;
  }

  // "name 1.2 ms, name 3.4 ms".
  std::string summary() const {
    std::string out;
    for (const auto& [name, ms] : phases_)
      out += fmt::format("{}{} {:.1f} ms", out.empty() ? "" : ", ", name, ms);
    return out;
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_;
  std::vector<std::pair<std::string, double>> phases_;
};

}  // namespace guardrail
