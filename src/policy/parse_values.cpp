// Checks of plain values a policy gives (names, globs, socket paths, ports, Kubernetes namespaces,
// label keys and values, pod globs), apart from YAML.
#include <algorithm>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parser.hpp"

namespace guardrail::policy::detail {
namespace {

constexpr std::size_t kMaxNameLength = 63;

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

// Whether an absolute path has a ".." component.
bool has_dot_dot(std::string_view path) {
  for (std::size_t start = 1; start <= path.size();) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

std::optional<std::string> socket_path_problem(const std::string& path) {
  if (path.find('\0') != std::string::npos)
    return "runtime socket path contains a NUL byte; a socket path is a plain string";
  if (path.empty())
    return "empty runtime socket path; write an absolute path, e.g. /run/podman/podman.sock";
  if (path.front() != '/')
    return "runtime socket path '" + path +
           "' is not absolute; write the full path starting with '/', e.g. /" + path;
  if (has_dot_dot(path))
    return "runtime socket path '" + path +
           "' contains '..'; write the path the clients connect to, without '..'";
  if (path.size() >= GR_UNIX_PATH_LEN)
    return "runtime socket path '" + path + "' is " + std::to_string(path.size()) +
           " bytes long; a unix socket path has at most " + std::to_string(GR_UNIX_PATH_LEN - 1) +
           " bytes";
  return std::nullopt;
}

std::optional<std::string> host_path_problem(const std::string& path) {
  if (path.find('\0') != std::string::npos)
    return "host path contains a NUL byte; a host path is a plain string";
  if (path.empty() || path.front() != '/')
    return "host path '" + path +
           "' is not absolute; write the full path starting with '/', e.g. /" + path;
  if (has_dot_dot(path))
    return "host path '" + path + "' contains '..'; write the path itself, without '..'";
  if (path.size() >= 4096)
    return "host path '" + path.substr(0, 64) + "...' is longer than PATH_MAX (4096 bytes)";
  return std::nullopt;
}

namespace {

// The path with '.', '..' and empty components resolved lexically ("/run//x/./y" -> "/run/x/y").
std::string lexically_canonical(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  std::string out;
  for (const auto& part : parts) out += "/" + part;
  return out.empty() ? "/" : out;
}

}  // namespace

std::optional<std::string> allowed_unix_address_problem(const std::string& address) {
  if (address.find('\0') != std::string::npos)
    return "allowed unix socket contains a NUL byte; write an abstract socket as '@name'";
  if (address.empty())
    return "empty allowed unix socket; write an absolute path such as /run/spire/agent.sock or "
           "an abstract name such as '@name'";
  if (address.front() == '@') {
    if (address.size() == 1)
      return "allowed abstract unix socket '@' has no name; write '@' and the name, e.g. "
             "'@spire-agent'";
    if (address.size() > GR_UNIX_PATH_LEN)
      return "allowed abstract unix socket '" + address + "' has a " +
             std::to_string(address.size() - 1) + "-byte name; an abstract name has at most " +
             std::to_string(GR_UNIX_PATH_LEN - 1) + " bytes";
    return std::nullopt;
  }
  if (address.front() != '/')
    return "allowed unix socket '" + address +
           "' is not absolute; clients are matched by the path they pass, so write the full "
           "path starting with '/', e.g. /" +
           address + " (or '@" + address + "' for an abstract socket)";
  if (address.size() >= GR_UNIX_PATH_LEN)
    return "allowed unix socket '" + address + "' is " + std::to_string(address.size()) +
           " bytes long; a unix socket path (sun_path) has at most " +
           std::to_string(GR_UNIX_PATH_LEN - 1) + " bytes";
  const std::string canonical = lexically_canonical(address);
  if (canonical != address)
    return "allowed unix socket '" + address +
           "' is not in canonical form ('//', '.', '..' or a trailing '/'); write " + canonical;
  if (address == "/proc" || address.starts_with("/proc/"))
    return "allowed unix socket '" + address +
           "' is under /proc, which reaches other paths by another name; write the socket's "
           "own path";
  return std::nullopt;
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return name.front() != '-' && name.back() != '-';
}

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

namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool has_wildcard(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

std::string lowercase(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// Kubernetes' DNS-1123 subdomain: dot-separated DNS labels, at most 253 characters.
bool dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (std::size_t start = 0; start <= s.size();) {
    std::size_t end = s.find('.', start);
    if (end == std::string_view::npos) end = s.size();
    if (!valid_name(std::string(s.substr(start, end - start)))) return false;
    start = end + 1;
  }
  return true;
}

// A label name or value: letters, digits, '-', '_' and '.', starting and ending alphanumeric.
bool label_text(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return std::ranges::all_of(
      s, [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

constexpr std::string_view kDnsLabelRule =
    "a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a "
    "letter or digit";

}  // namespace

std::optional<std::string> namespace_problem(const std::string& name) {
  if (name.empty()) return "empty namespace; name a Kubernetes namespace, e.g. prod";
  if (has_wildcard(name))
    return "namespace '" + name +
           "' is a glob; namespaces are listed by their exact names (e.g. prod), or use a "
           "workload's pod: \"" +
           name + "/*\" to match namespaces by a glob";
  if (valid_name(name)) return std::nullopt;
  const std::string fixed = lowercase(name);
  return "invalid namespace '" + name + "'; a Kubernetes namespace is " +
         std::string(kDnsLabelRule) +
         (valid_name(fixed) ? "; write '" + fixed + "'" : " (e.g. prod)");
}

std::optional<std::string> label_key_problem(const std::string& key) {
  const std::string example = "e.g. app or app.kubernetes.io/name";
  if (key.empty()) return "empty label key; write a key, " + example;
  const std::size_t slash = key.find('/');
  if (slash != std::string::npos && key.find('/', slash + 1) != std::string::npos)
    return "label key '" + key + "' has more than one '/'; a key is NAME or PREFIX/NAME, " +
           example;
  const std::string name = slash == std::string::npos ? key : key.substr(slash + 1);
  if (slash != std::string::npos) {
    const std::string prefix = key.substr(0, slash);
    if (prefix.empty())
      return "label key '" + key + "' has an empty prefix before '/'; write '" + name +
             "' or PREFIX/" + name + " with a DNS subdomain as PREFIX, e.g. example.com/" + name;
    if (!dns_subdomain(prefix))
      return "the prefix '" + prefix + "' of label key '" + key +
             "' is not a DNS subdomain (at most 253 characters of dot-separated DNS labels: "
             "lowercase letters, digits and '-'), e.g. app.kubernetes.io";
  }
  if (name.empty())
    return "label key '" + key + "' has no name after '/'; write PREFIX/NAME, " + example;
  if (name.size() > kMaxNameLength || !label_text(name))
    return "the name '" + name + "' of label key '" + key +
           "' must be at most 63 letters, digits, '-', '_' and '.', starting and ending with a "
           "letter or digit, " +
           example;
  return std::nullopt;
}

std::optional<std::string> label_value_problem(const std::string& value) {
  if (value.empty() || (value.size() <= kMaxNameLength && label_text(value))) return std::nullopt;
  return "invalid label value '" + value +
         "'; a label value is empty or at most 63 letters, digits, '-', '_' and '.', starting "
         "and ending with a letter or digit, e.g. web";
}

std::optional<std::string> pod_glob_problem(const std::string& glob) {
  const std::string example = "e.g. prod/web-* (or */web-* for every namespace)";
  if (glob.empty()) return "empty pod glob; write NAMESPACE/NAME, " + example;
  const std::size_t slash = glob.find('/');
  if (slash == std::string::npos)
    return "pod glob '" + glob + "' has no namespace; write NAMESPACE/NAME such as '*/" + glob +
           "' (every namespace) or 'prod/" + glob + "'";
  if (glob.find('/', slash + 1) != std::string::npos)
    return "pod glob '" + glob + "' has more than one '/'; write NAMESPACE/NAME, " + example;
  const std::string ns = glob.substr(0, slash), name = glob.substr(slash + 1);
  if (ns.empty())
    return "pod glob '" + glob + "' has an empty namespace before '/'; write '*" + glob +
           "' for every namespace, or name one";
  if (name.empty())
    return "pod glob '" + glob + "' has no pod name after '/'; write '" + glob +
           "*' for every pod of the namespace";
  const auto glob_chars = [](std::string_view s, std::string_view extra) {
    return std::ranges::all_of(s, [&](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
             std::string_view("*?[]!").find(c) != std::string_view::npos ||
             extra.find(c) != std::string_view::npos;
    });
  };
  if (has_wildcard(ns) ? !glob_chars(ns, "") : !valid_name(ns))
    return "the namespace '" + ns + "' of pod glob '" + glob + "' is not a Kubernetes namespace (" +
           std::string(kDnsLabelRule) + ") nor a glob of one, " + example;
  if (glob_chars(name, ".")) return std::nullopt;
  return "the pod name '" + name + "' of pod glob '" + glob +
         "' has characters pod names never have; pod names are lowercase letters, digits, '-' "
         "and '.' (globs add * ? [ ]), " +
         example;
}

std::optional<std::string> image_problem(const std::string& glob) {
  if (glob.empty()) return "empty image glob; write a glob like registry.local/agents/*";
  return std::nullopt;
}

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

}  // namespace guardrail::policy::detail
