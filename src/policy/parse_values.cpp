// Checks of plain values a policy gives (names, globs, socket paths, ports), apart from YAML.
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
