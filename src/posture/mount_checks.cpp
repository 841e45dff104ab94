// The checks on what a container mounts from the host: bind mounts outside the allowlist, and any
// way to a container runtime's socket (the socket itself, a directory above it, or a mount named
// like one).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <string>
#include <string_view>

#include "guardrail/policy/vocabulary.hpp"
#include "guardrail/posture/checks.hpp"

namespace guardrail::posture::checks {
namespace {

constexpr std::array<std::string_view, 3> kRuntimeSocketNames = {"docker.sock", "containerd.sock",
                                                                 "crio.sock"};

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

std::string describe(const inspect::Mount& m) {
  return fmt::format("{} -> {}", m.source, m.destination);
}

bool names_runtime_socket(const std::string& path) {
  if (path.empty()) return false;
  const std::string p = normal_path(path);
  return std::ranges::any_of(kRuntimeSocketNames,
                             [&](std::string_view name) { return p.ends_with(name); });
}

// A host directory that holds a runtime socket: /run, /var/run, /run/containerd, /, /var...
bool holds_runtime_socket(const std::string& source) {
  if (source.empty() || !source.starts_with('/')) return false;
  const std::string dir = normal_path(source);
  // Bind-mounting a runtime socket, or any directory above one, hands the socket over.
  return std::ranges::any_of(policy::kDefaultRuntimeSockets,
                             [&](const std::string& sock) { return within(sock, dir); });
}

bool exposes_runtime_socket(const inspect::Mount& m) {
  return names_runtime_socket(m.source) || names_runtime_socket(m.destination) ||
         (m.type == "bind" && holds_runtime_socket(m.source));
}

bool allowed_bind(const inspect::Mount& m, const BindAllowlist& allowed_bind_sources) {
  const std::string source = normal_path(m.source);
  return std::ranges::any_of(allowed_bind_sources, [&](const std::string& a) {
    return !a.empty() && within(source, normal_path(a));
  });
}

}  // namespace

const Check no_host_mounts{
    .name = "no_host_mounts",
    .run = [](const Evidence& e) -> Verdict {
      std::vector<std::string> denied, allowed;
      for (const auto& m : e.mounts)
        if (m.type == "bind")
          (allowed_bind(m, e.allowed_bind_sources) ? allowed : denied).push_back(describe(m));
      std::string detail = denied.empty()
                               ? "no host bind mounts"
                               : fmt::format("host bind mounts: {}", fmt::join(denied, ", "));
      if (!allowed.empty()) detail += fmt::format("; allowed: {}", fmt::join(allowed, ", "));
      return {denied.empty(), detail};
    },
};

const Check no_runtime_socket{
    .name = "no_runtime_socket",
    .run = [](const Evidence& e) -> Verdict {
      std::vector<std::string> exposed;
      for (const auto& m : e.mounts)
        if (exposes_runtime_socket(m)) exposed.push_back(describe(m));
      return {exposed.empty(), exposed.empty() ? "no runtime socket mounted"
                                               : fmt::format("runtime socket reachable through: {}",
                                                             fmt::join(exposed, ", "))};
    },
};

}  // namespace guardrail::posture::checks
