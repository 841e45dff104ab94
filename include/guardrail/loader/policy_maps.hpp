// The one owner of the maps every guard object shares: both policy map sets behind their
// ARRAY_OF_MAPS (bpf/common.bpf.h, bpf/net_policy.bpf.h), the policy state that flips between
// them, the ring buffer and the counters. The network and host guards only load and attach their
// programs; before they load, share_with() points their maps at these.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "guardrail.h"
#include "guardrail/loader/bpf_skeleton.hpp"
#include "guardrail/loader/pin_dir.hpp"
#include "guardrail/loader/pinning.hpp"
#include "guardrail/policy/compile.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail {

struct PolicyMapsOptions {
  std::uint32_t ringbuf_bytes = GR_DEFAULT_RINGBUF_BYTES;  // a power of two, >= 4096
  // Where the maps are pinned (and adopted from); null: they end with the agent.
  const PinDir* pins = nullptr;
};

class PolicyMaps {
 public:
  static Result<std::unique_ptr<PolicyMaps>> create(const PolicyMapsOptions& options);
  struct Impl;
  explicit PolicyMaps(std::unique_ptr<Impl> impl);  // through create()
  ~PolicyMaps();
  PolicyMaps(const PolicyMaps&) = delete;
  PolicyMaps& operator=(const PolicyMaps&) = delete;

  // Before `obj` loads: every map of it that is one of ours (by name) reuses our map, so all
  // objects judge by one policy and write one ring buffer. Its other maps stay its own.
  Result<void> share_with(bpf_object* obj) const;

  // Makes the programs judge by `policy`, whole: fills the map set they are not reading, then
  // flips to it. cgroup_levels: bit n set when a workload cgroup sits at level n (the levels
  // where birth parents' children will be born are added). Cgroups the kernel bound at their
  // mkdir (GR_WL_BORN) that `policy` does not name yet are carried into the new set while they
  // exist, from their birth parent's new entry.
  // next_workload_id: every workload id below it has been given out (kept in the pinned state).
  Result<void> apply(const policy::CompiledPolicy& policy, std::uint32_t cgroup_levels,
                     std::uint32_t next_workload_id);
  // The workload ids the kernel holds now (cgroup id -> workload id, from the active set) and
  // the next free id: a previous agent's, when its maps were adopted.
  struct WorkloadIds {
    std::vector<std::pair<std::uint64_t, std::uint32_t>> by_cgroup;
    std::uint32_t next = 0;
  };
  WorkloadIds workload_ids() const;
  // A runtime socket or allowed path socket whose inode the maps in force did not hold: made,
  // re-made (a daemon's restart) or removed at its path since they were filled.
  struct SocketChange {
    bool allowed = false;       // an allowlist zone's path socket (else a runtime socket)
    std::uint32_t zone_id = 0;  // of an allowed one
    std::string path;           // as the policy names it
    std::uint64_t old_ino = 0;  // 0: no socket was there
    std::uint64_t new_ino = 0;  // 0: no socket is there now
  };
  // Re-resolves the runtime sockets and allowed path sockets of `policy` (the policy in force)
  // to their inodes and updates the map set the programs read, in place: new inodes go in
  // before stale ones go out, so an inode that is still valid is never missing. The LSM
  // backend, which matches by inode, follows the filesystem without a full apply. Returns what
  // changed (nothing: the maps were right).
  Result<std::vector<SocketChange>> follow_sockets(const policy::CompiledPolicy& policy);
  // Likewise for the host-write guard's listed paths (a path made, re-made or removed since the
  // maps were filled): re-resolved and updated in place. True when an inode changed.
  Result<bool> follow_host_write_paths(const policy::CompiledPolicy& policy);

  // Tells the programs who the agent is (map agent_state: this process's tgid and start time):
  // a restarted agent overwrites the previous one's. clear_agent() at a graceful exit, so the
  // pid protects nobody once the agent is gone.
  Result<void> register_agent() const;
  void clear_agent() const;
  // The agent the programs protect now (its tgid; 0: none).
  std::uint32_t agent_tgid() const;

  int events_fd() const;
  // The pin directory the maps live in (null without pinning), and what was adopted from it.
  const PinDir* pins() const;
  const Adoption& adoption() const;
  // Events lost (ring buffer full) since the last agent read the counter: while no agent ran.
  // mark_lost_seen() records the count this agent has reported, in the pinned counters.
  std::uint64_t lost_since_last_seen() const;
  void mark_lost_seen() const;
  std::uint32_t ringbuf_bytes() const;
  // Sums a per-CPU counter of the `stats` map (enum gr_stat).
  std::uint64_t stat(gr_stat which) const;

 private:
  // After a flip: each set of the old slot larger than the compiled-in size is replaced by an
  // empty one of that size once no program can still read it.
  Result<void> release_old_sets(std::uint32_t old_slot);
  std::unique_ptr<Impl> impl_;
};

// Loads a guard object on the shared maps: its maps point at ours, its own maps (socket marks,
// exchanges, ...) are adopted from the pin directory when pinned there, and its programs wake
// the consumer only when the unread data passes a quarter of the ring buffer (bpf/events.bpf.h).
template <typename T>
Result<void> load_on_shared_maps(BpfSkeleton<T>& skel, const PolicyMaps& maps, Adoption& adoption) {
  GR_TRY(maps.share_with(skel->obj));
  std::vector<std::string> to_pin;
  if (maps.pins()) {
    auto reused = reuse_pinned_maps(skel->obj, *maps.pins(), adoption);
    if (!reused) return propagate(reused);
    to_pin = std::move(*reused);
  }
  skel->rodata->wakeup_bytes = maps.ringbuf_bytes() / 4;
  GR_TRY(skel.load());
  if (maps.pins()) GR_TRY(pin_maps(skel->obj, to_pin, *maps.pins()));
  return {};
}

}  // namespace guardrail
