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
#include <functional>
#include <map>
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

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < path.size()) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string::npos ? path.size() : slash;
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool has_wildcard(const std::string& component) {
  return component.find_first_of("*?[") != std::string::npos;
}

}  // namespace

std::vector<Placeholder> placeholders_for(const policy::Policy& policy) {
  std::map<std::string, Placeholder> by_parent;
  std::set<std::string> conflicting;
  const std::string default_zone = policy.effective_default_zone();
  auto add = [&](const std::string& glob, const std::string& workload, const std::string& zone) {
    const auto parts = components(glob);
    const auto first_wild = std::ranges::find_if(parts, has_wildcard);
    if (first_wild == parts.end() || first_wild == parts.begin()) return;  // exact, or the root
    std::string parent;
    for (auto p = parts.begin(); p != first_wild; ++p) parent += "/" + *p;
    // A systemd slice holds host services: they must not fall to a zone for being new there.
    if (parent.ends_with(".slice")) return;
    // The last component is `*`: every child of the parent is the glob's. Else what appears
    // below may be the glob's or not (another name, a level between): the default zone's until
    // identified, and that of a cgroup there that no selector ever names (fail closed).
    Placeholder wanted{parent, workload, zone};
    if (first_wild + 1 != parts.end() || *first_wild != "*") wanted = {parent, "", default_zone};
    auto [it, fresh] = by_parent.try_emplace(parent, wanted);
    if (!fresh && (it->second.workload != wanted.workload || it->second.zone != wanted.zone))
      it->second = {parent, "", default_zone};  // selectors disagree: fail closed
    if (it->second.zone.empty()) conflicting.insert(parent);
  };
  for (const auto& w : policy.workloads)
    if (!w.cgroup.empty()) add(w.cgroup, w.name, w.zone);
  for (const auto& z : policy.zones)
    for (const auto& g : z.cgroup_globs) add(g, "", z.name);
  std::vector<Placeholder> out;
  for (auto& [parent, p] : by_parent)
    if (!conflicting.contains(parent)) out.push_back(std::move(p));
  return out;
}

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
  std::map<std::string, Placeholder> placeholders;
  for (auto& p : placeholders_for(policy)) placeholders.emplace(p.parent, std::move(p));

  // Depth first, parents before children. A cgroup removed while the walk runs is skipped, not
  // an error: it is simply not there any more.
  std::error_code ec;
  if (!fs::is_directory(cgroup2_root, ec))
    return fail("read the cgroup v2 tree at " + cgroup2_root + ": " +
                (ec ? ec.message() : std::string("not a directory")));
  std::vector<std::string> pending{cgroup2_root};
  while (!pending.empty()) {
    const std::string current = std::move(pending.back());
    pending.pop_back();
    std::vector<std::string> children;
    for (const auto& entry : fs::directory_iterator(current, ec))
      if (entry.is_directory(ec)) children.push_back(entry.path().string());
    if (ec && current == cgroup2_root)
      return fail("read the cgroup v2 tree at " + cgroup2_root + ": " + ec.message());
    ec.clear();
    std::ranges::sort(children, std::greater<>{});  // popped in name order
    for (const std::string& dir : children) {
      const std::string path = dir.substr(cgroup2_root.size());
      struct stat st {};
      auto m = match(policy, path);
      if (!m) {
        pending.push_back(dir);
        continue;
      }
      pending.push_back(dir);
      placeholders.erase(path);  // a workload of its own: it covers its descendants already
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
      bound.insert(st.st_ino);
      out.bindings.push_back(std::move(b));
    }
  }
  for (const auto& [parent, p] : placeholders) {
    struct stat st {};
    if (::stat((cgroup2_root + parent).c_str(), &st) != 0 || bound.contains(st.st_ino)) continue;
    policy::WorkloadBinding b{p.workload, p.zone, parent, st.st_ino, {}};
    b.kind = policy::BindingKind::Placeholder;
    out.bindings.push_back(std::move(b));
  }
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
