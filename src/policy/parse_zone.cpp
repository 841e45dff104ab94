// Zones: name, mode, the selector (cgroup globs; container and pod labels; container names and
// images; pod namespaces and matchExpressions) and the egress allowlist.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "guardrail/policy/list_file.hpp"
#include "parser.hpp"

namespace guardrail::policy::detail {

std::optional<Zone> Parser::parse_zone(const yaml::Node& node) {
  const auto item = item_fields(node, "zone", {"name", "mode", "selector", "egress", "guards"});
  if (!item) return std::nullopt;
  const Fields& fs = *item;
  Zone zone;
  zone.pos = position(node.Mark());
  bool ok = true;
  if (const Field* n = require(fs, node, "name", "zone", "name: <zone name>")) {
    if (auto v = name(*n, "zone")) {
      zone.name = *v;
      ok = define(zones_, *v, *n, "zone");
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  if (auto it = fs.find("mode"); it != fs.end()) {
    zone.mode = mode(it->second, "zone");
    ok = ok && zone.mode;
  }
  if (auto it = fs.find("selector"); it != fs.end()) ok = parse_selector(it->second, zone) && ok;
  if (auto it = fs.find("egress"); it != fs.end() && !it->second.value.IsNull())
    ok = parse_egress(it->second, zone) && ok;
  if (auto it = fs.find("guards"); it != fs.end()) ok = parse_guards(it->second, zone.guards) && ok;
  if (!ok) return std::nullopt;
  return zone;
}

bool Parser::parse_selector(const Field& f, Zone& zone) {
  const std::string z = zone.name.empty() ? "<zone>" : zone.name;
  const std::string cgroups_example = "[\"/guardrail/" + z + "/*\"]";
  const std::string empty_selector =
      "empty selector: it selects no cgroups, no containers and no pods; add cgroups: " +
      cgroups_example + ", labels: {guardrail.io/zone: " + z + "}, names: [\"" + z +
      "-*\"], images: " + "[\"registry.local/" + z + "/*\"] or namespaces: [" + z +
      "], or remove selector";
  if (f.value.IsNull()) {
    error(f.mark(), empty_selector);
    return false;
  }
  if (!expect_map(f.value, f.mark(),
                  "field 'selector' must be a map with cgroups, labels, names, images, "
                  "namespaces, matchExpressions, e.g. " +
                      std::string("{cgroups: ") + cgroups_example + "}, got "))
    return false;
  const Fields fs =
      fields(f.value, "selector",
             {"cgroups", "labels", "names", "images", "namespaces", "matchExpressions"});
  bool ok = fs.size() == f.value.size();  // unknown or duplicate fields, reported
  bool selects = false;                   // some field selects something
  std::optional<yaml::Mark> first_empty;  // the first field (in the file) given empty
  for (const auto& [key, field] : fs) {
    const yaml::Node& v = field.value;
    const bool given_empty =
        v.IsNull() || ((key == "labels" ? v.IsMap() : v.IsSequence()) && v.size() == 0);
    if (!given_empty) {
      selects = true;
      ok = parse_selector_field(key, field, zone) && ok;
      continue;
    }
    const yaml::Mark m = field.mark();
    if (!first_empty ||
        std::pair(m.line, m.column) < std::pair(first_empty->line, first_empty->column))
      first_empty = m;
  }
  if (!selects && (!fs.empty() || f.value.size() == 0)) {
    // Nothing selects (when only unknown fields were given, they are reported already).
    error(first_empty ? *first_empty : f.mark(), empty_selector);
    ok = false;
  }
  return ok;
}

// One selector field that is not empty: cgroups, labels, names, images, namespaces or
// matchExpressions.
bool Parser::parse_selector_field(const std::string& key, const Field& field, Zone& zone) {
  const std::string z = zone.name.empty() ? "<zone>" : zone.name;
  if (key == "labels") return parse_labels(field, zone.match_labels);
  if (key == "namespaces") return parse_namespaces(field, zone.namespaces);
  if (key == "matchExpressions") return parse_match_expressions(field, zone.match_expressions);
  if (key == "names")
    return glob_list(field, "names", "container name glob", z + "-*", container_name_problem,
                     zone.name_globs);
  if (key == "images")
    return glob_list(field, "images", "image glob", "registry.local/" + z + "/*", image_problem,
                     zone.image_globs);
  if (!expect_list(field, "cgroups", "[\"/guardrail/" + z + "/*\"]")) return false;
  bool ok = true;
  for (const yaml::Node& item : field.value) {
    if (auto g = glob(item, item.Mark()))
      zone.cgroup_globs.push_back(*g);
    else
      ok = false;
  }
  return ok;
}

bool Parser::parse_labels(const Field& f, std::map<std::string, std::string>& out) {
  if (!expect_map(f.value, f.mark(),
                  "field 'labels' in selector must be a map of label names to values, e.g. "
                  "{guardrail.io/zone: agent-sandbox}; got "))
    return false;
  bool ok = true;
  std::map<std::string, yaml::Mark> seen;
  for (const auto& [key, value] : f.value.entries()) ok = parse_label(key, value, seen, out) && ok;
  return ok;
}

bool Parser::parse_label(const yaml::Node& key, const yaml::Node& value,
                         std::map<std::string, yaml::Mark>& seen,
                         std::map<std::string, std::string>& out) {
  if (!key.IsScalar()) {
    error(key.Mark(),
          "a label name must be a string like guardrail.io/zone, got " + describe_node(key));
    return false;
  }
  const std::string& label = key.Scalar();
  if (label.empty()) {
    error(key.Mark(),
          "empty label name; write name: value, e.g. {guardrail.io/zone: agent-sandbox}");
    return false;
  }
  if (const auto [first, inserted] = seen.try_emplace(label, key.Mark()); !inserted) {
    error(key.Mark(), "duplicate label '" + label + "' (first given at line " +
                          std::to_string(first->second.line + 1) + "); keep only one");
    return false;
  }
  if (value.IsNull()) {
    error(key.Mark(), "label '" + label + "' has no value; write " + label + ": VALUE, or " +
                          label + ": \"\" to match an empty value");
    return false;
  }
  if (!value.IsScalar()) {
    error(value.Mark(),
          "the value of label '" + label + "' must be a string, got " + describe_node(value));
    return false;
  }
  out.emplace(label, value.Scalar());
  return true;
}

// selector.namespaces: Kubernetes namespaces, each once.
bool Parser::parse_namespaces(const Field& f, std::vector<std::string>& out) {
  if (!expect_list(f, "namespaces", "[prod, staging]")) return false;
  std::map<std::string, yaml::Mark> seen;
  return each_scalar(
      f.value, "each namespace in selector.namespaces must be a string like prod, got ",
      [&](const yaml::Node& item) {
        const std::string& name = item.Scalar();
        if (auto problem = namespace_problem(name)) {
          error(item.Mark(), *problem + " (in selector.namespaces)");
          return false;
        }
        if (const auto [first, inserted] = seen.try_emplace(name, item.Mark()); !inserted) {
          error(item.Mark(), "duplicate namespace '" + name +
                                 "' in selector.namespaces (first "
                                 "given at line " +
                                 std::to_string(first->second.line + 1) + "); keep only one");
          return false;
        }
        out.push_back(name);
        return true;
      });
}

// One requirement of selector.matchExpressions: key, operator and (In, NotIn) values.
std::optional<LabelExpression> Parser::parse_match_expression(const yaml::Node& node) {
  const auto item = item_fields(node, "match expression", {"key", "operator", "values"});
  if (!item) return std::nullopt;
  const Fields& fs = *item;
  LabelExpression e;
  bool ok = true;
  const Field* k = require(fs, node, "key", "match expression", "key: <label key>, e.g. key: app");
  if (const auto key = k ? string(*k, "key", "match expression") : std::nullopt) {
    e.key = *key;
    if (auto problem = label_key_problem(*key)) {
      error(k->mark(), "invalid key in match expression: " + *problem);
      ok = false;
    }
  } else {
    ok = false;
  }
  const Field* o = require(fs, node, "operator", "match expression",
                           "operator: In, NotIn, Exists or DoesNotExist");
  const auto op = o ? label_operator(*o) : std::nullopt;
  if (!op) return std::nullopt;  // values cannot be judged without it
  e.op = *op;
  if (!(parse_expression_values(fs, node, e) && ok)) return std::nullopt;
  return e;
}

// selector.matchExpressions: Kubernetes label selector requirements.
bool Parser::parse_match_expressions(const Field& f, std::vector<LabelExpression>& out) {
  return list_of(f, "matchExpressions", "[{key: app, operator: In, values: [web]}]", out,
                 [&](const yaml::Node& item) { return parse_match_expression(item); });
}

// In and NotIn need values; Exists and DoesNotExist take none (Kubernetes' rules).
bool Parser::parse_expression_values(const Fields& fs, const yaml::Node& node, LabelExpression& e) {
  using Op = LabelExpression::Op;
  const bool takes_values = e.op == Op::In || e.op == Op::NotIn;
  const std::string op = e.op == Op::In       ? "In"
                         : e.op == Op::NotIn  ? "NotIn"
                         : e.op == Op::Exists ? "Exists"
                                              : "DoesNotExist";
  const auto it = fs.find("values");
  const bool empty = it == fs.end() || it->second.value.IsNull() ||
                     (it->second.value.IsSequence() && it->second.value.size() == 0);
  if (!takes_values) {
    if (empty) return true;
    error(it->second.mark(), "operator " + op + " takes no values (it tests whether key '" + e.key +
                                 "' is " + (e.op == Op::Exists ? "present" : "absent") +
                                 "); remove values, or use operator " +
                                 (e.op == Op::Exists ? "In" : "NotIn") + " to test them");
    return false;
  }
  if (it == fs.end()) {
    error(node.Mark(), "operator " + op + " needs values; add values: [VALUE, ...], the label " +
                           "values key '" + e.key + "' must " + (e.op == Op::In ? "" : "not ") +
                           "have, or use operator " + (e.op == Op::In ? "Exists" : "DoesNotExist"));
    return false;
  }
  const Field& f = it->second;
  if (!expect_list(f, "values", "[web, api]")) return false;
  if (empty) {
    error(f.mark(), "values is empty; operator " + op +
                        " needs at least one value, e.g. "
                        "values: [web]");
    return false;
  }
  return each_scalar(f.value, "each value must be a string like web, got ",
                     [&](const yaml::Node& item) {
                       if (auto problem = label_value_problem(item.Scalar())) {
                         error(item.Mark(), *problem + " (in values of key '" + e.key + "')");
                         return false;
                       }
                       e.values.push_back(item.Scalar());
                       return true;
                     });
}

bool Parser::parse_egress(const Field& f, Zone& zone) {
  return list_of(f, "egress", "[{cidr: 198.18.200.0/24, protocol: tcp, ports: [443]}]", zone.egress,
                 [&](const yaml::Node& item) { return parse_egress_rule(item); });
}

std::optional<EgressRule> Parser::parse_egress_rule(const yaml::Node& node) {
  const auto item = item_fields(node, "egress rule", {"cidr", "cidrFile", "protocol", "ports"});
  if (!item) return std::nullopt;
  const Fields& fs = *item;
  EgressRule rule;
  rule.pos = position(node.Mark());
  bool ok = true;
  if (const auto file = fs.find("cidrFile"); file != fs.end()) {
    if (fs.contains("cidr")) {
      error(file->second.key_mark,
            "an egress rule gives cidr or cidrFile, not both; put the prefix in the file or "
            "write two rules");
      ok = false;
    } else if (auto name = string(file->second, "cidrFile", "egress rule")) {
      rule.cidr_file = list_file_path(file_, *name);
      if (!read_cidr_list(rule.cidr_file, "prefix", rule.file_cidrs, diagnostics_)) {
        ok = false;
      } else if (rule.file_cidrs.empty()) {
        error(file->second.mark(), "cidrFile " + rule.cidr_file +
                                       " lists no prefix; write one per line, e.g. "
                                       "198.18.200.0/24, or remove the rule");
        ok = false;
      }
    } else {
      ok = false;
    }
    ok = protocol_and_ports(fs, "egress rule", rule.protocol, rule.ports) && ok;
    if (!ok) return std::nullopt;
    return rule;
  }
  const Field* c =
      require(fs, node, "cidr", "egress rule",
              "cidr: <prefix>, e.g. 198.18.200.0/24 (or cidrFile: <file of prefixes>)");
  const auto text = c ? string(*c, "cidr", "egress rule") : std::nullopt;
  if (!text) {
    ok = false;
  } else if (auto cidr = parse_cidr(*text)) {
    rule.cidr = std::move(*cidr);
  } else {
    error(c->mark(), "invalid cidr: " + cidr.error().message);
    ok = false;
  }
  ok = protocol_and_ports(fs, "egress rule", rule.protocol, rule.ports) && ok;
  if (!ok) return std::nullopt;
  return rule;
}

}  // namespace guardrail::policy::detail
