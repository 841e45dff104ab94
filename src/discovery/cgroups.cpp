#include <arpa/inet.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "guardrail/discovery/discovery.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail::discovery {
namespace fs = std::filesystem;

bool glob_matches(const std::string& glob, const std::string& cgroup_path) {
  return ::fnmatch(glob.c_str(), cgroup_path.c_str(), FNM_PATHNAME) == 0;
}

namespace {

struct Match {
  std::string workload;  // empty: anonymous member of `zone`
  std::string zone;
};

std::optional<Match> match(const policy::Policy& policy, const std::string& path) {
  for (const auto& w : policy.workloads)
    if (!w.cgroup.empty() && glob_matches(w.cgroup, path)) return Match{w.name, w.zone};
  for (const auto& z : policy.zones)
    for (const auto& glob : z.cgroup_globs)
      if (glob_matches(glob, path)) return Match{"", z.name};
  return std::nullopt;
}

bool is_below(const std::string& path, const std::string& ancestor) {
  return path.size() > ancestor.size() && path.starts_with(ancestor) &&
         path[ancestor.size()] == '/';
}

ino_t netns_inode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

policy::Cidr host_prefix(const sockaddr* sa) {
  policy::Cidr c;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    c.family = AF_INET;
    c.addr[10] = c.addr[11] = 0xff;
    std::memcpy(&c.addr[12], &in->sin_addr, 4);
    c.prefix_len = 32;
  } else {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    c.family = AF_INET6;
    std::memcpy(c.addr.data(), &in6->sin6_addr, 16);
    c.prefix_len = 128;
  }
  c.text = policy::format_address(c.addr, c.family);
  return c;
}

bool wanted(const policy::Cidr& c) {
  if (c.family == AF_INET) return c.addr[12] != 127;
  static const std::array<std::uint8_t, 16> loopback6 = {0, 0, 0, 0, 0, 0, 0, 0,
                                                         0, 0, 0, 0, 0, 0, 0, 1};
  const bool link_local = c.addr[0] == 0xfe && (c.addr[1] & 0xc0) == 0x80;
  return c.addr != loopback6 && !link_local;
}

}  // namespace

std::uint32_t cgroup_levels(const std::vector<policy::WorkloadBinding>& bindings) {
  std::uint32_t levels = 0;
  for (const auto& b : bindings) {
    const auto level = std::ranges::count(b.cgroup_path, '/');
    if (level >= 1 && level <= GR_MAX_CGROUP_DEPTH) levels |= 1u << level;
  }
  return levels;
}

pid_t first_process(const std::string& cgroup_dir) {
  std::ifstream procs(cgroup_dir + "/cgroup.procs");
  pid_t pid = 0;
  if (procs >> pid && pid > 0) return pid;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cgroup_dir, ec))
    if (entry.is_directory(ec))
      if (pid_t p = first_process(entry.path().string())) return p;
  return 0;
}

Result<std::vector<policy::Cidr>> netns_addresses(pid_t pid) {
  const std::string ns_path = "/proc/" + std::to_string(pid) + "/ns/net";
  if (netns_inode(ns_path) == netns_inode("/proc/self/ns/net")) return std::vector<policy::Cidr>{};
  UniqueFd ns(::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return fail_errno("open network namespace of pid " + std::to_string(pid), errno);

  // setns() changes only the calling thread's namespace: do it on a thread that then ends.
  Result<std::vector<policy::Cidr>> result = std::vector<policy::Cidr>{};
  std::thread reader([&] {
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
      result = fail_errno("enter network namespace of pid " + std::to_string(pid), errno);
      return;
    }
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) {
      result =
          fail_errno("list addresses in network namespace of pid " + std::to_string(pid), errno);
      return;
    }
    for (ifaddrs* it = list; it; it = it->ifa_next) {
      if (!it->ifa_addr ||
          (it->ifa_addr->sa_family != AF_INET && it->ifa_addr->sa_family != AF_INET6))
        continue;
      policy::Cidr c = host_prefix(it->ifa_addr);
      if (wanted(c) && std::ranges::find(*result, c) == result->end()) result->push_back(c);
    }
    ::freeifaddrs(list);
  });
  reader.join();
  return result;
}

Result<Discovered> discover(const policy::Policy& policy, const std::string& cgroup2_root,
                            bool read_addresses, const std::vector<docker::Container>* containers,
                            const std::vector<std::string>& container_parents) {
  Discovered out;
  // Containers first: the Docker API knows their names, labels and addresses; a cgroup glob
  // that also matches a container's cgroup does not bind it twice.
  if (containers || !container_parents.empty())
    out.bindings =
        container_bindings(policy, containers ? *containers : std::vector<docker::Container>{},
                           cgroup2_root, container_parents);
  std::set<std::uint64_t> bound;
  for (const auto& b : out.bindings) bound.insert(b.cgroup_id);

  std::error_code ec;
  fs::recursive_directory_iterator it(cgroup2_root, fs::directory_options::skip_permission_denied,
                                      ec);
  if (ec) return fail("read the cgroup v2 tree at " + cgroup2_root + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_directory(ec)) continue;
    const std::string dir = it->path().string();
    const std::string path = dir.substr(cgroup2_root.size());
    auto m = match(policy, path);
    if (!m) continue;

    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || bound.contains(st.st_ino)) continue;
    policy::WorkloadBinding b{m->workload, m->zone, path, st.st_ino, {}};
    if (read_addresses) {
      if (pid_t pid = first_process(dir)) {
        auto addresses = netns_addresses(pid);
        if (addresses) {
          b.addresses = std::move(*addresses);
        } else {
          spdlog::warn("cgroup {}: {}; its addresses stay unknown until the next scan", path,
                       addresses.error().message);
        }
      }
    }
    out.bindings.push_back(std::move(b));
  }
  if (ec) return fail("read the cgroup v2 tree at " + cgroup2_root + ": " + ec.message());
  out.attach_points = top_most(out.bindings, cgroup2_root);
  return out;
}

std::vector<std::string> top_most(const std::vector<policy::WorkloadBinding>& bindings,
                                  const std::string& cgroup2_root) {
  std::vector<std::string> paths;
  for (const auto& b : bindings) paths.push_back(b.cgroup_path);
  std::ranges::sort(paths);  // an ancestor sorts before its descendants
  std::vector<std::string> top;
  for (const auto& p : paths) {
    const bool covered =
        std::ranges::any_of(top, [&](const std::string& a) { return p == a || is_below(p, a); });
    if (!covered) top.push_back(p);
  }
  for (auto& p : top) p = cgroup2_root + p;
  return top;
}

}  // namespace guardrail::discovery
