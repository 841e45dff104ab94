#include "report.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace guardrail::agent {

std::set<Guard> requested_host_guards(const policy::Policy& policy) {
  std::set<Guard> out;
  for (const auto& z : policy.zones) {
    const auto& g = z.guards;
    if (g.capabilities != policy::Action::None) out.insert(Guard::Capabilities);
    if (g.raw_sockets != policy::Action::None) out.insert(Guard::RawSockets);
    if (g.mounts != policy::Action::None) out.insert(Guard::Mounts);
    if (g.runtime_sockets != policy::Action::None) out.insert(Guard::RuntimeSockets);
    if (g.bpf != policy::Action::None) out.insert(Guard::Bpf);
    if (g.host_writes != policy::Action::None) out.insert(Guard::HostWrites);
  }
  // On for every workload, whatever the zones say.
  out.insert(Guard::Cgroups);
  out.insert(Guard::Agent);
  return out;
}

std::vector<probe::GuardBackend> running_backends(const probe::Report& report,
                                                  const HostGuard* host,
                                                  const std::string& host_failure,
                                                  const std::set<Guard>& requested) {
  std::vector<probe::GuardBackend> out;
  for (const auto& g : report.guards) {
    if (g.guard == Guard::Network) {
      out.push_back(g);
    } else if (!requested.contains(g.guard)) {
      out.push_back({g.guard, Backend::NotEnforced, "none", "no zone of the policy guards it"});
    } else if (!host) {
      out.push_back({g.guard, Backend::Unavailable, "none", host_failure});
    } else {
      for (const auto& running : host->backends())
        if (running.guard == g.guard) out.push_back(running);
    }
  }
  return out;
}

std::map<std::string, std::size_t> workloads_per_zone(const policy::Policy& policy,
                                                      const discovery::Discovered& found) {
  std::map<std::string, std::size_t> counts;
  for (const auto& z : policy.zones) counts[z.name] = 0;
  for (const auto& b : found.bindings)
    if (b.kind == policy::BindingKind::Workload) counts[b.zone]++;
  return counts;
}

events::NameTable name_table(const policy::CompiledPolicy& compiled,
                             const discovery::Discovered& found) {
  events::NameTable table{compiled.name, compiled.zone_names, compiled.workload_names, {}};
  for (const auto& b : found.bindings)
    if (b.kind == policy::BindingKind::Placeholder)
      table.cgroups[b.cgroup_id] = {"unidentified:" + b.cgroup_path, "none"};
  return table;
}

void report_identified(
    const std::map<std::string, docker::ContainerWatch::Clock::time_point>& started,
    const discovery::Discovered& found, Metrics& metrics) {
  const auto now = docker::ContainerWatch::Clock::now();
  for (const auto& [id, at] : started) {
    const bool bound = std::ranges::any_of(
        found.bindings, [&](const auto& b) { return b.cgroup_path.find(id) != std::string::npos; });
    if (!bound) continue;
    const double seconds = std::chrono::duration<double>(now - at).count();
    metrics.observe_identify(seconds);
    spdlog::info("container {} identified {:.1f} ms after its start event", id.substr(0, 12),
                 seconds * 1e3);
  }
}

void print_summary(const AgentOptions& options, const policy::Policy& policy,
                   const policy::CompiledPolicy& compiled, const discovery::Discovered& found,
                   const std::vector<probe::GuardBackend>& guards, const std::string& cgroup_root) {
  spdlog::info("enforcing policy '{}' from {} ({} mode): {} zones, {} workload cgroups, {} rules",
               policy.name, options.policy_file,
               compiled.mode == policy::Mode::Audit ? "audit" : "enforce", policy.zones.size(),
               found.bindings.size(), compiled.rule_count());
  for (const auto& [zone, count] : workloads_per_zone(policy, found))
    spdlog::info("  zone {}: {} workload cgroups", zone, count);
  for (const auto& b : found.bindings) {
    if (discovery::is_birth_parent(b)) {
      spdlog::info(
          "  birth parent {}: host services under no policy, runtime scopes made there "
          "judged as zone {} from their mkdir",
          cgroup_root + b.cgroup_path, b.zone);
      continue;
    }
    if (b.kind == policy::BindingKind::Exempt) {
      spdlog::info("  under no policy: {} ({})",
                   b.display_name.empty() ? b.cgroup_path : b.display_name,
                   cgroup_root + b.cgroup_path);
      continue;
    }
    spdlog::info(
        "  {} {} in {}: {} ({} addresses)",
        b.kind == policy::BindingKind::Placeholder ? "placeholder for new cgroups, as" : "workload",
        b.workload.empty() ? policy::anonymous_name(b) : b.workload, b.zone,
        cgroup_root + b.cgroup_path, b.addresses.size());
  }
  if (!found.remote.empty() || !found.services.empty())
    spdlog::info("  {} pods on other nodes and {} Service ports judged by who they are",
                 found.remote.size(), found.services.size());
  for (const auto& g : guards)
    spdlog::info("  guard {}: backend {} ({}){}{}", guard_name(g.guard), backend_name(g.backend),
                 g.guarantee, g.note.empty() ? "" : ": ", g.note);
  if (found.bindings.empty())
    spdlog::info("  no cgroup matches the policy's selectors yet; re-scanning every {}s",
                 options.rescan_seconds);
  spdlog::info("alerts: {}; metrics: http://{}/metrics",
               options.alerts == "-" ? "stdout" : options.alerts, options.metrics_address);
  const auto& p = options.pipeline;
  std::string budgets;
  for (const auto& [kind, b] : p.kind_budgets)
    budgets += fmt::format(", {} {}/s burst {}", events::kind_name(kind), b.rate, b.burst);
  if (p.rate_limit > 0 || !p.kind_budgets.empty())
    spdlog::info(
        "rate limit per workload and kind: {}/s burst {}{}; the first alert of each "
        "target always leaves ({} targets per kind, {}s); suppression summaries every {}s",
        p.rate_limit, p.rate_burst, budgets, p.distinct_targets,
        std::chrono::duration<double>(p.distinct_target_memory).count(),
        std::chrono::duration<double>(p.summary_interval).count());
  else
    spdlog::info("rate limit: off (every alert leaves)");
}

}  // namespace guardrail::agent
