#include "guardrail/discovery/cgroup_watch.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace guardrail::discovery {
namespace {

constexpr std::uint32_t kEvents =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_ONLYDIR;

std::string parent_dir(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "" : path.substr(0, slash);
}

}  // namespace

Result<std::unique_ptr<CgroupWatch>> CgroupWatch::start(std::function<void()> wake) {
  UniqueFd inotify(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify) return fail_errno("inotify_init1 (watching cgroups come and go)", errno);
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) return fail_errno("eventfd (watching cgroups come and go)", errno);
  return std::make_unique<CgroupWatch>(std::move(inotify), std::move(stop), std::move(wake));
}

CgroupWatch::CgroupWatch(UniqueFd inotify, UniqueFd stop, std::function<void()> wake)
    : inotify_(std::move(inotify)), stop_(std::move(stop)), wake_(std::move(wake)) {
  thread_ = std::thread([this] { run(); });
}

CgroupWatch::~CgroupWatch() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

void CgroupWatch::watch(const std::set<std::string>& dirs) {
  std::lock_guard lock(mutex_);
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (dirs.contains(it->first)) {
      ++it;
      continue;
    }
    ::inotify_rm_watch(inotify_.get(), it->second);  // EINVAL when the directory is gone
    it = watches_.erase(it);
  }
  for (const auto& dir : dirs) {
    if (watches_.contains(dir)) continue;
    const bool events_file = dir.ends_with("/cgroup.events");
    const int wd =
        ::inotify_add_watch(inotify_.get(), dir.c_str(), events_file ? IN_MODIFY : kEvents);
    if (wd >= 0)
      watches_[dir] = wd;
    else if (errno != ENOENT && errno != ENOTDIR)
      spdlog::warn(
          "cannot watch {} for new and removed cgroups: {}; they are found at the next "
          "re-scan",
          dir, std::strerror(errno));
  }
}

std::set<std::string> CgroupWatch::watched() const {
  std::lock_guard lock(mutex_);
  std::set<std::string> out;
  for (const auto& [dir, wd] : watches_) out.insert(dir);
  return out;
}

void CgroupWatch::run() {
  alignas(inotify_event) std::array<char, 8192> buf{};
  for (;;) {
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("watching cgroups: poll: {}; new and removed cgroups are found at re-scans",
                    std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    bool changed = false;
    for (;;) {
      const ssize_t n = ::read(inotify_.get(), buf.data(), buf.size());
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf.data() + off);
        // A directory made or removed below a watched one, or the watched one itself removed
        // (its watch ends with IN_IGNORED); files (cgroup.procs, ...) do not matter.
        if ((ev->mask & (IN_ISDIR | IN_DELETE_SELF | IN_MODIFY | IN_Q_OVERFLOW)) != 0)
          changed = true;
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
    if (changed) wake_();
  }
}

std::set<std::string> directories_to_watch(const std::vector<policy::WorkloadBinding>& bindings,
                                           const std::string& cgroup2_root) {
  std::set<std::string> dirs;
  for (const auto& b : bindings) {
    if (b.kind == policy::BindingKind::Placeholder) dirs.insert(cgroup2_root + b.cgroup_path);
    dirs.insert(cgroup2_root + parent_dir(b.cgroup_path));
    // A workload whose addresses are unknown (no process yet): its first process makes it
    // populated, and then its addresses can be read.
    if (b.kind == policy::BindingKind::Workload && b.addresses.empty())
      dirs.insert(cgroup2_root + b.cgroup_path + "/cgroup.events");
  }
  return dirs;
}

}  // namespace guardrail::discovery
