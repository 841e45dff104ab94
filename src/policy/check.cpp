// `guardrail policy check FILE...`: validate, compile without bindings, and print the result.
#include "guardrail/policy/check.hpp"

#include <algorithm>
#include <ostream>
#include <string>

#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/describe.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/policy/parse.hpp"

namespace guardrail::policy {

namespace {

// Checks one file; true when it is valid and compiles.
bool check_file(const std::string& path, std::ostream& out, std::ostream& err) {
  const auto policy = load_policy_file(path);
  if (!policy) {
    for (const Diagnostic& d : policy.error()) {
      // A file that cannot be read has no position: "FILE: cannot read: REASON".
      if (d.pos.line == 0)
        err << path << ": " << d.message << "\n";
      else
        err << d.format() << "\n";
    }
    return false;
  }
  const auto compiled = compile(*policy, {});
  if (!compiled) {
    err << path << ": error: " << compiled.error().message << "\n";
    return false;
  }
  out << path << ": ok\n";
  describe(*compiled, out);
  describe_containers(*policy, out);
  for (const Zone& zone : policy->zones) {
    if (zone.cgroup_globs.empty()) continue;
    out << "note: zone " << zone.name << " selects cgroups ";
    for (std::size_t i = 0; i < zone.cgroup_globs.size(); ++i)
      out << (i ? ", " : "") << zone.cgroup_globs[i];
    out << "; they are resolved at runtime by the agent\n";
  }
  for (const Workload& w : policy->workloads)
    if (!w.cgroup.empty())
      out << "note: workload " << w.name << " runs in cgroup " << w.cgroup
          << "; it is resolved at runtime by the agent\n";
  const bool selects_containers =
      std::ranges::any_of(policy->zones,
                          [](const Zone& z) {
                            return !z.match_labels.empty() || !z.name_globs.empty() ||
                                   !z.image_globs.empty();
                          }) ||
      std::ranges::any_of(policy->workloads,
                          [](const Workload& w) { return !w.container.empty(); });
  const std::string fallback = policy->effective_default_zone();
  if (selects_containers || !fallback.empty()) {
    out << "note: containers are matched at runtime by the agent's Docker discovery";
    if (!fallback.empty())
      out << "; a container no selector names, or not identified yet, is in zone " << fallback;
    out << "\n";
  }
  if (policy->uses_pod_selectors()) {
    out << "note: pods are matched at runtime by the agent's Kubernetes discovery";
    if (!fallback.empty())
      out << "; a pod no selector names, or not identified yet, is in zone " << fallback;
    out << "\n";
  }
  return true;
}

}  // namespace

int run_policy_check(const std::vector<std::string>& files, std::ostream& out, std::ostream& err) {
  if (files.empty()) {
    err << "policy check: no files given; usage: guardrail policy check FILE...\n";
    return 1;
  }
  bool all_ok = true;
  for (const std::string& path : files) all_ok = check_file(path, out, err) && all_ok;
  return all_ok ? 0 : 1;
}

}  // namespace guardrail::policy
