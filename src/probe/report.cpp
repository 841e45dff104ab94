// Report lookups and the two renderings of a probe report: a table for people, JSON for tools.
#include <fmt/format.h>

#include <algorithm>
#include <ostream>
#include <string>

#include "guardrail/probe/probe.hpp"

namespace guardrail::probe {

bool Report::has(const std::string& feature) const {
  return std::ranges::any_of(features,
                             [&](const Feature& f) { return f.name == feature && f.available; });
}

const GuardBackend* Report::guard(Guard guard) const {
  auto it = std::ranges::find(guards, guard, &GuardBackend::guard);
  return it == guards.end() ? nullptr : &*it;
}

void print_text(const Report& report, std::ostream& out) {
  out << fmt::format("kernel         {}\n", report.kernel_release);
  out << fmt::format("cgroup v2      {}\n",
                     report.cgroup2_mount.empty() ? "(not mounted)" : report.cgroup2_mount);
  out << fmt::format("probe time     {:.1f} ms\n\n", report.duration_ms);

  out << fmt::format("{:<20} {:<5} {}\n", "FEATURE", "AVAIL", "REASON");
  for (const auto& f : report.features)
    out << fmt::format("{:<20} {:<5} {}\n", f.name, f.available ? "yes" : "NO", f.reason);

  out << fmt::format("\n{:<16} {:<28} {}\n", "GUARD", "BACKEND", "GUARANTEE");
  for (const auto& g : report.guards)
    out << fmt::format("{:<16} {:<28} {}\n", guard_name(g.guard), backend_name(g.backend),
                       g.guarantee);

  // Say in words what a weaker backend means: a table cell cannot.
  bool first = true;
  for (const auto& g : report.guards) {
    if (g.note.empty()) continue;
    out << (first ? "\n" : "") << fmt::format("{}: {}\n", guard_name(g.guard), g.note);
    first = false;
  }
  out << "\n" << birth_coverage_note(report) << "\n";
}

std::string birth_coverage_note(const Report& report) {
  if (report.has("cgroup_mkdir"))
    return "Containers under a parent shared with host services (the systemd cgroup driver's "
           "/system.slice/docker-<id>.scope, cri-containerd-, crio-, libpod-): covered from "
           "their first instruction (tp_btf/cgroup_mkdir binds them at their mkdir).";
  return "Containers under a parent shared with host services (the systemd cgroup driver's "
         "/system.slice/docker-<id>.scope, cri-containerd-, crio-, libpod-): covered from their "
         "identification only, the next scan (milliseconds, inotify), not from their first "
         "instruction: tp_btf/cgroup_mkdir is unavailable (see feature cgroup_mkdir). A dedicated "
         "parent (dockerd --cgroup-parent with the cgroupfs driver) is covered from birth anyway.";
}

nlohmann::json to_json(const Report& report) {
  nlohmann::json features = nlohmann::json::array();
  for (const auto& f : report.features)
    features.push_back({{"name", f.name}, {"available", f.available}, {"reason", f.reason}});
  nlohmann::json guards = nlohmann::json::array();
  for (const auto& g : report.guards)
    guards.push_back({{"guard", guard_name(g.guard)},
                      {"backend", backend_name(g.backend)},
                      {"guarantee", g.guarantee},
                      {"note", g.note}});
  return {{"kernel", report.kernel_release},
          {"cgroup2_mount", report.cgroup2_mount},
          {"probe_ms", report.duration_ms},
          {"features", features},
          {"guards", guards},
          {"birth_coverage",
           {{"available", report.has("cgroup_mkdir")}, {"note", birth_coverage_note(report)}}}};
}

}  // namespace guardrail::probe
