#include "tamper_check.hpp"

#include <time.h>

#include <algorithm>
#include <map>

namespace guardrail::agent {
namespace {

// linux/bpf.h command numbers (the agent does not include the uapi header next to libbpf's).
constexpr std::uint32_t kProgAttach = 8, kProgDetach = 9, kLinkUpdate = 29, kLinkDetach = 34;

bool takes_programs_away(std::uint32_t cmd) {
  return cmd == kProgAttach || cmd == kProgDetach || cmd == kLinkUpdate || cmd == kLinkDetach;
}

}  // namespace

std::uint64_t boot_clock_ns() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

TamperCheck::TamperCheck(std::uint64_t period_ns, std::uint64_t now_ns)
    : period_ns_(period_ns), next_periodic_ns_(now_ns + period_ns), last_clean_ns_(now_ns) {}

bool TamperCheck::on_event(const gr_host_event& event) {
  if (event.hdr.type != GR_EV_TAMPER) return false;
  if (takes_programs_away(event.op)) {
    std::uint64_t seen = event_ns_.load();
    while (event.hdr.ts_ns > seen && !event_ns_.compare_exchange_weak(seen, event.hdr.ts_ns)) {
    }
  }
  requested_ = true;
  return true;
}

int TamperCheck::timeout_ms(std::uint64_t now_ns) const {
  if (burst_until_ns_ || requested_) return 1;
  if (!period_ns_) return -1;
  if (now_ns >= next_periodic_ns_) return 0;
  return static_cast<int>((next_periodic_ns_ - now_ns + 999'999) / 1'000'000);
}

TamperCheck::Outcome TamperCheck::run(bool poked, std::uint64_t now_ns, const Repair& repair,
                                      const std::function<std::uint64_t()>& clock) {
  const bool requested = requested_.exchange(false) || poked;
  const bool periodic = period_ns_ && now_ns >= next_periodic_ns_;
  if (!requested && !periodic && !burst_until_ns_) return {};
  if (periodic) next_periodic_ns_ = now_ns + period_ns_;

  const auto missing = repair();
  const std::uint64_t restored = clock();
  const std::uint64_t event_ns = event_ns_.load();
  Outcome out{.ran = true};
  if (missing.empty()) {
    if (event_ns && !burst_until_ns_) {
      burst_until_ns_ = now_ns + kBurstNs;  // the detach has not shown yet: keep looking
    } else if (burst_until_ns_ && now_ns >= burst_until_ns_) {
      burst_until_ns_ = 0;  // the command failed or took nothing of ours away
      std::uint64_t seen = event_ns;  // a newer event keeps its own burst
      event_ns_.compare_exchange_strong(seen, 0);
    }
    if (!event_ns) last_clean_ns_ = restored;
    return out;
  }
  // An event explains it when one came after the last clean check; else the periodic check
  // found it and the detach happened some time after that clean check.
  const bool by_event = event_ns && event_ns >= last_clean_ns_;
  out.repairs = group_by_cgroup(
      missing, by_event ? events::TamperSource::Event : events::TamperSource::PeriodicCheck,
      by_event ? event_ns : last_clean_ns_, restored);
  std::uint64_t seen = event_ns;
  event_ns_.compare_exchange_strong(seen, 0);
  burst_until_ns_ = 0;
  last_clean_ns_ = restored;
  return out;
}

std::vector<events::TamperRepair> group_by_cgroup(const std::vector<MissingProgram>& missing,
                                                  events::TamperSource source,
                                                  std::uint64_t interrupted_ns,
                                                  std::uint64_t restored_ns) {
  std::map<std::string, events::TamperRepair> by_cgroup;
  for (const MissingProgram& m : missing) {
    auto& r = by_cgroup[m.cgroup];
    r.detected_by = source;
    r.cgroup = m.cgroup;
    r.interrupted_ns = std::min(interrupted_ns, restored_ns);
    r.restored_ns = restored_ns;
    r.missing.push_back({m.program, m.attach_type, m.prog_id, m.reattached, m.error});
  }
  std::vector<events::TamperRepair> out;
  for (auto& [_, r] : by_cgroup) out.push_back(std::move(r));
  return out;
}

}  // namespace guardrail::agent
