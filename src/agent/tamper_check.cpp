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

TamperCheck::TamperCheck(std::uint64_t period_ns, std::uint64_t now_ns, std::uint64_t hold_ns)
    : period_ns_(period_ns),
      next_periodic_ns_(now_ns + period_ns),
      last_clean_ns_(now_ns),
      hold_ns_(hold_ns) {}

bool TamperCheck::on_event(const gr_host_event& event) {
  // Signals and ptrace on the agent's process take no program away: nothing to check.
  if (event.hdr.type != GR_EV_TAMPER || event.tamper != GR_TAMPER_BPF) return false;
  if (takes_programs_away(event.op)) {
    std::uint64_t seen = event_ns_.load();
    while (event.hdr.ts_ns > seen && !event_ns_.compare_exchange_weak(seen, event.hdr.ts_ns)) {
    }
  }
  requested_ = true;
  return true;
}

int TamperCheck::timeout_ms(std::uint64_t now_ns) const {
  if (burst_until_ns_ || requested_ || !held_.empty()) return 1;
  if (!period_ns_) return -1;
  if (now_ns >= next_periodic_ns_) return 0;
  return static_cast<int>((next_periodic_ns_ - now_ns + 999'999) / 1'000'000);
}

TamperCheck::Outcome TamperCheck::run(bool poked, std::uint64_t now_ns, const Repair& repair,
                                      const std::function<std::uint64_t()>& clock) {
  const bool requested = requested_.exchange(false) || poked;
  const bool periodic = period_ns_ && now_ns >= next_periodic_ns_;
  if (!requested && !periodic && !burst_until_ns_ && held_.empty()) return {};
  if (periodic) next_periodic_ns_ = now_ns + period_ns_;

  const auto missing = repair();
  const std::uint64_t restored = clock();
  std::uint64_t event_ns = event_ns_.load();
  Outcome out{.ran = true};
  auto report = [&](const std::vector<MissingProgram>& programs, events::TamperSource source,
                    std::uint64_t interrupted, std::uint64_t restored_ns) {
    auto repairs = group_by_cgroup(programs, source, interrupted, restored_ns);
    out.repairs.insert(out.repairs.end(), std::make_move_iterator(repairs.begin()),
                       std::make_move_iterator(repairs.end()));
  };
  auto account_event = [&] {
    std::uint64_t seen = event_ns;  // a newer event keeps its own burst
    event_ns_.compare_exchange_strong(seen, 0);
    burst_until_ns_ = 0;
    event_ns = 0;
  };

  // Findings re-attached earlier that waited for their event: it came, or the wait is over.
  if (!held_.empty() && event_ns) {
    for (const Held& h : held_)
      report(h.missing, events::TamperSource::Event, event_ns, h.restored_ns);
    held_.clear();
    account_event();
  }
  std::erase_if(held_, [&](const Held& h) {
    if (now_ns < h.deadline_ns) return false;
    report(h.missing, events::TamperSource::PeriodicCheck, h.last_clean_ns, h.restored_ns);
    return true;
  });

  if (missing.empty()) {
    if (event_ns && !burst_until_ns_) {
      burst_until_ns_ = now_ns + kBurstNs;  // the detach has not shown yet: keep looking
    } else if (burst_until_ns_ && now_ns >= burst_until_ns_) {
      account_event();  // the command failed or took nothing of ours away
    }
    if (!event_ns) last_clean_ns_ = restored;
    return out;
  }
  if (event_ns) {
    // The workload's command explains it: the window runs from its syscall to now.
    report(missing, events::TamperSource::Event, event_ns, restored);
    account_event();
  } else {
    // Already re-attached; who did it is told once its event arrives, or the hold ends.
    held_.push_back({missing, last_clean_ns_, restored, now_ns + hold_ns_});
  }
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
