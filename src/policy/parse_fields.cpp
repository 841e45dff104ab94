// The parser's field readers: a map's fields against its allowed list ("unknown field ... did
// you mean"), required fields, and the typed values (strings, lists, names, modes, protocols,
// ports, actions, globs), each reporting what is wrong where it is.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parser.hpp"

namespace guardrail::policy::detail {

Fields Parser::fields(const yaml::Node& map, std::string_view where,
                      std::initializer_list<std::string_view> allowed) {
  Fields out;
  for (const auto& [key, value] : map.entries()) {
    if (!key.IsScalar()) {
      error(key.Mark(), "a key in " + std::string(where) + " is " + describe_node(key) +
                            ", not a field name; allowed: " + join(allowed));
      continue;
    }
    const std::string& name = key.Scalar();
    if (std::ranges::find(allowed, name) == allowed.end()) {
      error(key.Mark(), "unknown field '" + name + "' in " + std::string(where) +
                            "; allowed: " + join(allowed) + suggestion(name, allowed));
      continue;
    }
    const auto [first, inserted] = out.try_emplace(name, Field{key.Mark(), value});
    if (!inserted)
      error(key.Mark(), "duplicate field '" + name + "' in " + std::string(where) +
                            " (first given at line " +
                            std::to_string(first->second.key_mark.line + 1) + "); keep only one");
  }
  return out;
}

std::optional<Fields> Parser::item_fields(const yaml::Node& node, std::string_view what,
                                          std::initializer_list<std::string_view> allowed) {
  if (!expect_map(node, node.Mark(),
                  "each " + std::string(what) + " must be a map with " + join(allowed) + "; got "))
    return std::nullopt;
  return fields(node, what, allowed);
}

const Field* Parser::require(const Fields& fs, const yaml::Node& map, const std::string& name,
                             std::string_view where, std::string_view hint) {
  const auto it = fs.find(name);
  if (it != fs.end()) return &it->second;
  error(map.Mark(), "missing required field '" + name + "' in " + std::string(where) + "; add " +
                        std::string(hint));
  return nullptr;
}

std::optional<std::string> Parser::string(const Field& f, std::string_view name,
                                          std::string_view where) {
  if (f.value.IsScalar()) return f.value.Scalar();
  if (f.value.IsNull())
    error(f.mark(), "field '" + std::string(name) + "' in " + std::string(where) +
                        " is empty; give it a value");
  else
    error(f.mark(), "field '" + std::string(name) + "' in " + std::string(where) +
                        " must be a string, got " + describe_node(f.value));
  return std::nullopt;
}

bool Parser::checked_string(const Field& f, std::string_view name, std::string_view where,
                            std::optional<std::string> (*problem)(const std::string&),
                            std::string& out) {
  const auto v = string(f, name, where);
  if (!v) return false;
  if (auto p = problem(*v)) {
    error(f.mark(), *p);
    return false;
  }
  out = *v;
  return true;
}

bool Parser::expect_list(const Field& f, std::string_view name, std::string_view example) {
  if (f.value.IsSequence()) return true;
  error(f.mark(), "field '" + std::string(name) + "' must be a list, e.g. " + std::string(example) +
                      "; got " + describe_node(f.value));
  return false;
}

std::optional<std::string> Parser::name(const Field& f, std::string_view what) {
  auto value = string(f, "name", what);
  if (!value) return std::nullopt;
  if (!valid_name(*value))
    error(f.mark(), "invalid " + std::string(what) + " name '" + *value +
                        "'; use at most 63 lowercase letters, digits and '-', starting and "
                        "ending with a letter or digit (e.g. agent-sandbox)");
  return value;
}

bool Parser::expect_map(const yaml::Node& node, const yaml::Mark& mark,
                        const std::string& must_be) {
  if (node.IsMap()) return true;
  error(mark, must_be + describe_node(node));
  return false;
}

template <typename E>
std::optional<E> Parser::one_of(const Field& f, std::string_view key, std::string_view where,
                                std::initializer_list<std::pair<std::string_view, E>> choices,
                                const std::string& in, bool suggest) {
  const auto value = string(f, key, where);
  if (!value) return std::nullopt;
  std::vector<std::string_view> names;
  for (const auto& [name, choice] : choices) {
    if (name == *value) return choice;
    names.push_back(name);
  }
  error(f.mark(), "invalid " + std::string(key) + " '" + *value + "'" + in +
                      "; allowed: " + join(names) + (suggest ? suggestion(*value, names) : ""));
  return std::nullopt;
}

std::optional<Mode> Parser::mode(const Field& f, std::string_view where) {
  return one_of<Mode>(f, "mode", where, {{"enforce", Mode::Enforce}, {"audit", Mode::Audit}}, "",
                      false);
}

std::optional<UnixMode> Parser::unix_mode(const Field& f, std::string_view where) {
  return one_of<UnixMode>(f, "mode", where,
                          {{"denylist", UnixMode::Denylist}, {"allowlist", UnixMode::Allowlist}},
                          " in " + std::string(where), true);
}

std::optional<LabelExpression::Op> Parser::label_operator(const Field& f) {
  using Op = LabelExpression::Op;
  return one_of<Op>(f, "operator", "match expression",
                    {{"In", Op::In},
                     {"NotIn", Op::NotIn},
                     {"Exists", Op::Exists},
                     {"DoesNotExist", Op::DoesNotExist}},
                    " in match expression", true);
}

std::optional<Protocol> Parser::protocol(const Field& f, std::string_view where) {
  return one_of<Protocol>(f, "protocol", where,
                          {{"tcp", Protocol::Tcp},
                           {"udp", Protocol::Udp},
                           {"icmp", Protocol::Icmp},
                           {"any", Protocol::Any}},
                          "", false);
}

std::optional<std::vector<PortRange>> Parser::ports(const Field& f, Protocol proto) {
  if (proto == Protocol::Icmp) {
    error(f.mark(),
          "ports are not allowed with protocol icmp (ICMP has no ports); remove ports "
          "or use tcp or udp");
    return std::nullopt;
  }
  if (!expect_list(f, "ports", "[443, \"8000-8100\"]")) return std::nullopt;
  if (f.value.size() == 0) {
    error(f.mark(), "ports is empty; omit ports to allow every port, or list at least one");
    return std::nullopt;
  }
  std::vector<PortRange> out;
  const bool ok = each_scalar(f.value, "each port must be a number or a \"lo-hi\" range, got ",
                              [&](const yaml::Node& item) {
                                auto range = parse_port_item(item.Scalar());
                                if (!range) error(item.Mark(), range.error().message);
                                if (range) out.push_back(*range);
                                return range.has_value();
                              });
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> Parser::glob(const yaml::Node& node, const yaml::Mark& mark) {
  if (!node.IsScalar()) {
    error(mark, "a cgroup glob must be a string like \"/guardrail/<zone>/*\", got " +
                    describe_node(node));
    return std::nullopt;
  }
  if (auto problem = glob_problem(node.Scalar())) {
    error(mark, *problem);
    return std::nullopt;
  }
  return node.Scalar();
}

bool Parser::glob_list(const Field& f, std::string_view key, std::string_view what,
                       std::string_view example,
                       std::optional<std::string> (*problem)(const std::string&),
                       std::vector<std::string>& out) {
  if (!expect_list(f, key, "[\"" + std::string(example) + "\"]")) return false;
  const std::string must_be = std::string(what.starts_with("image") ? "an " : "a ") +
                              std::string(what) + " must be a string like \"" +
                              std::string(example) + "\", got ";
  return each_scalar(f.value, must_be, [&](const yaml::Node& item) {
    if (auto p = problem(item.Scalar())) {
      error(item.Mark(), *p);
      return false;
    }
    out.push_back(item.Scalar());
    return true;
  });
}

std::optional<Action> Parser::action(const Field& f, std::string_view where) {
  return one_of<Action>(f, "action", where,
                        {{"deny", Action::Deny}, {"audit", Action::Audit}, {"kill", Action::Kill}},
                        " in " + std::string(where), true);
}

// The optional protocol and ports of an egress rule or a flow (ports are checked against the
// protocol).
bool Parser::protocol_and_ports(const Fields& fs, std::string_view where, Protocol& protocol_out,
                                std::vector<PortRange>& ports_out) {
  bool ok = true;
  if (auto it = fs.find("protocol"); it != fs.end()) {
    if (auto p = protocol(it->second, where))
      protocol_out = *p;
    else
      ok = false;
  }
  if (auto it = fs.find("ports"); it != fs.end()) {
    if (auto p = ports(it->second, protocol_out))
      ports_out = std::move(*p);
    else
      ok = false;
  }
  return ok;
}

bool Parser::define(Names& names, const std::string& name, const Field& f, std::string_view kind) {
  const auto [first, inserted] = names.try_emplace(name, Defined{f.mark()});
  if (inserted) return true;
  error(f.mark(), "duplicate " + std::string(kind) + " '" + name + "' (first defined at line " +
                      std::to_string(first->second.mark.line + 1) + "); " + std::string(kind) +
                      " names must be unique");
  return false;
}

std::vector<std::string> Parser::names_of(const Names& names) {
  std::vector<std::string> out;
  for (const auto& [name, defined] : names) out.push_back(name);
  return out;
}

}  // namespace guardrail::policy::detail
