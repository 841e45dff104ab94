// The checks on what the kernel applies to a container's init, read from /proc/PID/status. When
// /proc failed or lacks a field, the check that needs it fails and says why; only the bounding
// set falls back to the configuration, and says so.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <string>

#include "guardrail/posture/checks.hpp"

namespace guardrail::posture::checks {
namespace {

constexpr long kBaselineUid = 65534;

std::string hex(unsigned long long mask) { return fmt::format("{:016x}", mask); }

bool lacks(const ProcStatus& status, const char* field) {
  return std::ranges::find(status.missing, std::string(field)) != status.missing.end();
}

// The verdict of `judge` on the status, or a failure when /proc said nothing about `field`.
template <typename F>
Verdict from_proc(const Evidence& e, const char* field, F&& judge) {
  if (!e.status) return {false, "cannot tell: " + e.status.error().message};
  if (lacks(*e.status, field))
    return {false,
            fmt::format("cannot tell: /proc/{}/status has no readable {} line", e.pid, field)};
  return judge(*e.status);
}

}  // namespace

const Check capabilities_dropped{
    .name = "capabilities_dropped",
    .run = [](const Evidence& e) -> Verdict {
      return from_proc(e, "CapEff", [](const ProcStatus& s) -> Verdict {
        if (s.cap_eff == 0) return {true, "CapEff " + hex(s.cap_eff)};
        // Past 16 the names are a wall of text: "everything" is said better by a count.
        const int n = std::popcount(s.cap_eff);
        const std::string names =
            n <= 16 ? capability_names(s.cap_eff) : fmt::format("{} capabilities", n);
        return {false, fmt::format("CapEff {} ({})", hex(s.cap_eff), names)};
      });
    },
};

// /proc is the truth; the configuration only stands in when /proc failed.
const Check bounding_set_empty{
    .name = "bounding_set_empty",
    .run = [](const Evidence& e) -> Verdict {
      const auto drop = inspect::strings(e.host, "CapDrop");
      const auto add = inspect::strings(e.host, "CapAdd");
      const std::string configured = fmt::format("HostConfig.CapDrop [{}], CapAdd [{}]",
                                                 fmt::join(drop, ", "), fmt::join(add, ", "));
      if (e.status && !lacks(*e.status, "CapBnd"))
        return {e.status->cap_bnd == 0,
                fmt::format("CapBnd {}; {}", hex(e.status->cap_bnd), configured)};

      const std::string why =
          e.status ? fmt::format("/proc/{}/status has no readable CapBnd line", e.pid)
                   : e.status.error().message;
      const std::optional<bool> privileged = inspect::boolean(e.host, "Privileged");
      const bool drops_all =
          std::ranges::any_of(drop, [](const auto& c) { return inspect::upper(c) == "ALL"; });
      const bool configured_empty = drops_all && add.empty() && privileged == false;
      return {configured_empty, fmt::format("from the configuration only ({}): {}{}", why,
                                            configured, privileged == false ? "" : ", privileged")};
    },
};

const Check seccomp_filter{
    .name = "seccomp_filter",
    .run = [](const Evidence& e) -> Verdict {
      return from_proc(e, "Seccomp", [&](const ProcStatus& s) -> Verdict {
        static constexpr const char* kModes[] = {"disabled", "strict", "filter"};
        std::string detail =
            fmt::format("Seccomp {} ({})", s.seccomp,
                        s.seccomp >= 0 && s.seccomp <= 2 ? kModes[s.seccomp] : "unknown");
        for (const auto& opt : inspect::strings(e.host, "SecurityOpt"))
          if (opt.starts_with("seccomp"))
            detail += fmt::format("; SecurityOpt {}", opt.substr(0, 64));
        return {s.seccomp == 2, detail};
      });
    },
};

const Check no_new_privs{
    .name = "no_new_privs",
    .run = [](const Evidence& e) -> Verdict {
      return from_proc(e, "NoNewPrivs", [](const ProcStatus& s) -> Verdict {
        return {s.no_new_privs, s.no_new_privs
                                    ? "NoNewPrivs 1"
                                    : "NoNewPrivs 0 (--security-opt no-new-privileges sets it)"};
      });
    },
};

const Check non_root_uid{
    .name = "non_root_uid",
    .run = [](const Evidence& e) -> Verdict {
      return from_proc(e, "Uid", [&](const ProcStatus& s) -> Verdict {
        return {s.uid == kBaselineUid,
                fmt::format("uid {} (baseline {}); Config.User \"{}\"", s.uid, kBaselineUid,
                            inspect::string(e.config, "User"))};
      });
    },
};

}  // namespace guardrail::posture::checks
