// The programs a guard attaches to workload cgroups, and the links that hold them there. Where
// BPF-LSM cannot refuse bpf() to a workload, a privileged one can detach or replace a link: the
// owner checks what each cgroup really carries (BPF_PROG_QUERY) and re-attaches what is missing.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "guardrail/loader/pin_dir.hpp"
#include "guardrail/loader/pinning.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail {

// One of our programs as the kernel knows it.
struct ExpectedProgram {
  std::string name;               // the program's name in its object
  std::uint32_t attach_type = 0;  // enum bpf_attach_type
  std::uint32_t prog_id = 0;
};

// A program a cgroup should carry and did not; re-attached (or not, with the reason).
struct MissingProgram {
  std::string cgroup;  // the attach point (a cgroup directory)
  std::string program;
  std::uint32_t attach_type = 0;
  std::uint32_t prog_id = 0;  // the id we expected to find
  bool reattached = false;
  std::string error;  // why re-attaching failed
};

// The programs of `expected` whose id is not among those found attached for their attach type
// (found: attach type -> program ids attached directly to the cgroup). Programs found that are
// not ours do not count: the agent attaches with BPF_F_ALLOW_MULTI, so another program on the
// cgroup can only refuse more.
std::vector<ExpectedProgram> missing_programs(
    std::span<const ExpectedProgram> expected,
    const std::map<std::uint32_t, std::vector<std::uint32_t>>& found);

// The ids of the programs attached directly to the cgroup (not inherited) for `attach_type`.
Result<std::vector<std::uint32_t>> query_cgroup_programs(int cgroup_fd, std::uint32_t attach_type);

// The programs of one guard object on the workload cgroups. With a pin directory each link is
// pinned (links/<object>/<program>@<cgroup id>), so it outlives the agent; a restarted agent
// adopts the pinned links instead of attaching again: a link that runs the program in use is
// kept, one that runs another (an upgrade) is switched to it atomically (bpf_link_update).
class CgroupAttachments {
 public:
  CgroupAttachments() = default;
  // The programs must be loaded (their ids are read now). pins may be null: links end with us.
  CgroupAttachments(std::string object, std::vector<PinnedProgram> programs, const PinDir* pins);

  bool empty() const { return programs_.empty(); }
  // Attaches every program to the cgroup directory (descendants inherit them), or adopts the
  // pinned links that already do. Idempotent per path; on failure nothing new is left attached.
  Result<void> attach(const std::string& cgroup_dir);
  // After every attach point is attached: the pinned links no attach() claimed. A link whose
  // cgroup is gone is unpinned; one below an attached cgroup is detached (the ancestor's
  // programs judge it: never twice); any other keeps enforcing, switched to the program in
  // use, and is checked like the rest.
  void adopt_remaining(const std::string& cgroup2_root);
  // Detaches the links of attached cgroups that lie below another attached cgroup.
  void retire_covered();
  // Queries every attached cgroup and re-attaches each program it no longer carries, replacing
  // the link that held it (a detached link is defunct). Returns what was missing.
  std::vector<MissingProgram> repair();

  const std::vector<ExpectedProgram>& expected() const { return expected_; }
  const std::vector<PinnedProgram>& programs() const { return programs_; }
  // What attach() and adopt_remaining() found pinned and did.
  const Adoption& adoption() const { return adoption_; }

 private:
  // One program on one cgroup: the pinned link when it is there and usable, else a new one.
  Result<UniqueFd> link_program(const PinnedProgram& p, int cgroup_fd, std::uint64_t cgroup_id);
  Result<UniqueFd> new_link(const PinnedProgram& p, int cgroup_fd, std::uint64_t cgroup_id);
  void detach(const std::string& dir);

  std::string object_;
  std::vector<PinnedProgram> programs_;
  std::vector<ExpectedProgram> expected_;  // parallel to programs_
  const PinDir* pins_ = nullptr;
  struct Attached {
    std::uint64_t cgroup_id = 0;
    std::vector<UniqueFd> links;  // parallel to programs_; closing them detaches unless pinned
  };
  std::map<std::string, Attached> links_;  // by cgroup directory
  Adoption adoption_;
};

}  // namespace guardrail
