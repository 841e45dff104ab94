// The alert the agent writes when it found one of its cgroup programs detached or replaced and
// re-attached it: what was missing, when enforcement was interrupted and restored, and the
// window in between. The kernel's own tamper event (GR_EV_TAMPER) says what a workload did;
// this says what it cost.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "guardrail/events/events.hpp"

namespace guardrail::events {

enum class TamperSource {
  Event,          // a tamper event from a workload triggered the check
  PeriodicCheck,  // the periodic check found it with no event (e.g. detached from outside)
};
std::string_view tamper_source_name(TamperSource source);  // "event", "periodic_check"

struct TamperRepair {
  struct Program {
    std::string name;
    std::uint32_t attach_type = 0;
    std::uint32_t prog_id = 0;
    bool reattached = false;
    std::string error;
  };
  TamperSource detected_by = TamperSource::Event;
  std::string cgroup;  // the attach point
  std::uint64_t cgroup_id = 0;
  std::string workload;
  std::string zone;
  std::vector<Program> missing;
  // Boot-clock times: interrupted_ns is the tamper event's time (Event), or the last check that
  // found everything in place (PeriodicCheck: the detach happened after it, the window is at
  // most restored - interrupted).
  std::uint64_t interrupted_ns = 0;
  std::uint64_t restored_ns = 0;

  double window_ms() const { return double(restored_ns - interrupted_ns) / 1e6; }
  bool restored() const;  // every missing program is attached again
};

// kind "tamper", verdict "detected", backend "agent".
nlohmann::ordered_json tamper_repair_alert(const TamperRepair& repair, const std::string& policy,
                                           const WallClock& clock, const std::string& node);

// A SIGINT, SIGTERM or SIGHUP that a workload sent the agent, and what the agent did with it:
// ignored it (verdict blocked; killed when the kernel also sent the sender SIGKILL) or, for a
// workload in audit mode, obeyed it (audited).
struct SignalTamper {
  int signal = 0;
  std::uint32_t sender_pid = 0;
  std::uint32_t sender_tid = 0;  // 0 when only the pid is known
  std::uint32_t sender_uid = 0;
  std::string comm;  // the sender's, when known
  std::string workload;
  std::string zone;
  std::uint64_t cgroup_id = 0;
  std::uint8_t verdict = GR_VERDICT_BLOCKED;
  std::uint32_t agent_pid = 0;
  std::string_view judged_by;  // "kernel" (its record of the sender) or "cgroup" (/proc)
  std::uint64_t time_ns = 0;   // boot clock, when the agent read it
};

// kind "tamper", tamper "signal", backend "agent", detected_by "signal_inbox".
nlohmann::ordered_json signal_tamper_alert(const SignalTamper& tamper, const std::string& policy,
                                           const WallClock& clock, const std::string& node);

}  // namespace guardrail::events
