#include "policy_watch.hpp"

#include <limits.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "inotify_events.hpp"
#include "tamper_check.hpp"

namespace guardrail::agent {

// ---- ReloadDebounce -----------------------------------------------------------------------------

void ReloadDebounce::on_change(std::uint64_t now_ns) {
  if (now_ns == 0) now_ns = 1;  // 0 means "nothing pending"
  if (first_ns_ == 0) first_ns_ = now_ns;
  last_ns_ = now_ns;
}

std::uint64_t ReloadDebounce::due_ns() const {
  return std::min(last_ns_ + quiet_ns_, first_ns_ + max_delay_ns_);
}

bool ReloadDebounce::take_due(std::uint64_t now_ns) {
  if (first_ns_ == 0 || now_ns < due_ns()) return false;
  first_ns_ = last_ns_ = 0;
  return true;
}

int ReloadDebounce::timeout_ms(std::uint64_t now_ns) const {
  if (first_ns_ == 0) return -1;
  const std::uint64_t due = due_ns();
  if (now_ns >= due) return 0;
  return static_cast<int>(std::min<std::uint64_t>((due - now_ns + 999'999) / 1'000'000, INT_MAX));
}

// ---- names_of_interest
// ----------------------------------------------------------------------------

namespace {

std::pair<std::string, std::string> split_path(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace

std::set<std::string> names_of_interest(const std::string& path) {
  std::set<std::string> names{split_path(path).second};
  char target[PATH_MAX];
  const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
  if (n > 0 && target[0] != '/') {
    const std::string link(target, static_cast<std::size_t>(n));
    names.insert(link.substr(0, link.find('/')));
  }
  return names;
}

// ---- PolicyWatch
// ------------------------------------------------------------------------------------

namespace {

// What in the directory can change what the path reads: a name created, replaced by rename,
// removed, written or re-permissioned.
constexpr std::uint32_t kDirMask = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                   IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_ONLYDIR |
                                   IN_EXCL_UNLINK;
// The file itself (its inode, found through symlinks): written in place, or gone.
constexpr std::uint32_t kFileMask =
    IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

}  // namespace

Result<std::unique_ptr<PolicyWatch>> PolicyWatch::start(const std::string& path, Options options,
                                                        std::function<void()> on_change) {
  UniqueFd inotify(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify) return fail_errno("create an inotify instance to watch " + path, errno);
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) return fail_errno("create the policy watch's eventfd", errno);
  auto watch = std::make_unique<PolicyWatch>(Key{}, path, options, std::move(on_change),
                                             std::move(inotify), std::move(stop));
  watch->dir_wd_ = ::inotify_add_watch(watch->inotify_.get(), watch->dir_.c_str(), kDirMask);
  if (watch->dir_wd_ < 0)
    return fail_errno("watch the policy directory " + watch->dir_ +
                          " (is fs.inotify.max_user_watches exhausted?)",
                      errno);
  watch->watch_file();
  watch->thread_ = std::thread([w = watch.get()] { w->run(); });
  return watch;
}

PolicyWatch::PolicyWatch(Key, std::string path, Options options, std::function<void()> on_change,
                         UniqueFd inotify, UniqueFd stop)
    : path_(std::move(path)),
      dir_(split_path(path_).first),
      options_(options),
      on_change_(std::move(on_change)),
      inotify_(std::move(inotify)),
      stop_(std::move(stop)),
      names_(names_of_interest(path_)) {}

PolicyWatch::~PolicyWatch() {
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof one);
    thread_.join();
  }
}

void PolicyWatch::watch_file() {
  const int wd = ::inotify_add_watch(inotify_.get(), path_.c_str(), kFileMask);
  if (wd == file_wd_) return;
  // Another inode now (or none): the old one's watch goes (it may be gone already).
  if (file_wd_ >= 0 && file_wd_ != dir_wd_) ::inotify_rm_watch(inotify_.get(), file_wd_);
  file_wd_ = wd;  // -1 while the path names nothing: the directory watch sees it come back
}

bool PolicyWatch::drain() {
  bool relevant = false, rewatch = false;
  for_each_inotify_event(inotify_.get(), [&](const inotify_event& ev) {
    if (ev.mask & IN_Q_OVERFLOW) {  // events were lost: assume the worst
      relevant = rewatch = true;
    } else if (ev.wd == dir_wd_ && ev.len > 0) {
      if (names_.contains(ev.name)) relevant = rewatch = true;
    } else if (ev.wd == file_wd_) {
      relevant = true;
      if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) rewatch = true;
    }
  });
  if (rewatch) {
    // The link (or what it points to) may have changed: follow it again.
    names_ = names_of_interest(path_);
    watch_file();
  } else if (file_wd_ < 0) {
    watch_file();
  }
  return relevant;
}

void PolicyWatch::run() {
  ReloadDebounce debounce(options_.quiet_ns, options_.max_delay_ns);
  for (;;) {
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    const int ready = ::poll(fds, 2, debounce.timeout_ms(boot_clock_ns()));
    if (ready < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    if ((fds[0].revents & POLLIN) && drain()) debounce.on_change(boot_clock_ns());
    const std::uint64_t first = debounce.first_change_ns();
    if (debounce.take_due(boot_clock_ns())) {
      // Keep the earliest unhandled change: the reload reports the time from it.
      std::uint64_t expected = 0;
      first_change_ns_.compare_exchange_strong(expected, first);
      on_change_();
    }
  }
}

}  // namespace guardrail::agent
