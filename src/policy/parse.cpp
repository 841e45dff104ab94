// Reading a policy file: YAML to the Policy model, validating every field and collecting every
// problem (with its line and column) instead of stopping at the first. This file holds the
// document and its spec; parser.hpp lists the steps below them.
#include "guardrail/policy/parse.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "guardrail/policy/model.hpp"
#include "guardrail/policy/vocabulary.hpp"
#include "parser.hpp"

namespace guardrail::policy {
namespace detail {
namespace {

constexpr std::string_view kApiVersion = "guardrail.io/v1alpha1";
constexpr std::string_view kKind = "GuardrailPolicy";
constexpr std::size_t kMaxDiagnostics = 100;  // reported of one file

}  // namespace

ParseResult Parser::failed() { return std::unexpected(std::move(diagnostics_)); }

ParseResult Parser::parse(const std::string& text) {
  if (text.size() > kMaxPolicyBytes) {
    error(yaml::Mark{0, 0}, "the policy file has more than " + std::to_string(kMaxPolicyBytes) +
                                " bytes (1 MiB, the limit, as for a ConfigMap); shorten the "
                                "allowlists (wider CIDRs, port ranges) or split the policy");
    return failed();
  }
  auto stream = yaml::load_all(text);
  if (!stream) {
    error(stream.error().mark, stream.error().message);
    return failed();
  }
  const std::vector<yaml::Node>& documents = stream->documents;
  if (documents.empty()) {
    error(yaml::Mark{0, 0},
          "the policy file is empty; write a GuardrailPolicy document (apiVersion, kind, "
          "metadata, spec)");
    return failed();
  }
  if (documents.size() > 1)
    error(documents[1].Mark(), "more than one YAML document; put one policy per file");
  const yaml::Node& root = documents[0];
  if (!expect_map(root, root.Mark(),
                  "a policy must be a map with apiVersion, kind, metadata and spec; got "))
    return failed();

  Policy policy;
  policy.file = file_;
  const Fields fs = fields(root, "policy", {"apiVersion", "kind", "metadata", "spec"});
  parse_header(fs, root);
  if (const Field* f = require(fs, root, "metadata", "policy", "metadata: {name: NAME}"))
    parse_metadata(*f, policy);
  if (const Field* f = require(fs, root, "spec", "policy", "spec: with at least zones:"))
    parse_spec(*f, policy);
  if (diagnostics_.empty()) return policy;
  std::ranges::stable_sort(diagnostics_, [](const Diagnostic& a, const Diagnostic& b) {
    return std::pair(a.pos.line, a.pos.column) < std::pair(b.pos.line, b.pos.column);
  });
  // A file of 100,000 bad entries gets the first ones and a count, not 100,000 lines.
  if (diagnostics_.size() > kMaxDiagnostics) {
    const std::size_t more = diagnostics_.size() - kMaxDiagnostics;
    diagnostics_.resize(kMaxDiagnostics);
    diagnostics_.push_back({diagnostics_.back().pos, "and " + std::to_string(more) +
                                                         " more errors after this one; fix "
                                                         "these first"});
  }
  return failed();
}

// apiVersion and kind, which must be these exact values.
void Parser::parse_header(const Fields& fs, const yaml::Node& root) {
  if (const Field* f =
          require(fs, root, "apiVersion", "policy", "apiVersion: " + std::string(kApiVersion))) {
    if (auto v = string(*f, "apiVersion", "policy"); v && *v != kApiVersion)
      error(f->mark(),
            "unsupported apiVersion '" + *v + "'; use apiVersion: " + std::string(kApiVersion));
  }
  if (const Field* f = require(fs, root, "kind", "policy", "kind: " + std::string(kKind))) {
    if (auto v = string(*f, "kind", "policy"); v && *v != kKind)
      error(f->mark(), "unsupported kind '" + *v + "'; use kind: " + std::string(kKind));
  }
}

void Parser::parse_metadata(const Field& f, Policy& policy) {
  if (!f.value.IsMap()) {
    error(f.mark(),
          "field 'metadata' must be a map like {name: default}, got " + describe_node(f.value));
    return;
  }
  const Fields fs = fields(f.value, "metadata", {"name"});
  if (const Field* n = require(fs, f.value, "name", "metadata", "name: <policy name>")) {
    if (auto v = string(*n, "name", "metadata")) {
      if (v->empty()) error(n->mark(), "field 'name' in metadata is empty; give the policy a name");
      policy.name = *v;
    }
  }
}

void Parser::parse_spec(const Field& f, Policy& policy) {
  if (!f.value.IsMap()) {
    error(f.mark(),
          "field 'spec' must be a map with mode, defaultZone, quarantineOn, zones, workloads and "
          "flows; got " +
              describe_node(f.value));
    return;
  }
  const yaml::Node& spec = f.value;
  const Fields fs =
      fields(spec, "spec", {"mode", "defaultZone", "quarantineOn", "zones", "workloads", "flows"});
  if (auto it = fs.find("mode"); it != fs.end()) {
    if (auto m = mode(it->second, "spec")) policy.mode = *m;
  }
  // Zones first, then workloads (which name zones), then flows (which name both).
  if (const Field* z = require(fs, spec, "zones", "spec", "zones: with at least one zone"))
    parse_zones(*z, policy);
  if (auto it = fs.find("defaultZone"); it != fs.end()) parse_default_zone(it->second, policy);
  const auto given = [&](const char* key) -> const Field* {
    const auto it = fs.find(key);
    return it == fs.end() || it->second.value.IsNull() ? nullptr : &it->second;
  };
  if (const Field* q = given("quarantineOn")) parse_quarantine_on(*q, policy);
  if (const Field* w = given("workloads")) {
    if (expect_list(*w, "workloads", "[{name: orchestrator, zone: control-plane}]"))
      for (const yaml::Node& node : w->value)
        if (auto workload = parse_workload(node)) policy.workloads.push_back(std::move(*workload));
  }
  if (const Field* fl = given("flows")) {
    if (expect_list(*fl, "flows", "[{from: {zone: a}, to: {zone: b}}]"))
      for (const yaml::Node& node : fl->value)
        if (auto flow = parse_flow(node)) policy.flows.push_back(std::move(*flow));
  }
}

void Parser::parse_zones(const Field& f, Policy& policy) {
  if (!expect_list(f, "zones", "[{name: agent-sandbox}]")) return;
  if (f.value.size() == 0) error(f.mark(), "spec.zones is empty; define at least one zone");
  for (const yaml::Node& node : f.value)
    if (auto zone = parse_zone(node)) policy.zones.push_back(std::move(*zone));
}

void Parser::parse_default_zone(const Field& f, Policy& policy) {
  const auto v = string(f, "defaultZone", "spec");
  if (!v) return;
  const std::vector<std::string> names = names_of(zones_);
  if (v->empty())
    error(f.mark(),
          "field 'defaultZone' in spec is empty; name the zone of containers no selector "
          "names (e.g. agent-sandbox), or remove it");
  else if (!zones_.contains(*v))
    error(f.mark(),
          "unknown zone '" + *v + "' in defaultZone" +
              (names.empty() ? "; no zones are defined" : "; defined zones: " + join(names)) +
              suggestion(*v, names));
  else
    policy.default_zone = *v;
}

// spec.quarantineOn: names from the posture checks' one list (vocabulary.hpp).
void Parser::parse_quarantine_on(const Field& f, Policy& policy) {
  if (!expect_list(f, "quarantineOn", "[not_privileged, no_runtime_socket]")) return;
  for (const yaml::Node& item : f.value) {
    const bool known =
        item.IsScalar() && std::ranges::find(kPostureChecks, item.Scalar()) != kPostureChecks.end();
    if (known) {
      policy.quarantine_on.push_back(item.Scalar());
      continue;
    }
    const std::string name = item.IsScalar() ? item.Scalar() : describe_node(item);
    error(item.Mark(), "unknown posture check '" + name +
                           "' in quarantineOn; checks: " + join(kPostureChecks) +
                           (item.IsScalar() ? suggestion(name, kPostureChecks) : ""));
  }
}

}  // namespace detail

ParseResult parse_policy(const std::string& text, const std::string& file_name) {
  return detail::Parser(file_name).parse(text);
}

ParseResult load_policy_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  std::string text;
  int err = 0;
  if (!file) {
    err = errno;
  } else {
    char buf[65536];
    std::size_t n;
    // Stops once past the limit (one buffer at most): a huge file (or /dev/zero) is refused,
    // not read whole.
    while (text.size() <= kMaxPolicyBytes && (n = std::fread(buf, 1, sizeof buf, file)) > 0)
      text.append(buf, n);
    if (std::ferror(file)) err = errno ? errno : EIO;
    std::fclose(file);
  }
  if (err != 0)
    return std::unexpected(std::vector<Diagnostic>{
        {Position{path, 0, 0}, std::string("cannot read: ") + std::strerror(err)}});
  return parse_policy(text, path);
}

}  // namespace guardrail::policy
