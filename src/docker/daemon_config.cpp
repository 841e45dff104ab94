// The daemon's cgroup parent (see daemon_config.hpp).
#include "guardrail/docker/daemon_config.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "guardrail/util/unique_fd.hpp"

namespace guardrail::docker {

Result<pid_t> socket_owner_pid(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path))
    return fail("socket path " + socket_path + " is too long");
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail_errno("create a unix socket", errno);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    return fail_errno("connect to " + socket_path, errno);
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return fail_errno("read the peer credentials of " + socket_path, errno);
  if (cred.pid <= 0) return fail("the peer of " + socket_path + " has no pid in this namespace");
  return cred.pid;
}

std::vector<std::string> process_argv(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < raw.size()) {
    auto end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    out.push_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

namespace {

// The value of `--flag VALUE` or `--flag=VALUE` (the last one wins, as with Go's flag parsing).
std::string flag_value(const std::vector<std::string>& argv, const std::string& flag) {
  std::string value;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    if (argv[i] == flag && i + 1 < argv.size())
      value = argv[++i];
    else if (argv[i].starts_with(flag + "="))
      value = argv[i].substr(flag.size() + 1);
  }
  return value;
}

}  // namespace

std::string configured_cgroup_parent(const std::vector<std::string>& argv,
                                     const std::string& root) {
  if (auto v = flag_value(argv, "--cgroup-parent"); !v.empty()) return v;
  std::string config = flag_value(argv, "--config-file");
  if (config.empty()) config = "/etc/docker/daemon.json";
  std::ifstream in(root + config);
  if (!in) return "";
  const auto doc = nlohmann::json::parse(in, nullptr, false);
  if (!doc.is_object()) return "";
  const auto it = doc.find("cgroup-parent");
  return it != doc.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string slice_path(const std::string& slice) {
  std::string name = slice;
  if (name.ends_with(".slice")) name.resize(name.size() - 6);
  if (name.empty() || name == "-") return "";
  std::string path;
  std::string prefix;
  std::size_t start = 0;
  while (true) {
    const auto dash = name.find('-', start);
    prefix = name.substr(0, dash);
    path += "/" + prefix + ".slice";
    if (dash == std::string::npos) break;
    start = dash + 1;
  }
  return path;
}

std::string containers_parent(const std::string& driver, const std::string& configured,
                              const std::string& daemon_cgroup) {
  if (driver == "systemd") return slice_path(configured.empty() ? "system.slice" : configured);
  if (configured.empty()) return "/docker";
  std::string parent = configured;
  if (!parent.starts_with('/'))
    parent = (daemon_cgroup == "/" ? std::string() : daemon_cgroup) + "/" + parent;
  while (parent.size() > 1 && parent.ends_with('/')) parent.pop_back();
  return parent;
}

bool parent_holds_only_containers(const std::string& parent) {
  if (parent.empty() || parent == "/") return false;
  for (const char* host : {"/system.slice", "/user.slice", "/init.scope", "/machine.slice"})
    if (parent == host) return false;
  return true;
}

}  // namespace guardrail::docker
