// The audit of every running container: the engine's inspect documents, /proc of each init, and
// the host's AppArmor switch; `guardrail audit` on top.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <ostream>
#include <string>
#include <tuple>

#include "guardrail/posture/posture.hpp"

namespace guardrail::posture {

bool host_has_apparmor(const std::string& enabled_path) {
  std::ifstream in(enabled_path);
  std::string value;
  return in >> value && value == "Y";
}

ContainerPosture assess_container(const nlohmann::json& inspect, bool apparmor,
                                  const BindAllowlist& allowed_bind_sources,
                                  const std::string& proc_root) {
  ContainerPosture posture;
  posture.container = docker::container_from_inspect(inspect);
  const Result<ProcStatus> status = read_proc_status(posture.container.pid, proc_root);
  posture.findings = assess(inspect, status, apparmor, allowed_bind_sources);
  return posture;
}

Result<std::vector<ContainerPosture>> audit(const docker::Client& client) {
  return audit(client, {});
}

Result<std::vector<ContainerPosture>> audit(const docker::Client& client,
                                            const BindAllowlist& allowed_bind_sources) {
  auto containers = client.containers();
  if (!containers) return propagate(containers);
  const bool apparmor = host_has_apparmor();
  std::vector<ContainerPosture> out;
  for (const auto& c : *containers) {
    // Inspected again (not taken from the listing) so that the /proc read follows the freshest
    // State.Pid; a container removed meanwhile is no longer ours to judge.
    auto doc = client.inspect(c.id);
    if (!doc) {
      if (doc.error().message.find("HTTP 404") != std::string::npos) continue;
      return propagate(doc);
    }
    out.push_back(assess_container(*doc, apparmor, allowed_bind_sources));
  }
  std::ranges::sort(out, [](const ContainerPosture& a, const ContainerPosture& b) {
    return std::tie(a.container.name, a.container.id) < std::tie(b.container.name, b.container.id);
  });
  return out;
}

int run_audit_command(bool json, const std::string& docker_socket, std::ostream& out,
                      std::ostream& err) {
  const docker::Client client(docker_socket);
  if (auto version = client.version(); !version) {
    err << fmt::format("guardrail audit: {}\n", version.error().message);
    return 2;
  }
  auto result = audit(client);
  if (!result) {
    err << fmt::format("guardrail audit: {}\n", result.error().message);
    return 2;
  }
  if (json)
    out << to_json(*result).dump(2) << "\n";
  else
    print_table(*result, out);
  return std::ranges::all_of(*result, &ContainerPosture::compliant) ? 0 : 1;
}

}  // namespace guardrail::posture
