#include "guardrail/events/tamper.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "guardrail/events/agent_alert.hpp"

namespace guardrail::events {

std::string_view tamper_source_name(TamperSource source) {
  return source == TamperSource::Event ? "event" : "periodic_check";
}

bool TamperRepair::restored() const { return std::ranges::all_of(missing, &Program::reattached); }

nlohmann::ordered_json tamper_repair_alert(const TamperRepair& r, const std::string& policy,
                                           const WallClock& clock, const std::string& node) {
  auto missing = nlohmann::ordered_json::array();
  for (const auto& p : r.missing) {
    nlohmann::ordered_json m{{"program", p.name},
                             {"attach_type", p.attach_type},
                             {"prog_id", p.prog_id},
                             {"reattached", p.reattached}};
    if (!p.error.empty()) m["error"] = p.error;
    missing.push_back(std::move(m));
  }
  // Microsecond resolution: the window is milliseconds, the clocks nanoseconds.
  const double window_ms = std::round(r.window_ms() * 1000) / 1000;
  const bool at_most = r.detected_by == TamperSource::PeriodicCheck;
  // The common fields of every alert, as far as they apply: no process did this (the agent
  // found it), so pid, comm and exe are empty.
  nlohmann::ordered_json alert{
      {"time", clock.format(r.restored_ns)},
      {"kind", "tamper"},
      {"verdict", "detected"},
      {"backend", "agent"},
      {"policy", policy},
      {"workload", r.workload.empty() ? std::string("unknown") : r.workload},
      {"zone", r.zone.empty() ? std::string("unknown") : r.zone},
      {"cgroup_id", r.cgroup_id},
      {"pid", 0},
      {"tid", 0},
      {"comm", ""},
      {"cgroup", r.cgroup},
      {"detected_by", tamper_source_name(r.detected_by)},
      {"missing", std::move(missing)},
      {"restored", r.restored()},
      {"interrupted_at", clock.format(r.interrupted_ns)},
      {"restored_at", clock.format(r.restored_ns)},
      {"window_ms", window_ms},
      {"window", at_most ? "at_most" : "measured"},
      {"message",
       std::string("enforcement on ") + r.cgroup +
           " was interrupted: a privileged workload "
           "detached or replaced the agent's programs (BPF-LSM is unavailable on this kernel, so "
           "bpf() cannot be refused); " +
           (r.restored() ? "the agent re-attached them" : "re-attaching FAILED") + " after " +
           (at_most ? "at most " : "") + fmt::format("{:.3f}", window_ms) + " ms"},
  };
  append_agent_alert_fields(alert, clock.format(r.interrupted_ns), clock.format(r.restored_ns),
                            node);
  return alert;
}

nlohmann::ordered_json signal_tamper_alert(const SignalTamper& t, const std::string& policy,
                                           const WallClock& clock, const std::string& node) {
  const std::string signal = signal_name(t.signal);
  const bool obeyed = t.verdict == GR_VERDICT_AUDITED;
  nlohmann::ordered_json alert{
      {"time", clock.format(t.time_ns)},
      {"kind", "tamper"},
      {"verdict", verdict_name(t.verdict)},
      {"backend", "agent"},
      {"policy", policy},
      {"workload", t.workload.empty() ? std::string("unknown") : t.workload},
      {"zone", t.zone.empty() ? std::string("unknown") : t.zone},
      {"cgroup_id", t.cgroup_id},
      {"pid", t.sender_pid},
      {"tid", t.sender_tid},
      {"comm", t.comm},
      {"tamper", "signal"},
      {"signal", signal},
      {"signal_number", t.signal},
      {"target_pid", t.agent_pid},
      {"target_tid", t.agent_pid},
      {"sender_uid", t.sender_uid},
      {"detected_by", "signal_inbox"},
      {"judged_by", t.judged_by},
      {"message",
       fmt::format("{} from pid {} (uid {}) of workload {} to the agent (pid {}): {}", signal,
                   t.sender_pid, t.sender_uid, t.workload.empty() ? "unknown" : t.workload,
                   t.agent_pid,
                   obeyed ? "obeyed (the workload is in audit mode)"
                          : std::string("ignored: a workload cannot stop or reload the agent") +
                                (t.verdict == GR_VERDICT_KILLED ? "; the sender was killed" : ""))},
  };
  append_agent_alert_fields(alert, clock.format(t.time_ns), clock.format(t.time_ns), node);
  return alert;
}

}  // namespace guardrail::events
