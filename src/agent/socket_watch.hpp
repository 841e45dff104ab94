// Following unix socket paths (the runtime sockets, the allowlisted path sockets) as the
// filesystem changes them. The BPF-LSM backend matches those sockets by inode, and every restart
// of dockerd or containerd makes a new one: inotify on each path's directory (through symlinked
// directories, e.g. /var/run -> /run) reports a socket created, removed or renamed over the path
// within milliseconds, and the agent re-resolves the inodes at once. A directory that does not
// exist yet (/run/containerd before containerd ran) is watched through its nearest existing
// ancestor until it appears.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "guardrail/util/result.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail::agent {

// Where a change of what `path` reaches shows: in directory `dir` (a real path: no symlinks),
// the entry `name` created, removed or renamed.
struct WatchPoint {
  std::string dir;
  std::string name;
  auto operator<=>(const WatchPoint&) const = default;
};

// The watch points of an absolute path: in its directory (resolved through symlinks), its own
// name; when that directory does not exist (yet), the nearest existing ancestor and the next
// component below it. When the path is a symlink that resolves, also its target's. Empty for a
// path that is not absolute.
std::vector<WatchPoint> watch_points(const std::string& path);

class SocketWatch {
 public:
  // Calls `on_change` (on the watch's own thread) whenever a watched name changed. Fails when
  // inotify is unavailable (the re-scan still re-resolves the sockets then).
  static Result<std::unique_ptr<SocketWatch>> start(std::function<void()> on_change);
  ~SocketWatch();  // stops and joins the thread
  SocketWatch(const SocketWatch&) = delete;
  SocketWatch& operator=(const SocketWatch&) = delete;

  struct Key {  // only start() constructs
   private:
    friend class SocketWatch;
    Key() = default;
  };
  SocketWatch(Key, std::function<void()> on_change, UniqueFd inotify, UniqueFd stop);

  // The paths to follow, replacing the previous ones. Returns the directories that could not
  // be watched (e.g. fs.inotify.max_user_watches exhausted), each with the reason.
  std::vector<std::string> follow(const std::vector<std::string>& paths);
  // Whether a watched name changed since the last call. Reads what inotify holds first: a
  // change the filesystem already shows has queued its event, so it is never missed here.
  bool take_changed();
  // How many directories are watched now.
  std::size_t watched_dirs() const;

 private:
  void run();
  // With mu_ held: reads pending inotify events; re-arms the watches when a directory came or
  // went. Sets changed_ when one concerns a followed path.
  void drain_locked();
  // With mu_ held: watches exactly the directories the followed paths need now, looking again
  // when the tree changed while it armed. Returns the directories that could not be watched.
  std::vector<std::string> arm_locked();
  // With mu_ held: each directory the followed paths need now, with the names that matter in it.
  std::map<std::string, std::set<std::string>> wanted_locked() const;
  // With mu_ held: watches exactly the directories of `want`, dropping the others. Sets
  // `vanished` when one of them was gone by the time it was watched.
  std::vector<std::string> watch_locked(const std::map<std::string, std::set<std::string>>& want,
                                        bool& vanished);

  const std::function<void()> on_change_;
  UniqueFd inotify_, stop_;
  mutable std::mutex mu_;
  std::vector<std::string> paths_;
  std::map<std::string, int> wd_of_dir_;
  std::map<int, std::set<std::string>> names_of_wd_;  // the names that matter in each directory
  bool changed_ = false;
  std::thread thread_;
};

}  // namespace guardrail::agent
