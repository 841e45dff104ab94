// The agent's directory on bpffs. Everything that enforces is pinned there (maps, programs,
// links), so enforcement outlives the agent process: a crash, `kill -9` or an upgrade leaves
// the last applied policy running, and the next agent adopts what it finds instead of
// attaching twice. Only root can open it (mode 0700), and one agent at a time holds it (an
// exclusive flock on the directory).
//
// Layout, relative to the directory:
//   maps/<object>/<map>                      every map an object owns (policy, ring buffer,
//                                            counters, socket marks, exchanges)
//   progs/<object>/<program>                 the program each link runs
//   links/<object>/<program>                 a host-wide link (LSM, tracing)
//   links/<object>/<program>@<cgroup id>     a program on one workload cgroup
#pragma once

#include <string>
#include <vector>

#include "guardrail/util/result.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail {

inline constexpr const char* kDefaultPinDir = "/sys/fs/bpf/guardrail";

class PinDir {
 public:
  // Opens `path` (creating it and its parents; /sys/fs/bpf is mounted as bpffs when it is not
  // yet), checks that it is on bpffs, makes it 0700, and locks it. Fails when another agent
  // holds it.
  static Result<PinDir> open(const std::string& path);
  // True when something is pinned under `path` (a previous agent's enforcement).
  static bool holds_pins(const std::string& path);

  const std::string& path() const { return path_; }
  // The object pinned at `rel`, or an invalid fd when nothing is.
  UniqueFd get(const std::string& rel) const;
  // Pins `fd` at `rel`, replacing what was pinned there (making subdirectories as needed).
  Result<void> pin(int fd, const std::string& rel) const;
  // Removes the pin at `rel` (the object lives on while someone else holds it).
  void unpin(const std::string& rel) const;
  // The names in the subdirectory `rel` (empty when it does not exist).
  std::vector<std::string> list(const std::string& rel) const;
  // Unpins everything and removes the directory: whatever only the pins held is detached and
  // freed. With wait_detached, returns only once every pinned program is gone from the kernel
  // (it lets go asynchronously), failing after 10 s when another process still holds one; the
  // agent, which holds its links itself and closes them next, does not wait. Returns how many
  // pins were removed.
  Result<std::size_t> remove_all(bool wait_detached);

 private:
  PinDir(std::string path, UniqueFd lock) : path_(std::move(path)), lock_(std::move(lock)) {}
  std::string path_;
  UniqueFd lock_;  // the directory, flock()ed
};

}  // namespace guardrail
