// The baseline checks (DESIGN.md "Hardening posture") on one container: pure, from its inspect
// document and what /proc says of its init. Whatever the document leaves out fails: a check
// passes on evidence only.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "guardrail/policy/vocabulary.hpp"
#include "guardrail/posture/posture.hpp"

namespace guardrail::posture {
namespace {

using nlohmann::json;

constexpr long kBaselineUid = 65534;
constexpr std::array<std::string_view, 3> kRuntimeSocketNames = {"docker.sock", "containerd.sock",
                                                                 "crio.sock"};
constexpr std::array<std::string_view, 4> kSecretWords = {"TOKEN", "SECRET", "PASSWORD", "KEY"};

const json& member(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::optional<bool> boolean(const json& j, const char* key) {
  const json& v = member(j, key);
  if (!v.is_boolean()) return std::nullopt;
  return v.get<bool>();
}

// null and absent are 0: the engine's "not set".
std::int64_t integer(const json& j, const char* key) {
  const json& v = member(j, key);
  if (v.is_number_unsigned())
    return std::int64_t(std::min<std::uint64_t>(v.get<std::uint64_t>(), INT64_MAX));
  if (v.is_number_integer()) return v.get<std::int64_t>();
  return 0;
}

std::string string(const json& j, const char* key) {
  const json& v = member(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  const json& v = member(j, key);
  if (!v.is_array()) return out;
  for (const auto& item : v)
    if (item.is_string()) out.push_back(item.get<std::string>());
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string hex(unsigned long long mask) { return fmt::format("{:016x}", mask); }

std::string bool_text(std::optional<bool> b) { return b ? (*b ? "true" : "false") : "absent"; }

// Lexically normal, without a trailing '/': "/var/run/../run/" -> "/run".
std::string normal_path(const std::string& path) {
  std::string out = std::filesystem::path(path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// `path` is `dir` or lies below it.
bool within(const std::string& path, const std::string& dir) {
  if (dir == "/") return path.starts_with('/');
  return path == dir ||
         (path.starts_with(dir) && path.size() > dir.size() && path[dir.size()] == '/');
}

struct Mount {
  std::string type, source, destination;
};

std::vector<Mount> mounts(const json& inspect) {
  std::vector<Mount> out;
  const json& list = member(inspect, "Mounts");
  if (!list.is_array()) return out;
  for (const auto& m : list)
    out.push_back({string(m, "Type"), string(m, "Source"), string(m, "Destination")});
  return out;
}

std::string describe(const Mount& m) { return fmt::format("{} -> {}", m.source, m.destination); }

bool names_runtime_socket(const std::string& path) {
  if (path.empty()) return false;
  const std::string p = normal_path(path);
  for (auto name : kRuntimeSocketNames)
    if (p.ends_with(name)) return true;
  return false;
}

// A host directory that holds a runtime socket: /run, /var/run, /run/containerd, /, /var...
bool holds_runtime_socket(const std::string& source) {
  if (source.empty() || !source.starts_with('/')) return false;
  const std::string dir = normal_path(source);
  // Bind-mounting a runtime socket, or any directory above one, hands the socket over.
  return std::ranges::any_of(policy::kDefaultRuntimeSockets,
                             [&](const std::string& sock) { return within(sock, dir); });
}

Finding check(std::string name, bool passed, std::string detail) {
  return Finding{std::move(name), passed, std::move(detail)};
}

// The /proc-based check, or its failure when /proc said nothing about `field`.
template <typename F>
Finding proc_check(const char* name, const char* field, const Result<ProcStatus>& status, pid_t pid,
                   F&& from_status) {
  if (!status) return check(name, false, "cannot tell: " + status.error().message);
  if (std::ranges::find(status->missing, std::string(field)) != status->missing.end())
    return check(name, false,
                 fmt::format("cannot tell: /proc/{}/status has no readable {} line", pid, field));
  return from_status(*status);
}

}  // namespace

bool ContainerPosture::compliant() const { return std::ranges::all_of(findings, &Finding::passed); }

std::vector<Finding> assess(const json& inspect, const ProcStatus& status, bool host_has_apparmor) {
  return assess(inspect, Result<ProcStatus>(status), host_has_apparmor, {});
}

std::vector<Finding> assess(const json& inspect, const Result<ProcStatus>& status,
                            bool host_has_apparmor, const BindAllowlist& allowed_bind_sources) {
  const json& host = member(inspect, "HostConfig");
  const json& config = member(inspect, "Config");
  const auto pid = pid_t(integer(member(inspect, "State"), "Pid"));
  const std::optional<bool> privileged = boolean(host, "Privileged");
  std::vector<Finding> out;

  out.push_back(proc_check("capabilities_dropped", "CapEff", status, pid, [](const ProcStatus& s) {
    if (s.cap_eff == 0) return check("capabilities_dropped", true, "CapEff " + hex(s.cap_eff));
    const int n = std::popcount(s.cap_eff);
    return check(
        "capabilities_dropped", false,
        fmt::format("CapEff {} ({})", hex(s.cap_eff),
                    n <= 16 ? capability_names(s.cap_eff) : fmt::format("{} capabilities", n)));
  }));

  // The bounding set: /proc is the truth; the configuration only stands in when /proc failed.
  {
    const auto drop = strings(host, "CapDrop");
    const auto add = strings(host, "CapAdd");
    const bool drops_all =
        std::ranges::any_of(drop, [](const auto& c) { return upper(c) == "ALL"; });
    const std::string configured = fmt::format("HostConfig.CapDrop [{}], CapAdd [{}]",
                                               fmt::join(drop, ", "), fmt::join(add, ", "));
    if (status &&
        std::ranges::find(status->missing, std::string("CapBnd")) == status->missing.end()) {
      out.push_back(check("bounding_set_empty", status->cap_bnd == 0,
                          fmt::format("CapBnd {}; {}", hex(status->cap_bnd), configured)));
    } else {
      const std::string why = status
                                  ? fmt::format("/proc/{}/status has no readable CapBnd line", pid)
                                  : status.error().message;
      const bool configured_empty = drops_all && add.empty() && privileged == false;
      out.push_back(check("bounding_set_empty", configured_empty,
                          fmt::format("from the configuration only ({}): {}{}", why, configured,
                                      privileged == false ? "" : ", privileged")));
    }
  }

  out.push_back(proc_check("seccomp_filter", "Seccomp", status, pid, [&](const ProcStatus& s) {
    static constexpr const char* kModes[] = {"disabled", "strict", "filter"};
    std::string detail =
        fmt::format("Seccomp {} ({})", s.seccomp,
                    s.seccomp >= 0 && s.seccomp <= 2 ? kModes[s.seccomp] : "unknown");
    for (const auto& opt : strings(host, "SecurityOpt"))
      if (opt.starts_with("seccomp")) detail += fmt::format("; SecurityOpt {}", opt.substr(0, 64));
    return check("seccomp_filter", s.seccomp == 2, detail);
  }));

  out.push_back(proc_check("no_new_privs", "NoNewPrivs", status, pid, [](const ProcStatus& s) {
    return check("no_new_privs", s.no_new_privs,
                 s.no_new_privs ? "NoNewPrivs 1"
                                : "NoNewPrivs 0 (--security-opt no-new-privileges sets it)");
  }));

  out.push_back(proc_check("non_root_uid", "Uid", status, pid, [&](const ProcStatus& s) {
    return check("non_root_uid", s.uid == kBaselineUid,
                 fmt::format("uid {} (baseline {}); Config.User \"{}\"", s.uid, kBaselineUid,
                             string(config, "User")));
  }));

  {
    const auto ro = boolean(host, "ReadonlyRootfs");
    out.push_back(
        check("read_only_rootfs", ro == true, "HostConfig.ReadonlyRootfs " + bool_text(ro)));
  }

  const std::vector<Mount> all_mounts = mounts(inspect);
  {
    std::vector<std::string> denied, allowed;
    for (const auto& m : all_mounts) {
      if (m.type != "bind") continue;
      const std::string source = normal_path(m.source);
      const bool ok = std::ranges::any_of(allowed_bind_sources, [&](const std::string& a) {
        return !a.empty() && within(source, normal_path(a));
      });
      (ok ? allowed : denied).push_back(describe(m));
    }
    std::string detail = denied.empty()
                             ? "no host bind mounts"
                             : fmt::format("host bind mounts: {}", fmt::join(denied, ", "));
    if (!allowed.empty()) detail += fmt::format("; allowed: {}", fmt::join(allowed, ", "));
    out.push_back(check("no_host_mounts", denied.empty(), detail));
  }

  {
    std::vector<std::string> exposed;
    for (const auto& m : all_mounts)
      if (names_runtime_socket(m.source) || names_runtime_socket(m.destination) ||
          (m.type == "bind" && holds_runtime_socket(m.source)))
        exposed.push_back(describe(m));
    out.push_back(check("no_runtime_socket", exposed.empty(),
                        exposed.empty() ? "no runtime socket mounted"
                                        : fmt::format("runtime socket reachable through: {}",
                                                      fmt::join(exposed, ", "))));
  }

  // Names only: a value never leaves this function.
  {
    std::vector<std::string> names;
    for (const auto& entry : strings(config, "Env")) {
      std::string name = entry.substr(0, entry.find('='));
      const std::string up = upper(name);
      if (std::ranges::any_of(kSecretWords,
                              [&](std::string_view w) { return up.find(w) != std::string::npos; }))
        names.push_back(std::move(name));
    }
    out.push_back(check("no_secret_env", names.empty(),
                        names.empty() ? "no secret-like names in Config.Env"
                                      : fmt::format("{} in env (pass secrets as files on tmpfs)",
                                                    fmt::join(names, ", "))));
  }

  {
    const auto nano = integer(host, "NanoCpus");
    const auto quota = integer(host, "CpuQuota");
    const auto period = integer(host, "CpuPeriod");
    out.push_back(check("cpu_limit", nano > 0 || quota > 0,
                        fmt::format("HostConfig.NanoCpus {}, CpuQuota {}, CpuPeriod {}{}", nano,
                                    quota, period, nano > 0 || quota > 0 ? "" : " (set --cpus)")));
  }
  {
    const auto memory = integer(host, "Memory");
    out.push_back(
        check("memory_limit", memory > 0,
              fmt::format("HostConfig.Memory {}{}", memory, memory > 0 ? "" : " (set --memory)")));
  }
  {
    const auto pids = integer(host, "PidsLimit");
    out.push_back(check(
        "pids_limit", pids > 0,
        fmt::format("HostConfig.PidsLimit {}{}", pids, pids > 0 ? "" : " (set --pids-limit)")));
  }

  out.push_back(check("not_privileged", privileged == false,
                      "HostConfig.Privileged " + bool_text(privileged)));

  if (host_has_apparmor) {
    const std::string profile = string(inspect, "AppArmorProfile");
    const bool confined = !profile.empty() && profile != "unconfined";
    out.push_back(check("apparmor", confined,
                        profile.empty() ? "AppArmorProfile empty (host has AppArmor)"
                                        : fmt::format("AppArmorProfile \"{}\"", profile)));
  }
  return out;
}

}  // namespace guardrail::posture
