// Reading a policy file: YAML to the Policy model, validating every field and collecting every
// problem (with its line and column) instead of stopping at the first.
#include "guardrail/policy/parse.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/model.hpp"
#include "guardrail/policy/vocabulary.hpp"

namespace guardrail::policy {
namespace {

constexpr std::string_view kApiVersion = "guardrail.io/v1alpha1";
constexpr std::string_view kKind = "GuardrailPolicy";
constexpr std::size_t kMaxNameLength = 63;

// How a node reads in a message: "a list", "a map", "'text'" or "nothing".
std::string describe_node(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

template <typename Range>
std::string join(const Range& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The candidate `word` is most likely a misspelling of, or "" when none is close.
template <typename Range>
std::string closest(std::string_view word, const Range& candidates) {
  std::string best;
  std::size_t best_distance = 3;
  for (const auto& candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance && d < std::string_view(candidate).size()) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

// "; did you mean 'x'?" when one candidate is a likely misspelling of `word`, else "".
template <typename Range>
std::string suggestion(std::string_view word, const Range& candidates) {
  const std::string best = closest(word, candidates);
  return best.empty() ? "" : "; did you mean '" + best + "'?";
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// "CAP_NET_RAW" for "CAP_NET_RAWW" or "net_raww": the capability (or "ALL") `word` most likely
// misspells, or "".
std::string closest_capability(const std::string& word) {
  std::string bare = upper(word);
  if (bare.starts_with("CAP_")) bare.erase(0, 4);
  std::vector<std::string> names = {"ALL"};
  for (int n = 0; n <= kLastCapability; ++n) names.push_back(capability_name(n).substr(4));
  const std::string best = closest(bare, names);
  if (best.empty() || best == "ALL") return best;
  return "CAP_" + best;
}

// Why `path` cannot name a runtime socket, or nullopt when it is fine.
std::optional<std::string> socket_path_problem(const std::string& path) {
  if (path.find('\0') != std::string::npos)
    return "runtime socket path contains a NUL byte; a socket path is a plain string";
  if (path.empty())
    return "empty runtime socket path; write an absolute path, e.g. /run/podman/podman.sock";
  if (path.front() != '/')
    return "runtime socket path '" + path +
           "' is not absolute; write the full path starting with '/', e.g. /" + path;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (path.compare(start, end - start, "..") == 0)
      return "runtime socket path '" + path +
             "' contains '..'; write the path the clients connect to, without '..'";
    start = end + 1;
  }
  if (path.size() >= GR_UNIX_PATH_LEN)
    return "runtime socket path '" + path + "' is " + std::to_string(path.size()) +
           " bytes long; a unix socket path has at most " + std::to_string(GR_UNIX_PATH_LEN - 1) +
           " bytes";
  return std::nullopt;
}

// Zone and workload names: DNS labels, [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return name.front() != '-' && name.back() != '-';
}

// Why `glob` cannot select cgroups, or nullopt when it is fine.
std::optional<std::string> glob_problem(const std::string& glob) {
  if (glob.empty())
    return "empty cgroup glob; write a path below the cgroup2 mount, e.g. /guardrail/<zone>/*";
  if (glob.front() != '/')
    return "cgroup glob '" + glob +
           "' must start with '/' (paths are relative to the cgroup2 mount); write '/" + glob + "'";
  if (glob == "/")
    return "cgroup glob '/' selects the root cgroup, i.e. the whole host; name a directory below "
           "it, e.g. /guardrail/<zone>/*";
  if (glob.back() == '/')
    return "cgroup glob '" + glob + "' ends with '/'; remove the trailing '/'";
  if (glob.find("//") != std::string::npos)
    return "cgroup glob '" + glob + "' has an empty path component ('//'); use single '/'";
  std::size_t start = 1;
  bool first = true;
  while (start <= glob.size()) {
    std::size_t end = glob.find('/', start);
    if (end == std::string::npos) end = glob.size();
    const std::string component = glob.substr(start, end - start);
    if (component == "." || component == "..")
      return "cgroup glob '" + glob + "' contains '" + component +
             "'; write the path without '.' or '..' components";
    if (first && component.find_first_of("*?[") != std::string::npos)
      return "cgroup glob '" + glob +
             "' has a wildcard in its first component, so it selects top-level cgroups across "
             "the whole host; start with a literal directory, e.g. /guardrail/<zone>/*";
    first = false;
    start = end + 1;
  }
  return std::nullopt;
}

// Why `glob` cannot match Docker container names, or nullopt when it is fine.
std::optional<std::string> container_name_problem(const std::string& glob) {
  if (glob.empty()) return "empty container name glob; write a glob like agent-*";
  if (glob.front() == '/') {
    const std::size_t start = glob.find_first_not_of('/');
    return "container name glob '" + glob +
           "' starts with '/'; names are matched without Docker's leading '/', write " +
           (start == std::string::npos ? std::string("a glob like agent-*")
                                       : "'" + glob.substr(start) + "'");
  }
  return std::nullopt;
}

// Why `glob` cannot match container images, or nullopt when it is fine.
std::optional<std::string> image_problem(const std::string& glob) {
  if (glob.empty()) return "empty image glob; write a glob like registry.local/agents/*";
  return std::nullopt;
}

// A decimal integer with an optional '-', saturating (out-of-range values stay out of range).
std::optional<long long> parse_integer(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  long long value = 0;
  for (char c : text) {
    if (value > std::numeric_limits<int>::max()) break;
    value = value * 10 + (c - '0');
  }
  return negative ? -value : value;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// One item of a ports list: 443 or "8000-8100".
Result<PortRange> parse_port_item(const std::string& text) {
  const std::string_view s = trim(text);
  const std::size_t dash = s.find('-', 1);
  auto out_of_range = [](long long port) { return port < 1 || port > 65535; };
  if (dash == std::string_view::npos) {
    const auto port = parse_integer(s);
    if (!port)
      return fail("invalid port '" + text +
                  "'; write a port number 1-65535 or a range \"lo-hi\" such as \"8000-8100\"");
    if (out_of_range(*port))
      return fail("port " + std::to_string(*port) + " is out of range; ports are 1-65535");
    return PortRange{static_cast<std::uint16_t>(*port), static_cast<std::uint16_t>(*port)};
  }
  const auto lo = parse_integer(trim(s.substr(0, dash)));
  const auto hi = parse_integer(trim(s.substr(dash + 1)));
  if (!lo || !hi)
    return fail("invalid port range '" + text +
                "'; write \"lo-hi\" with two port numbers 1-65535, e.g. \"8000-8100\"");
  for (long long port : {*lo, *hi})
    if (out_of_range(port))
      return fail("port range '" + text + "': port " + std::to_string(port) +
                  " is out of range; ports are 1-65535");
  if (*lo > *hi)
    return fail("bad port range '" + text +
                "': the first port is greater than the second; write \"" + std::to_string(*hi) +
                "-" + std::to_string(*lo) + "\"");
  return PortRange{static_cast<std::uint16_t>(*lo), static_cast<std::uint16_t>(*hi)};
}

// A map entry: where its key is (empty values are reported there: yaml-cpp marks an empty value
// at the next token) and its value.
struct Field {
  YAML::Mark key_mark;
  YAML::Node value;
  YAML::Mark mark() const { return value.IsNull() ? key_mark : value.Mark(); }
};

using Fields = std::map<std::string, Field>;

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  std::expected<Policy, std::vector<Diagnostic>> parse(const std::string& text);

 private:
  struct Defined {
    YAML::Mark mark;  // of the name
  };

  Position position(const YAML::Mark& mark) const {
    return {file_, mark.line < 0 ? 1 : mark.line + 1, mark.column < 0 ? 1 : mark.column + 1};
  }
  void error(const YAML::Mark& mark, std::string message) {
    diagnostics_.push_back({position(mark), std::move(message)});
  }

  Fields fields(const YAML::Node& map, std::string_view where,
                std::initializer_list<std::string_view> allowed);
  const Field* require(const Fields& fs, const YAML::Node& map, const std::string& name,
                       std::string_view where, std::string_view hint);
  std::optional<std::string> string(const Field& f, std::string_view name, std::string_view where);
  bool expect_list(const Field& f, std::string_view name, std::string_view example);
  std::optional<std::string> name(const Field& f, std::string_view what);
  std::optional<Mode> mode(const Field& f, std::string_view where);
  std::optional<Protocol> protocol(const Field& f, std::string_view where);
  std::optional<std::vector<PortRange>> ports(const Field& f, Protocol protocol);
  std::optional<std::string> glob(const YAML::Node& node, const YAML::Mark& mark);
  bool glob_list(const Field& f, std::string_view key, std::string_view what,
                 std::string_view example,
                 std::optional<std::string> (*problem)(const std::string&),
                 std::vector<std::string>& out);
  bool parse_selector(const Field& f, Zone& zone);
  bool parse_labels(const Field& f, std::map<std::string, std::string>& out);
  std::optional<Action> action(const Field& f, std::string_view where);
  bool parse_guards(const Field& f, HostGuards& guards);
  bool parse_capabilities(const Field& f, HostGuards& guards);
  bool parse_runtime_sockets(const Field& f, HostGuards& guards);

  void parse_metadata(const Field& f, Policy& policy);
  void parse_spec(const Field& f, Policy& policy);
  std::optional<Zone> parse_zone(const YAML::Node& node);
  std::optional<EgressRule> parse_egress_rule(const YAML::Node& node);
  std::optional<Workload> parse_workload(const YAML::Node& node);
  std::optional<Flow> parse_flow(const YAML::Node& node);
  std::optional<Peer> parse_peer(const Field& f, std::string_view side);

  std::string file_;
  std::vector<Diagnostic> diagnostics_;
  std::map<std::string, Defined> zones_;      // every zone name seen, valid or not
  std::map<std::string, Defined> workloads_;  // every workload name seen
  // Static addresses already claimed: (mapped prefix, address) -> workload and where.
  std::map<std::pair<int, std::array<std::uint8_t, 16>>, std::pair<std::string, YAML::Mark>>
      addresses_;
};

Fields Parser::fields(const YAML::Node& map, std::string_view where,
                      std::initializer_list<std::string_view> allowed) {
  Fields out;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node& key = it->first;
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

bool Parser::parse_labels(const Field& f, std::map<std::string, std::string>& out) {
  const std::string example = "{guardrail.io/zone: agent-sandbox}";
  if (!f.value.IsMap()) {
    error(f.mark(), "field 'labels' in selector must be a map of label names to values, e.g. " +
                        example + "; got " + describe_node(f.value));
    return false;
  }
  bool ok = true;
  std::map<std::string, YAML::Mark> seen;
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    const YAML::Node& key = it->first;
    const YAML::Node& value = it->second;
    if (!key.IsScalar()) {
      error(key.Mark(),
            "a label name must be a string like guardrail.io/zone, got " + describe_node(key));
      ok = false;
      continue;
    }
    const std::string& label = key.Scalar();
    if (label.empty()) {
      error(key.Mark(), "empty label name; write name: value, e.g. " + example);
      ok = false;
      continue;
    }
    if (const auto [first, inserted] = seen.try_emplace(label, key.Mark()); !inserted) {
      error(key.Mark(), "duplicate label '" + label + "' (first given at line " +
                            std::to_string(first->second.line + 1) + "); keep only one");
      ok = false;
      continue;
    }
    if (value.IsNull()) {
      error(key.Mark(), "label '" + label + "' has no value; write " + label + ": VALUE, or " +
                            label + ": \"\" to match an empty value");
      ok = false;
    } else if (!value.IsScalar()) {
      error(value.Mark(),
            "the value of label '" + label + "' must be a string, got " + describe_node(value));
      ok = false;
    } else {
      out.emplace(label, value.Scalar());
    }
  }
  return ok;
}

bool Parser::parse_selector(const Field& f, Zone& zone) {
  const std::string z = zone.name.empty() ? "<zone>" : zone.name;
  const std::string cgroups_example = "[\"/guardrail/" + z + "/*\"]";
  const std::string empty_selector =
      "empty selector: it selects no cgroups and no containers; add cgroups: " + cgroups_example +
      ", labels: {guardrail.io/zone: " + z + "}, names: [\"" + z +
      "-*\"] or images: " + "[\"registry.local/" + z + "/*\"], or remove selector";
  if (f.value.IsNull()) {
    error(f.mark(), empty_selector);
    return false;
  }
  if (!f.value.IsMap()) {
    error(f.mark(), "field 'selector' must be a map with cgroups, labels, names, images, e.g. " +
                        std::string("{cgroups: ") + cgroups_example + "}, got " +
                        describe_node(f.value));
    return false;
  }
  const Fields fs = fields(f.value, "selector", {"cgroups", "labels", "names", "images"});
  bool ok = fs.size() == f.value.size();  // unknown or duplicate fields, reported
  bool selects = false;                   // some field selects something
  std::optional<YAML::Mark> first_empty;  // the first field (in the file) given empty
  auto empty = [&](const Field& field) {
    const YAML::Mark m = field.mark();
    if (!first_empty ||
        std::pair(m.line, m.column) < std::pair(first_empty->line, first_empty->column))
      first_empty = m;
  };
  for (const auto& [key, field] : fs) {
    const YAML::Node& v = field.value;
    const bool given_empty =
        v.IsNull() || ((key == "labels" ? v.IsMap() : v.IsSequence()) && v.size() == 0);
    if (given_empty) {
      empty(field);
      continue;
    }
    selects = true;
    if (key == "cgroups") {
      if (!expect_list(field, "cgroups", cgroups_example)) {
        ok = false;
        continue;
      }
      for (const YAML::Node& item : v) {
        if (auto g = glob(item, item.Mark()))
          zone.cgroup_globs.push_back(*g);
        else
          ok = false;
      }
    } else if (key == "labels") {
      ok = parse_labels(field, zone.match_labels) && ok;
    } else if (key == "names") {
      ok = glob_list(field, "names", "container name glob", z + "-*", container_name_problem,
                     zone.name_globs) &&
           ok;
    } else {
      ok = glob_list(field, "images", "image glob", "registry.local/" + z + "/*", image_problem,
                     zone.image_globs) &&
           ok;
    }
  }
  if (!selects && (!fs.empty() || f.value.size() == 0)) {
    // Nothing selects (when only unknown fields were given, they are reported already).
    error(first_empty ? *first_empty : f.mark(), empty_selector);
    ok = false;
  }
  return ok;
}

std::expected<Policy, std::vector<Diagnostic>> Parser::parse(const std::string& text) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    error(e.mark, "invalid YAML: " + e.msg +
                      "; fix the syntax here (indent with spaces, check "
                      "colons, quotes and brackets)");
    return std::unexpected(std::move(diagnostics_));
  }
  // Empty documents (a stray "---") do not count.
  std::erase_if(documents, [](const YAML::Node& d) { return d.IsNull(); });
  if (documents.empty()) {
    error(YAML::Mark(),
          "the policy file is empty; write a GuardrailPolicy document (apiVersion, kind, "
          "metadata, spec)");
    return std::unexpected(std::move(diagnostics_));
  }
  if (documents.size() > 1)
    error(documents[1].Mark(), "more than one YAML document; put one policy per file");
  const YAML::Node& root = documents[0];
  if (!root.IsMap()) {
    error(root.Mark(), "a policy must be a map with apiVersion, kind, metadata and spec; got " +
                           describe_node(root));
    return std::unexpected(std::move(diagnostics_));
  }

  Policy policy;
  policy.file = file_;
  const Fields fs = fields(root, "policy", {"apiVersion", "kind", "metadata", "spec"});
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
  if (const Field* f = require(fs, root, "metadata", "policy", "metadata: {name: NAME}"))
    parse_metadata(*f, policy);
  if (const Field* f = require(fs, root, "spec", "policy", "spec: with at least zones:"))
    parse_spec(*f, policy);

  if (!diagnostics_.empty()) {
    std::ranges::stable_sort(diagnostics_, [](const Diagnostic& a, const Diagnostic& b) {
      return std::pair(a.pos.line, a.pos.column) < std::pair(b.pos.line, b.pos.column);
    });
    return std::unexpected(std::move(diagnostics_));
  }
  return policy;
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
  const YAML::Node& spec = f.value;
  const Fields fs =
      fields(spec, "spec", {"mode", "defaultZone", "quarantineOn", "zones", "workloads", "flows"});
  if (auto it = fs.find("mode"); it != fs.end()) {
    if (auto m = mode(it->second, "spec")) policy.mode = *m;
  }
  // Zones first, then workloads (which name zones), then flows (which name both).
  if (const Field* z = require(fs, spec, "zones", "spec", "zones: with at least one zone")) {
    if (expect_list(*z, "zones", "[{name: agent-sandbox}]")) {
      if (z->value.size() == 0) error(z->mark(), "spec.zones is empty; define at least one zone");
      for (const YAML::Node& node : z->value)
        if (auto zone = parse_zone(node)) policy.zones.push_back(std::move(*zone));
    }
  }
  if (auto it = fs.find("defaultZone"); it != fs.end()) {
    const Field& d = it->second;
    if (auto v = string(d, "defaultZone", "spec")) {
      std::vector<std::string> names;
      for (const auto& [zone_name, defined] : zones_) names.push_back(zone_name);
      if (v->empty())
        error(d.mark(),
              "field 'defaultZone' in spec is empty; name the zone of containers no selector "
              "names (e.g. agent-sandbox), or remove it");
      else if (!zones_.contains(*v))
        error(d.mark(),
              "unknown zone '" + *v + "' in defaultZone" +
                  (names.empty() ? "; no zones are defined" : "; defined zones: " + join(names)) +
                  suggestion(*v, names));
      else
        policy.default_zone = *v;
    }
  }
  if (auto it = fs.find("quarantineOn"); it != fs.end() && !it->second.value.IsNull()) {
    if (expect_list(it->second, "quarantineOn", "[not_privileged, no_runtime_socket]")) {
      for (const YAML::Node& item : it->second.value) {
        const bool known = item.IsScalar() &&
                           std::ranges::find(kPostureChecks, item.Scalar()) != kPostureChecks.end();
        if (known) {
          policy.quarantine_on.push_back(item.Scalar());
          continue;
        }
        const std::string name = item.IsScalar() ? item.Scalar() : describe_node(item);
        std::vector<std::string_view> checks(kPostureChecks.begin(), kPostureChecks.end());
        error(item.Mark(), "unknown posture check '" + name +
                               "' in quarantineOn; checks: " + join(kPostureChecks) +
                               (item.IsScalar() ? suggestion(name, kPostureChecks) : ""));
      }
    }
  }
  if (auto it = fs.find("workloads"); it != fs.end() && !it->second.value.IsNull()) {
    if (expect_list(it->second, "workloads", "[{name: orchestrator, zone: control-plane}]"))
      for (const YAML::Node& node : it->second.value)
        if (auto workload = parse_workload(node)) policy.workloads.push_back(std::move(*workload));
  }
  if (auto it = fs.find("flows"); it != fs.end() && !it->second.value.IsNull()) {
    if (expect_list(it->second, "flows", "[{from: {zone: a}, to: {zone: b}}]"))
      for (const YAML::Node& node : it->second.value)
        if (auto flow = parse_flow(node)) policy.flows.push_back(std::move(*flow));
  }
}

std::optional<Zone> Parser::parse_zone(const YAML::Node& node) {
  if (!node.IsMap()) {
    error(node.Mark(), "each zone must be a map with name, mode, selector, egress, guards; got " +
                           describe_node(node));
    return std::nullopt;
  }
  Zone zone;
  zone.pos = position(node.Mark());
  bool ok = true;
  const Fields fs = fields(node, "zone", {"name", "mode", "selector", "egress", "guards"});
  if (const Field* n = require(fs, node, "name", "zone", "name: <zone name>")) {
    if (auto v = name(*n, "zone")) {
      zone.name = *v;
      if (auto [first, inserted] = zones_.try_emplace(*v, Defined{n->mark()}); !inserted) {
        error(n->mark(), "duplicate zone '" + *v + "' (first defined at line " +
                             std::to_string(first->second.mark.line + 1) +
                             "); zone names must be unique");
        ok = false;
      }
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
  if (auto it = fs.find("egress"); it != fs.end() && !it->second.value.IsNull()) {
    if (expect_list(it->second, "egress",
                    "[{cidr: 198.18.200.0/24, protocol: tcp, ports: [443]}]")) {
      for (const YAML::Node& item : it->second.value) {
        if (auto rule = parse_egress_rule(item))
          zone.egress.push_back(std::move(*rule));
        else
          ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (auto it = fs.find("guards"); it != fs.end()) ok = parse_guards(it->second, zone.guards) && ok;
  if (!ok) return std::nullopt;
  return zone;
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

bool Parser::parse_guards(const Field& f, HostGuards& guards) {
  guards.pos = position(f.mark());
  if (f.value.IsNull()) return true;  // `guards:` with nothing: no guard
  if (!f.value.IsMap()) {
    error(f.mark(),
          "field 'guards' must be a map with capabilities, rawSockets, mounts, runtimeSockets, "
          "bpf, e.g. {rawSockets: {action: deny}}; got " +
              describe_node(f.value));
    return false;
  }
  bool ok = true;
  const Fields fs =
      fields(f.value, "guards", {"capabilities", "rawSockets", "mounts", "runtimeSockets", "bpf"});
  if (fs.size() != f.value.size()) ok = false;  // unknown or duplicate fields, reported
  if (auto it = fs.find("capabilities"); it != fs.end())
    ok = parse_capabilities(it->second, guards) && ok;
  if (auto it = fs.find("runtimeSockets"); it != fs.end())
    ok = parse_runtime_sockets(it->second, guards) && ok;
  // The guards with only an action.
  const std::pair<const char*, Action HostGuards::*> simple[] = {
      {"rawSockets", &HostGuards::raw_sockets},
      {"mounts", &HostGuards::mounts},
      {"bpf", &HostGuards::bpf}};
  for (const auto& [key, member] : simple) {
    const auto it = fs.find(key);
    if (it == fs.end()) continue;
    const Field& g = it->second;
    const std::string where = "guards." + std::string(key);
    if (!g.value.IsNull() && !g.value.IsMap()) {
      error(g.mark(), "field '" + std::string(key) + "' in guards must be a map, e.g. " + key +
                          ": {action: deny}; got " + describe_node(g.value));
      ok = false;
      continue;
    }
    guards.*member = Action::Deny;
    if (g.value.IsNull()) continue;  // `bpf:` alone: the default action
    const Fields gfs = fields(g.value, where, {"action"});
    if (gfs.size() != g.value.size()) ok = false;
    if (auto a = gfs.find("action"); a != gfs.end()) {
      if (auto v = action(a->second, where))
        guards.*member = *v;
      else
        ok = false;
    }
  }
  return ok;
}

bool Parser::parse_capabilities(const Field& f, HostGuards& guards) {
  constexpr std::string_view where = "guards.capabilities";
  const std::string example = "{deny: [ALL], action: deny} or {deny: [CAP_SYS_ADMIN, CAP_NET_RAW]}";
  if (f.value.IsNull()) {
    error(f.mark(), "field 'capabilities' in guards is empty; write capabilities: " + example);
    return false;
  }
  if (!f.value.IsMap()) {
    error(f.mark(), "field 'capabilities' in guards must be a map like " + example + "; got " +
                        describe_node(f.value));
    return false;
  }
  bool ok = true;
  const Fields fs = fields(f.value, std::string(where), {"deny", "action"});
  if (fs.size() != f.value.size()) ok = false;
  Action act = Action::Deny;
  if (auto a = fs.find("action"); a != fs.end()) {
    if (auto v = action(a->second, where))
      act = *v;
    else
      ok = false;
  }
  std::uint64_t denied = 0;
  const auto d = fs.find("deny");
  const std::string empty_deny =
      "the capabilities deny list is empty; list what to deny, e.g. deny: [ALL] or "
      "deny: [CAP_SYS_ADMIN], or remove capabilities";
  if (d == fs.end()) {
    error(f.mark(), "missing required field 'deny' in " + std::string(where) +
                        "; add deny: [ALL] or deny: [CAP_SYS_ADMIN, ...]");
    ok = false;
  } else if (d->second.value.IsNull()) {
    error(d->second.mark(), empty_deny);
    ok = false;
  } else if (!expect_list(d->second, "deny", "[ALL] or [CAP_SYS_ADMIN, CAP_NET_RAW]")) {
    ok = false;
  } else if (d->second.value.size() == 0) {
    error(d->second.mark(), empty_deny);
    ok = false;
  } else {
    for (const YAML::Node& item : d->second.value) {
      if (!item.IsScalar()) {
        error(item.Mark(),
              "each capability must be a name like CAP_NET_RAW or ALL, got " + describe_node(item));
        ok = false;
        continue;
      }
      const std::string& name = item.Scalar();
      if (upper(name) == "ALL") {
        denied |= kAllCapabilities;
      } else if (const auto n = capability_number(name)) {
        denied |= std::uint64_t{1} << *n;
      } else {
        const std::string best = closest_capability(name);
        error(item.Mark(), "unknown capability '" + name +
                               "'; write a name from capabilities(7) such as CAP_NET_RAW (the "
                               "CAP_ prefix and case are optional), or ALL" +
                               (best.empty() ? "" : "; did you mean '" + best + "'?"));
        ok = false;
      }
    }
  }
  if (ok) {
    guards.capabilities = act;
    guards.denied_caps = denied;
  }
  return ok;
}

bool Parser::parse_runtime_sockets(const Field& f, HostGuards& guards) {
  constexpr std::string_view where = "guards.runtimeSockets";
  if (!f.value.IsNull() && !f.value.IsMap()) {
    error(f.mark(),
          "field 'runtimeSockets' in guards must be a map like {action: deny, paths: "
          "[/run/podman/podman.sock]}; got " +
              describe_node(f.value));
    return false;
  }
  guards.runtime_sockets = Action::Deny;
  if (f.value.IsNull()) return true;
  bool ok = true;
  const Fields fs = fields(f.value, std::string(where), {"action", "paths"});
  if (fs.size() != f.value.size()) ok = false;
  if (auto a = fs.find("action"); a != fs.end()) {
    if (auto v = action(a->second, where))
      guards.runtime_sockets = *v;
    else
      ok = false;
  }
  if (auto p = fs.find("paths"); p != fs.end() && !p->second.value.IsNull()) {
    if (expect_list(p->second, "paths", "[/run/podman/podman.sock]")) {
      for (const YAML::Node& item : p->second.value) {
        if (!item.IsScalar()) {
          error(item.Mark(),
                "each runtime socket path must be a string like "
                "/run/podman/podman.sock, got " +
                    describe_node(item));
          ok = false;
        } else if (auto problem = socket_path_problem(item.Scalar())) {
          error(item.Mark(), *problem);
          ok = false;
        } else if (std::ranges::find(guards.runtime_socket_paths, item.Scalar()) ==
                   guards.runtime_socket_paths.end()) {
          guards.runtime_socket_paths.push_back(item.Scalar());
        }
      }
    } else {
      ok = false;
    }
  }
  return ok;
}

std::optional<EgressRule> Parser::parse_egress_rule(const YAML::Node& node) {
  if (!node.IsMap()) {
    error(node.Mark(),
          "each egress rule must be a map with cidr, protocol, ports; got " + describe_node(node));
    return std::nullopt;
  }
  EgressRule rule;
  rule.pos = position(node.Mark());
  bool ok = true;
  const Fields fs = fields(node, "egress rule", {"cidr", "protocol", "ports"});
  if (const Field* c =
          require(fs, node, "cidr", "egress rule", "cidr: <prefix>, e.g. 198.18.200.0/24")) {
    if (auto v = string(*c, "cidr", "egress rule")) {
      if (auto cidr = parse_cidr(*v)) {
        rule.cidr = std::move(*cidr);
      } else {
        error(c->mark(), "invalid cidr: " + cidr.error().message);
        ok = false;
      }
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  if (auto it = fs.find("protocol"); it != fs.end()) {
    if (auto p = protocol(it->second, "egress rule"))
      rule.protocol = *p;
    else
      ok = false;
  }
  if (auto it = fs.find("ports"); it != fs.end()) {
    if (auto p = ports(it->second, rule.protocol))
      rule.ports = std::move(*p);
    else
      ok = false;
  }
  if (!ok) return std::nullopt;
  return rule;
}

std::optional<Workload> Parser::parse_workload(const YAML::Node& node) {
  if (!node.IsMap()) {
    error(node.Mark(),
          "each workload must be a map with name, zone, cgroup, container, addresses, "
          "exclusive; got " +
              describe_node(node));
    return std::nullopt;
  }
  Workload workload;
  workload.pos = position(node.Mark());
  bool ok = true;
  const Fields fs =
      fields(node, "workload", {"name", "zone", "cgroup", "container", "addresses", "exclusive"});
  if (const Field* n = require(fs, node, "name", "workload", "name: <workload name>")) {
    if (auto v = name(*n, "workload")) {
      workload.name = *v;
      if (auto [first, inserted] = workloads_.try_emplace(*v, Defined{n->mark()}); !inserted) {
        error(n->mark(), "duplicate workload '" + *v + "' (first defined at line " +
                             std::to_string(first->second.mark.line + 1) +
                             "); workload names must be unique");
        ok = false;
      } else if (auto z = zones_.find(*v); z != zones_.end()) {
        error(n->mark(), "workload '" + *v + "' has the same name as the zone defined at line " +
                             std::to_string(z->second.mark.line + 1) +
                             "; give the workload a name no zone uses");
        ok = false;
      }
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  if (const Field* z = require(fs, node, "zone", "workload", "zone: <zone name>")) {
    if (auto v = string(*z, "zone", "workload")) {
      workload.zone = *v;
      if (!zones_.contains(*v)) {
        std::vector<std::string> names;
        for (const auto& [zone_name, defined] : zones_) names.push_back(zone_name);
        error(z->mark(),
              "unknown zone '" + *v + "'; defined zones: " + join(names) + suggestion(*v, names));
        ok = false;
      }
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  if (auto it = fs.find("cgroup"); it != fs.end()) {
    if (auto g = glob(it->second.value, it->second.mark()))
      workload.cgroup = *g;
    else
      ok = false;
  }
  if (auto it = fs.find("container"); it != fs.end()) {
    if (auto v = string(it->second, "container", "workload")) {
      if (auto problem = container_name_problem(*v)) {
        error(it->second.mark(), *problem);
        ok = false;
      } else {
        workload.container = *v;
      }
    } else {
      ok = false;
    }
  }
  if (auto it = fs.find("addresses"); it != fs.end()) {
    if (expect_list(it->second, "addresses", "[\"198.18.0.2\", \"fd00::2\"]")) {
      for (const YAML::Node& item : it->second.value) {
        if (!item.IsScalar()) {
          error(item.Mark(),
                "each address must be a string like \"198.18.0.2\", got " + describe_node(item));
          ok = false;
          continue;
        }
        auto cidr = parse_cidr(item.Scalar());
        if (!cidr) {
          error(item.Mark(), "invalid address: " + cidr.error().message);
          ok = false;
          continue;
        }
        const auto key = std::pair(cidr->mapped_prefix_len(), cidr->addr);
        const auto [first, inserted] =
            addresses_.try_emplace(key, std::pair(workload.name, item.Mark()));
        if (!inserted && first->second.first != workload.name) {
          error(item.Mark(), "address " + item.Scalar() + " is already claimed by workload '" +
                                 first->second.first + "' (line " +
                                 std::to_string(first->second.second.line + 1) +
                                 "); an address belongs to one workload");
          ok = false;
        }
        workload.addresses.push_back(std::move(*cidr));
      }
    } else {
      ok = false;
    }
  }
  if (auto it = fs.find("exclusive"); it != fs.end()) {
    const Field& e = it->second;
    const std::string v = e.value.IsScalar() ? e.value.Scalar() : "";
    if (v == "true" || v == "True" || v == "TRUE") {
      workload.exclusive = true;
    } else if (v == "false" || v == "False" || v == "FALSE") {
      workload.exclusive = false;
    } else {
      error(e.mark(), "field 'exclusive' must be true or false, got " + describe_node(e.value));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return workload;
}

std::optional<Peer> Parser::parse_peer(const Field& f, std::string_view side) {
  const std::string what = "flow '" + std::string(side) + "'";
  if (!f.value.IsMap()) {
    error(f.mark(), what +
                        " must be a map naming one peer, {zone: NAME} or {workload: NAME}; "
                        "got " +
                        describe_node(f.value));
    return std::nullopt;
  }
  const Fields fs = fields(f.value, "flow peer", {"zone", "workload"});
  const auto zone = fs.find("zone");
  const auto workload = fs.find("workload");
  if ((zone == fs.end()) == (workload == fs.end())) {
    error(f.mark(),
          what + (zone == fs.end() ? " names no peer" : " names both a zone and a workload") +
              "; give exactly one of zone: or workload:");
    return std::nullopt;
  }
  Peer peer;
  peer.pos = position(f.mark());
  const bool is_zone = zone != fs.end();
  const Field& ref = is_zone ? zone->second : workload->second;
  peer.kind = is_zone ? Peer::Kind::Zone : Peer::Kind::Workload;
  auto v = string(ref, is_zone ? "zone" : "workload", "flow peer");
  if (!v) return std::nullopt;
  peer.name = *v;
  const auto& defined = is_zone ? zones_ : workloads_;
  if (!defined.contains(*v)) {
    std::vector<std::string> names;
    for (const auto& [n, d] : defined) names.push_back(n);
    const std::string kind = is_zone ? "zone" : "workload";
    error(ref.mark(), "unknown " + kind + " '" + *v + "' in " + what +
                          (names.empty() ? "; no " + kind + "s are defined"
                                         : "; defined " + kind + "s: " + join(names)) +
                          suggestion(*v, names));
    return std::nullopt;
  }
  return peer;
}

std::optional<Flow> Parser::parse_flow(const YAML::Node& node) {
  if (!node.IsMap()) {
    error(node.Mark(),
          "each flow must be a map with from, to, protocol, ports; got " + describe_node(node));
    return std::nullopt;
  }
  Flow flow;
  flow.pos = position(node.Mark());
  bool ok = true;
  const Fields fs = fields(node, "flow", {"from", "to", "protocol", "ports"});
  for (const std::string side : {"from", "to"}) {
    const Field* f = require(fs, node, side, "flow", side + ": {zone: NAME} or {workload: NAME}");
    std::optional<Peer> peer = f ? parse_peer(*f, side) : std::nullopt;
    if (!peer)
      ok = false;
    else
      (side == "from" ? flow.from : flow.to) = std::move(*peer);
  }
  if (auto it = fs.find("protocol"); it != fs.end()) {
    if (auto p = protocol(it->second, "flow"))
      flow.protocol = *p;
    else
      ok = false;
  }
  if (auto it = fs.find("ports"); it != fs.end()) {
    if (auto p = ports(it->second, flow.protocol))
      flow.ports = std::move(*p);
    else
      ok = false;
  }
  if (!ok) return std::nullopt;
  return flow;
}

}  // namespace

std::expected<Policy, std::vector<Diagnostic>> parse_policy(const std::string& text,
                                                            const std::string& file_name) {
  return Parser(file_name).parse(text);
}

std::expected<Policy, std::vector<Diagnostic>> load_policy_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  std::string text;
  int err = 0;
  if (!file) {
    err = errno;
  } else {
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) text.append(buf, n);
    if (std::ferror(file)) err = errno ? errno : EIO;
    std::fclose(file);
  }
  if (err != 0)
    return std::unexpected(std::vector<Diagnostic>{
        {Position{path, 0, 0}, std::string("cannot read: ") + std::strerror(err)}});
  return parse_policy(text, path);
}

}  // namespace guardrail::policy
