#include "socket_watch.hpp"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>

#include "inotify_events.hpp"

namespace guardrail::agent {
namespace {

namespace fs = std::filesystem;

// A name in the directory created (bind() of a socket, mkdir, a link), removed, or renamed to or
// from it; the directory itself removed or renamed (its watch then names nothing).
constexpr std::uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// How many times arming looks again at a tree that changed while it armed.
constexpr int kArmRounds = 8;

std::string real_path(const fs::path& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : std::string();
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// The point for the path's place in the tree: its directory's real path and its own name, or,
// while the directory is missing, the nearest existing ancestor and the next component.
std::optional<WatchPoint> place_of(const fs::path& path) {
  fs::path dir = path.parent_path(), name = path.filename();
  while (!is_dir(dir)) {
    if (dir == dir.root_path()) return std::nullopt;
    name = dir.filename();
    dir = dir.parent_path();
  }
  std::string real = real_path(dir);
  if (real.empty() || name.empty()) return std::nullopt;
  return WatchPoint{std::move(real), name.string()};
}

}  // namespace

std::vector<WatchPoint> watch_points(const std::string& path) {
  if (path.empty() || path[0] != '/') return {};
  std::vector<WatchPoint> out;
  const fs::path p = fs::path(path).lexically_normal();
  if (auto here = place_of(p)) out.push_back(std::move(*here));
  // A symlink at the path (or above it) that resolves: its target can change under it too.
  if (std::string target = real_path(p); !target.empty())
    if (auto there = place_of(target); there && std::ranges::find(out, *there) == out.end())
      out.push_back(std::move(*there));
  return out;
}

Result<std::unique_ptr<SocketWatch>> SocketWatch::start(std::function<void()> on_change) {
  UniqueFd inotify(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify) return fail_errno("create an inotify instance to follow the unix sockets", errno);
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) return fail_errno("create the socket watch's eventfd", errno);
  auto watch = std::make_unique<SocketWatch>(Key{}, std::move(on_change), std::move(inotify),
                                             std::move(stop));
  watch->thread_ = std::thread([w = watch.get()] { w->run(); });
  return watch;
}

SocketWatch::SocketWatch(Key, std::function<void()> on_change, UniqueFd inotify, UniqueFd stop)
    : on_change_(std::move(on_change)), inotify_(std::move(inotify)), stop_(std::move(stop)) {}

SocketWatch::~SocketWatch() {
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof one);
    thread_.join();
  }
}

std::vector<std::string> SocketWatch::follow(const std::vector<std::string>& paths) {
  std::lock_guard lock(mu_);
  paths_ = paths;
  return arm_locked();
}

bool SocketWatch::take_changed() {
  std::lock_guard lock(mu_);
  drain_locked();
  return std::exchange(changed_, false);
}

std::size_t SocketWatch::watched_dirs() const {
  std::lock_guard lock(mu_);
  return wd_of_dir_.size();
}

std::map<std::string, std::set<std::string>> SocketWatch::wanted_locked() const {
  std::map<std::string, std::set<std::string>> want;
  for (const auto& path : paths_)
    for (auto& point : watch_points(path)) want[point.dir].insert(std::move(point.name));
  return want;
}

std::vector<std::string> SocketWatch::arm_locked() {
  // The tree can change between finding a watch point and watching it: a directory removed in
  // between (containerd restarting) fails its watch and would leave nothing watched, one made in
  // between was looked for in its parent a moment too late. So after arming, look again: what
  // changed before the watches were in place shows as other points (arm those), anything after
  // queues an event. Bounded, for a tree that never stops changing; the next event re-arms.
  std::vector<std::string> failed;
  auto want = wanted_locked();
  for (int round = 0; round < kArmRounds; ++round) {
    bool vanished = false;
    failed = watch_locked(want, vanished);
    auto now = wanted_locked();
    // A directory gone and made again in between looks the same: its watch still failed.
    if (now == want && !vanished) break;
    changed_ = true;  // the tree moved while arming: the sockets may have moved with it
    want = std::move(now);
  }
  return failed;
}

std::vector<std::string> SocketWatch::watch_locked(
    const std::map<std::string, std::set<std::string>>& want, bool& vanished) {
  std::vector<std::string> failed;
  std::map<std::string, int> wds;
  std::map<int, std::set<std::string>> names;
  for (const auto& [dir, wanted] : want) {
    // The same inode watched again answers with its watch descriptor: nothing is added twice.
    const int wd = ::inotify_add_watch(inotify_.get(), dir.c_str(), kMask);
    if (wd < 0) {
      vanished |= errno == ENOENT || errno == ENOTDIR;
      failed.push_back(dir + ": " + std::strerror(errno));
      continue;
    }
    wds[dir] = wd;
    names[wd].insert(wanted.begin(), wanted.end());
  }
  for (const auto& [dir, wd] : wd_of_dir_)
    if (!names.contains(wd)) ::inotify_rm_watch(inotify_.get(), wd);
  wd_of_dir_ = std::move(wds);
  names_of_wd_ = std::move(names);
  return failed;
}

void SocketWatch::drain_locked() {
  bool rearm = false;
  for_each_inotify_event(inotify_.get(), [&](const inotify_event& ev) {
    if (ev.mask & IN_Q_OVERFLOW) {  // events were lost: assume the worst
      changed_ = rearm = true;
      return;
    }
    const auto names = names_of_wd_.find(ev.wd);
    if (names == names_of_wd_.end()) return;  // a watch already given up
    // The directory went (watch what is there now), or a socket or a directory on the way to
    // one changed: either can move the watch points.
    if ((ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) ||
        (ev.len > 0 && names->second.contains(ev.name)))
      changed_ = rearm = true;
  });
  if (rearm) arm_locked();
}

void SocketWatch::run() {
  for (;;) {
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    bool changed;
    {
      std::lock_guard lock(mu_);
      drain_locked();
      changed = changed_;
    }
    if (changed) on_change_();
  }
}

}  // namespace guardrail::agent
