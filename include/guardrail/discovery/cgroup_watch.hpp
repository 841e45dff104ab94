// Cgroups appearing and going away, as they happen: inotify on the directories whose children
// are workloads or may become ones (placeholders' parents, workload cgroups' parents). A cgroup
// removed is a workload gone, whose addresses must stop naming it before another workload gets
// them (identity reuse); a cgroup made is one to identify. Either wakes the agent to re-scan.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "guardrail/policy/compile.hpp"
#include "guardrail/util/result.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail::discovery {

class CgroupWatch {
 public:
  // wake: called on the watch's thread after a child directory was made or removed.
  static Result<std::unique_ptr<CgroupWatch>> start(std::function<void()> wake);
  ~CgroupWatch();  // stops the thread
  CgroupWatch(const CgroupWatch&) = delete;
  CgroupWatch& operator=(const CgroupWatch&) = delete;

  // Watches exactly these directories from now on (absolute paths), and the files among them
  // named cgroup.events for changes (a cgroup becoming populated); a missing one is skipped.
  void watch(const std::set<std::string>& dirs);
  std::set<std::string> watched() const;

  CgroupWatch(UniqueFd inotify, UniqueFd stop, std::function<void()> wake);

 private:
  void run();

  UniqueFd inotify_;
  UniqueFd stop_;  // an eventfd: written once to end the thread
  std::function<void()> wake_;
  mutable std::mutex mutex_;
  std::map<std::string, int> watches_;  // directory -> watch descriptor
  std::thread thread_;
};

// What to watch for a set of bindings: each placeholder and its parent (its own creation or
// removal), the parent of every workload cgroup (its removal), and the cgroup.events of every
// workload whose addresses are unknown yet (its first process).
std::set<std::string> directories_to_watch(const std::vector<policy::WorkloadBinding>& bindings,
                                           const std::string& cgroup2_root);

}  // namespace guardrail::discovery
