// Watching the policy file for changes: inotify on the file itself (through symlinks) and on its
// directory, so in-place writes, editors that write a temporary file and rename it over the
// original, and the `..data` symlink swap of a Kubernetes ConfigMap volume
// (policy.yaml -> ..data/policy.yaml, ..data -> ..2026_12_02_xx, replaced by renaming a new
// `..data` symlink over it) all count. A burst of changes is one reload: the watch waits until
// the file has been quiet for a while (and never longer than a maximum after the first change).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "guardrail/util/result.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail::agent {

// Coalesces change notices into one reload: due once no change came for `quiet_ns`, or
// `max_delay_ns` after the first change of the burst even if changes keep coming (a file
// rewritten forever still reloads). Plain logic on a caller-given clock.
class ReloadDebounce {
 public:
  ReloadDebounce(std::uint64_t quiet_ns, std::uint64_t max_delay_ns)
      : quiet_ns_(quiet_ns), max_delay_ns_(max_delay_ns) {}

  void on_change(std::uint64_t now_ns);
  // True once when the pending burst is due (then nothing is pending any more).
  bool take_due(std::uint64_t now_ns);
  // Milliseconds until the pending burst is due (rounded up), -1 when nothing is pending.
  int timeout_ms(std::uint64_t now_ns) const;
  bool pending() const { return first_ns_ != 0; }
  // The time of the first change of the pending burst (0: none).
  std::uint64_t first_change_ns() const { return first_ns_; }

 private:
  std::uint64_t due_ns() const;
  std::uint64_t quiet_ns_, max_delay_ns_;
  std::uint64_t first_ns_ = 0, last_ns_ = 0;
};

// The names in the policy file's directory whose change can change what the path reads: the
// file's own name, and, when it is a relative symlink, the first component of its target (the
// `..data` of a ConfigMap volume). Other files in the directory (an alerts file next to it) are
// not the policy's business.
std::set<std::string> names_of_interest(const std::string& path);

class PolicyWatch {
 public:
  struct Options {
    std::uint64_t quiet_ns = 200'000'000;        // a burst ends after 200 ms without a change
    std::uint64_t max_delay_ns = 1'000'000'000;  // and reloads at most 1 s after it began
  };
  // Calls `on_change` (on the watch's own thread) once per burst of changes. Fails when inotify
  // is unavailable or the file's directory cannot be watched (SIGHUP still reloads then).
  static Result<std::unique_ptr<PolicyWatch>> start(const std::string& path, Options options,
                                                    std::function<void()> on_change);
  ~PolicyWatch();  // stops and joins the thread
  PolicyWatch(const PolicyWatch&) = delete;
  PolicyWatch& operator=(const PolicyWatch&) = delete;

  struct Key {  // only start() constructs
   private:
    friend class PolicyWatch;
    Key() = default;
  };
  PolicyWatch(Key, std::string path, Options options, std::function<void()> on_change,
              UniqueFd inotify, UniqueFd stop);

  // The boot-clock time of the first change of the last burst handed over (0: none since the
  // last take), for the reload's "N ms after the file changed".
  std::uint64_t take_first_change_ns() { return first_change_ns_.exchange(0); }

 private:
  void run();
  // Reads pending inotify events; true when one concerns the policy.
  bool drain();
  // (Re-)watches the file through its symlinks: after a rename or a ConfigMap swap the path
  // names another inode.
  void watch_file();

  const std::string path_, dir_;
  const Options options_;
  const std::function<void()> on_change_;
  UniqueFd inotify_, stop_;
  int dir_wd_ = -1, file_wd_ = -1;
  std::set<std::string> names_;
  std::atomic<std::uint64_t> first_change_ns_{0};
  std::thread thread_;
};

}  // namespace guardrail::agent
