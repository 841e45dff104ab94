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

Fields Parser::fields(const YAML::Node& map, std::string_view where,
                      std::initializer_list<std::string_view> allowed) {
  Fields out;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // A copy (a node is a handle): `it->` goes through a temporary proxy.
    const YAML::Node key = it->first;
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
    const auto [first, inserted] = out.try_emplace(name, Field{key.Mark(), it->second});
    if (!inserted)
      error(key.Mark(), "duplicate field '" + name + "' in " + std::string(where) +
                            " (first given at line " +
                            std::to_string(first->second.key_mark.line + 1) + "); keep only one");
  }
  return out;
}

const Field* Parser::require(const Fields& fs, const YAML::Node& map, const std::string& name,
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

std::optional<Mode> Parser::mode(const Field& f, std::string_view where) {
  const auto value = string(f, "mode", where);
  if (!value) return std::nullopt;
  if (*value == "enforce") return Mode::Enforce;
  if (*value == "audit") return Mode::Audit;
  error(f.mark(), "invalid mode '" + *value + "'; allowed: enforce, audit");
  return std::nullopt;
}

std::optional<Protocol> Parser::protocol(const Field& f, std::string_view where) {
  const auto value = string(f, "protocol", where);
  if (!value) return std::nullopt;
  if (*value == "tcp") return Protocol::Tcp;
  if (*value == "udp") return Protocol::Udp;
  if (*value == "icmp") return Protocol::Icmp;
  if (*value == "any") return Protocol::Any;
  error(f.mark(), "invalid protocol '" + *value + "'; allowed: tcp, udp, icmp, any");
  return std::nullopt;
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
  bool ok = true;
  for (const YAML::Node& item : f.value) {
    if (!item.IsScalar()) {
      error(item.Mark(),
            "each port must be a number or a \"lo-hi\" range, got " + describe_node(item));
      ok = false;
      continue;
    }
    auto range = parse_port_item(item.Scalar());
    if (!range) {
      error(item.Mark(), range.error().message);
      ok = false;
      continue;
    }
    out.push_back(*range);
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> Parser::glob(const YAML::Node& node, const YAML::Mark& mark) {
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
  bool ok = true;
  for (const YAML::Node& item : f.value) {
    if (!item.IsScalar()) {
      error(item.Mark(), std::string(what.starts_with("image") ? "an " : "a ") + std::string(what) +
                             " must be a string like \"" + std::string(example) + "\", got " +
                             describe_node(item));
      ok = false;
    } else if (auto p = problem(item.Scalar())) {
      error(item.Mark(), *p);
      ok = false;
    } else {
      out.push_back(item.Scalar());
    }
  }
  return ok;
}

std::optional<Action> Parser::action(const Field& f, std::string_view where) {
  const auto value = string(f, "action", where);
  if (!value) return std::nullopt;
  if (*value == "deny") return Action::Deny;
  if (*value == "audit") return Action::Audit;
  if (*value == "kill") return Action::Kill;
  error(f.mark(),
        "invalid action '" + *value + "' in " + std::string(where) +
            "; allowed: deny, audit, kill" +
            suggestion(*value, std::initializer_list<std::string_view>{"deny", "audit", "kill"}));
  return std::nullopt;
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
