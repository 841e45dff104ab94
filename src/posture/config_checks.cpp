// The checks on how a container was configured, from its inspect document alone. Whatever the
// document leaves out fails: a check passes on evidence only.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "guardrail/posture/checks.hpp"

namespace guardrail::posture::checks {
namespace {

constexpr std::array<std::string_view, 4> kSecretWords = {"TOKEN", "SECRET", "PASSWORD", "KEY"};

std::string bool_text(std::optional<bool> b) { return b ? (*b ? "true" : "false") : "absent"; }

bool secret_like(const std::string& name) {
  const std::string up = inspect::upper(name);
  return std::ranges::any_of(kSecretWords,
                             [&](std::string_view w) { return up.find(w) != std::string::npos; });
}

// A HostConfig switch that must be `wanted`; absent fails.
Verdict switch_is(const Evidence& e, const char* key, bool wanted) {
  const auto value = inspect::boolean(e.host, key);
  return {value == wanted, fmt::format("HostConfig.{} {}", key, bool_text(value))};
}

// A limit the engine leaves at 0 (or -1, unlimited) unless `flag` sets it.
Verdict limit_set(const Evidence& e, const char* key, const char* flag) {
  const auto value = inspect::integer(e.host, key);
  return {value > 0, fmt::format("HostConfig.{} {}{}", key, value,
                                 value > 0 ? "" : fmt::format(" (set {})", flag))};
}

}  // namespace

const Check read_only_rootfs{
    .name = "read_only_rootfs",
    .run = [](const Evidence& e) { return switch_is(e, "ReadonlyRootfs", true); },
};

const Check not_privileged{
    .name = "not_privileged",
    .run = [](const Evidence& e) { return switch_is(e, "Privileged", false); },
};

// Names only: a value never leaves this check.
const Check no_secret_env{
    .name = "no_secret_env",
    .run = [](const Evidence& e) -> Verdict {
      std::vector<std::string> names;
      for (const auto& entry : inspect::strings(e.config, "Env")) {
        std::string name = entry.substr(0, entry.find('='));
        if (secret_like(name)) names.push_back(std::move(name));
      }
      return {names.empty(), names.empty()
                                 ? "no secret-like names in Config.Env"
                                 : fmt::format("{} in env (pass secrets as files on tmpfs)",
                                               fmt::join(names, ", "))};
    },
};

const Check cpu_limit{
    .name = "cpu_limit",
    .run = [](const Evidence& e) -> Verdict {
      const auto nano = inspect::integer(e.host, "NanoCpus");
      const auto quota = inspect::integer(e.host, "CpuQuota");
      const auto period = inspect::integer(e.host, "CpuPeriod");
      const bool limited = nano > 0 || quota > 0;
      return {limited, fmt::format("HostConfig.NanoCpus {}, CpuQuota {}, CpuPeriod {}{}", nano,
                                   quota, period, limited ? "" : " (set --cpus)")};
    },
};

const Check memory_limit{
    .name = "memory_limit",
    .run = [](const Evidence& e) { return limit_set(e, "Memory", "--memory"); },
};

const Check pids_limit{
    .name = "pids_limit",
    .run = [](const Evidence& e) { return limit_set(e, "PidsLimit", "--pids-limit"); },
};

const Check apparmor{
    .name = "apparmor",
    .run = [](const Evidence& e) -> Verdict {
      const std::string profile = inspect::string(e.inspect, "AppArmorProfile");
      const bool confined = !profile.empty() && profile != "unconfined";
      return {confined, profile.empty() ? "AppArmorProfile empty (host has AppArmor)"
                                        : fmt::format("AppArmorProfile \"{}\"", profile)};
    },
    // Where the host has no AppArmor no profile can confine anything.
    .applies = [](const Evidence& e) { return e.host_has_apparmor; },
};

}  // namespace guardrail::posture::checks
