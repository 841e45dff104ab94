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

#include "guardrail/loader/bpf_skeleton.hpp"
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

class CgroupAttachments {
 public:
  CgroupAttachments() = default;
  // The programs must be loaded (their ids are read now).
  explicit CgroupAttachments(std::vector<bpf_program*> programs);

  bool empty() const { return programs_.empty(); }
  // Attaches every program to the cgroup directory (descendants inherit them). Idempotent per
  // path; on failure nothing is left half attached.
  Result<void> attach(const std::string& cgroup_dir);
  // Queries every attached cgroup and re-attaches each program it no longer carries, replacing
  // the link that held it (a detached link is defunct). Returns what was missing.
  std::vector<MissingProgram> repair();

  const std::vector<ExpectedProgram>& expected() const { return expected_; }

 private:
  std::vector<bpf_program*> programs_;
  std::vector<ExpectedProgram> expected_;  // parallel to programs_
  // Links per attached cgroup path, parallel to programs_; destroying them detaches.
  std::map<std::string, std::vector<BpfLink>> links_;
};

}  // namespace guardrail
