// A zone's host guards (spec.zones[].guards): capabilities with their deny list, runtime sockets
// with extra paths, host writes with extra paths, and the guards that take only an action (raw
// sockets, mounts, bpf, cgroups).
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "parser.hpp"

namespace guardrail::policy::detail {
namespace {

// The guards with only an action: field name -> where the action goes.
constexpr std::pair<std::string_view, Action HostGuards::*> kActionGuards[] = {
    {"rawSockets", &HostGuards::raw_sockets},
    {"mounts", &HostGuards::mounts},
    {"bpf", &HostGuards::bpf},
    {"cgroups", &HostGuards::cgroups}};

}  // namespace

bool Parser::parse_guards(const Field& f, HostGuards& guards) {
  guards.pos = position(f.mark());
  if (f.value.IsNull()) return true;  // `guards:` with nothing: no guard
  if (!expect_map(
          f.value, f.mark(),
          "field 'guards' must be a map with capabilities, rawSockets, mounts, runtimeSockets, "
          "bpf, hostWrites, cgroups, e.g. {rawSockets: {action: deny}}; got "))
    return false;
  bool ok = true;
  const Fields fs = fields(
      f.value, "guards",
      {"capabilities", "rawSockets", "mounts", "runtimeSockets", "bpf", "hostWrites", "cgroups"});
  if (fs.size() != f.value.size()) ok = false;  // unknown or duplicate fields, reported
  if (auto it = fs.find("capabilities"); it != fs.end())
    ok = parse_capabilities(it->second, guards) && ok;
  if (auto it = fs.find("runtimeSockets"); it != fs.end())
    ok = parse_runtime_sockets(it->second, guards) && ok;
  if (auto it = fs.find("hostWrites"); it != fs.end())
    ok = parse_host_writes(it->second, guards) && ok;
  for (const auto& [key, member] : kActionGuards)
    ok = parse_action_guard(fs, key, guards.*member) && ok;
  return ok;
}

// `key: {action: A}`, or `key:` alone for the default action (deny).
bool Parser::parse_action_guard(const Fields& fs, std::string_view key, Action& out) {
  const auto it = fs.find(std::string(key));
  if (it == fs.end()) return true;
  const Field& g = it->second;
  const std::string where = "guards." + std::string(key);
  if (!g.value.IsNull() && !g.value.IsMap()) {
    error(g.mark(), "field '" + std::string(key) + "' in guards must be a map, e.g. " +
                        std::string(key) + ": {action: deny}; got " + describe_node(g.value));
    return false;
  }
  out = Action::Deny;
  if (g.value.IsNull()) return true;
  bool ok = true;
  const Fields gfs = fields(g.value, where, {"action"});
  if (gfs.size() != g.value.size()) ok = false;
  if (auto a = gfs.find("action"); a != gfs.end()) {
    if (auto v = action(a->second, where))
      out = *v;
    else
      ok = false;
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
  if (!expect_map(f.value, f.mark(),
                  "field 'capabilities' in guards must be a map like " + example + "; got "))
    return false;
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
  ok = parse_denied_capabilities(fs, f, denied) && ok;
  if (ok) {
    guards.capabilities = act;
    guards.denied_caps = denied;
  }
  return ok;
}

// capabilities.deny: [ALL | CAP_x | x ...], required and not empty.
bool Parser::parse_denied_capabilities(const Fields& fs, const Field& f, std::uint64_t& denied) {
  const std::string empty_deny =
      "the capabilities deny list is empty; list what to deny, e.g. deny: [ALL] or "
      "deny: [CAP_SYS_ADMIN], or remove capabilities";
  const auto d = fs.find("deny");
  if (d == fs.end()) {
    error(f.mark(),
          "missing required field 'deny' in guards.capabilities; add deny: [ALL] or deny: "
          "[CAP_SYS_ADMIN, ...]");
    return false;
  }
  const Field& deny = d->second;
  if (deny.value.IsNull() || (deny.value.IsSequence() && deny.value.size() == 0)) {
    error(deny.mark(), empty_deny);
    return false;
  }
  if (!expect_list(deny, "deny", "[ALL] or [CAP_SYS_ADMIN, CAP_NET_RAW]")) return false;
  const auto deny_one = [&](const yaml::Node& item) {
    const std::string& name = item.Scalar();
    if (upper(name) == "ALL") {
      denied |= kAllCapabilities;
    } else if (const auto n = capability_number(name)) {
      denied |= std::uint64_t{1} << *n;
    } else {
      error(item.Mark(), "unknown capability '" + name +
                             "'; write a name from capabilities(7) such as CAP_NET_RAW (the "
                             "CAP_ prefix and case are optional), or ALL" +
                             did_you_mean(closest_capability(name)));
      return false;
    }
    return true;
  };
  return each_scalar(deny.value, "each capability must be a name like CAP_NET_RAW or ALL, got ",
                     deny_one);
}

// runtimeSockets: {action, mode, paths, allow}. The default mode, denylist, refuses the runtime
// sockets (plus `paths`); allowlist refuses every unix address but `allow`, so that no other
// spelling of a forbidden path (relative, '..', a symlink...) can be the way through.
bool Parser::parse_runtime_sockets(const Field& f, HostGuards& guards) {
  constexpr std::string_view where = "guards.runtimeSockets";
  if (!f.value.IsNull() && !f.value.IsMap()) {
    error(f.mark(),
          "field 'runtimeSockets' in guards must be a map like {action: deny, paths: "
          "[/run/podman/podman.sock]} or {mode: allowlist, allow: [/run/spire/agent.sock]}; got " +
              describe_node(f.value));
    return false;
  }
  guards.runtime_sockets = Action::Deny;
  if (f.value.IsNull()) return true;
  bool ok = true;
  const Fields fs = fields(f.value, std::string(where), {"action", "mode", "paths", "allow"});
  if (fs.size() != f.value.size()) ok = false;
  if (auto a = fs.find("action"); a != fs.end()) {
    if (auto v = action(a->second, where))
      guards.runtime_sockets = *v;
    else
      ok = false;
  }
  if (auto m = fs.find("mode"); m != fs.end()) {
    if (auto v = unix_mode(m->second, where))
      guards.unix_mode = *v;
    else
      ok = false;
  }
  if (auto p = fs.find("paths"); p != fs.end() && !p->second.value.IsNull())
    ok = parse_socket_paths(p->second, guards.runtime_socket_paths) && ok;
  if (auto a = fs.find("allow"); a != fs.end()) {
    if (ok && guards.unix_mode != UnixMode::Allowlist) {
      error(a->second.mark(),
            "field 'allow' in guards.runtimeSockets needs mode: allowlist (the default mode, "
            "denylist, refuses the listed runtime sockets: use paths there)");
      ok = false;
    } else if (!a->second.value.IsNull()) {
      ok = parse_unix_allow(a->second, guards.unix_allow) && ok;
    }
  }
  return ok;
}

// runtimeSockets.allow: the unix addresses an allowlist zone may reach, each kept once.
bool Parser::parse_unix_allow(const Field& f, std::vector<std::string>& allow) {
  if (!expect_list(f, "allow", "[/run/spire/agent.sock, '@name']")) return false;
  const auto add = [&](const yaml::Node& item) {
    if (auto problem = allowed_unix_address_problem(item.Scalar())) {
      error(item.Mark(), *problem);
      return false;
    }
    if (std::ranges::find(allow, item.Scalar()) == allow.end()) allow.push_back(item.Scalar());
    return true;
  };
  return each_scalar(f.value,
                     "each allowed unix socket must be a path like /run/spire/agent.sock or an "
                     "abstract name like '@name', got ",
                     add);
}

// runtimeSockets.paths: absolute socket paths beyond the defaults, each kept once.
bool Parser::parse_socket_paths(const Field& f, std::vector<std::string>& paths) {
  if (!expect_list(f, "paths", "[/run/podman/podman.sock]")) return false;
  const auto add = [&](const yaml::Node& item) {
    if (auto problem = socket_path_problem(item.Scalar())) {
      error(item.Mark(), *problem);
      return false;
    }
    if (std::ranges::find(paths, item.Scalar()) == paths.end()) paths.push_back(item.Scalar());
    return true;
  };
  return each_scalar(
      f.value, "each runtime socket path must be a string like /run/podman/podman.sock, got ", add);
}

// hostWrites: {action, paths}. The kernel's own writable files (sysctls, sysrq-trigger, sysfs,
// securityfs, debugfs, tracefs, configfs, efivarfs, pstore, binfmt_misc) are always covered;
// `paths` adds host files and directories (everything below a directory), each kept once.
bool Parser::parse_host_writes(const Field& f, HostGuards& guards) {
  constexpr std::string_view where = "guards.hostWrites";
  if (!f.value.IsNull() && !f.value.IsMap()) {
    error(f.mark(),
          "field 'hostWrites' in guards must be a map like {action: deny} or {action: deny, "
          "paths: [/etc, /var/lib/kubelet]}; got " +
              describe_node(f.value));
    return false;
  }
  guards.host_writes = Action::Deny;
  if (f.value.IsNull()) return true;
  bool ok = true;
  const Fields fs = fields(f.value, std::string(where), {"action", "paths"});
  if (fs.size() != f.value.size()) ok = false;
  if (auto a = fs.find("action"); a != fs.end()) {
    if (auto v = action(a->second, where))
      guards.host_writes = *v;
    else
      ok = false;
  }
  auto p = fs.find("paths");
  if (p == fs.end() || p->second.value.IsNull()) return ok;
  if (!expect_list(p->second, "paths", "[/etc, /var/lib/kubelet]")) return false;
  const auto add = [&](const yaml::Node& item) {
    if (auto problem = host_path_problem(item.Scalar())) {
      error(item.Mark(), *problem);
      return false;
    }
    auto& paths = guards.host_write_paths;
    if (std::ranges::find(paths, item.Scalar()) == paths.end()) paths.push_back(item.Scalar());
    return true;
  };
  return each_scalar(p->second.value, "each host path must be a string like /etc, got ", add) && ok;
}

}  // namespace guardrail::policy::detail
