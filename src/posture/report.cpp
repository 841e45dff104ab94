// The two renderings of an audit: a table for people (failures spelled out under each container),
// JSON for tools.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ostream>
#include <string>

#include "guardrail/posture/posture.hpp"

namespace guardrail::posture {
namespace {

// Names, images and details come from the containers: no control character reaches a terminal.
std::string printable(std::string s) {
  for (char& c : s)
    if (std::iscntrl(static_cast<unsigned char>(c))) c = '?';
  return s;
}

std::string short_id(const std::string& id) { return id.substr(0, 12); }

}  // namespace

void print_table(const std::vector<ContainerPosture>& result, std::ostream& out) {
  if (result.empty()) {
    out << "no running containers\n";
    return;
  }
  std::size_t name_w = 4, image_w = 5;
  for (const auto& p : result) {
    name_w = std::max(name_w, printable(p.container.name).size());
    image_w = std::max(image_w, printable(p.container.image).size());
  }
  out << fmt::format("{:<{}}  {:<12}  {:<{}}  {:>4}  {:>4}\n", "NAME", name_w, "ID", "IMAGE",
                     image_w, "PASS", "FAIL");
  std::size_t compliant = 0;
  for (const auto& p : result) {
    const auto passed = std::size_t(std::ranges::count_if(p.findings, &Finding::passed));
    const std::size_t failed = p.findings.size() - passed;
    if (failed == 0) ++compliant;
    out << fmt::format("{:<{}}  {:<12}  {:<{}}  {:>4}  {:>4}\n", printable(p.container.name),
                       name_w, short_id(p.container.id), printable(p.container.image), image_w,
                       passed, failed);
    for (const auto& f : p.findings)
      if (!f.passed) out << fmt::format("    {}: {}\n", f.check, printable(f.detail));
  }
  out << fmt::format("\n{} container{}, {} compliant\n", result.size(),
                     result.size() == 1 ? "" : "s", compliant);
}

nlohmann::json to_json(const std::vector<ContainerPosture>& result) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : result) {
    nlohmann::json findings = nlohmann::json::array();
    for (const auto& f : p.findings)
      findings.push_back({{"check", f.check}, {"passed", f.passed}, {"detail", f.detail}});
    out.push_back({{"id", p.container.id},
                   {"name", p.container.name},
                   {"image", p.container.image},
                   {"labels", p.container.labels},
                   {"compliant", p.compliant()},
                   {"findings", findings}});
  }
  return out;
}

}  // namespace guardrail::posture
