#include "guardrail/loader/programs.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>

#include <fstream>

#include "guardrail/util/unique_fd.hpp"

namespace guardrail {

Result<std::vector<BpfLink>> attach_to_cgroup(std::span<bpf_program* const> programs,
                                              const std::string& cgroup_dir) {
  UniqueFd cgroup(::open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup) return fail_errno("open cgroup " + cgroup_dir, errno);
  std::vector<BpfLink> links;
  for (bpf_program* prog : programs) {
    BpfLink link(bpf_program__attach_cgroup(prog, cgroup.get()));
    if (!link)
      return fail_errno(
          std::string("attach ") + bpf_program__section_name(prog) + " to cgroup " + cgroup_dir,
          errno);
    links.push_back(std::move(link));
  }
  return links;
}

std::vector<ProgramStats> loaded_program_stats(bpf_object* obj) {
  std::ifstream enabled("/proc/sys/kernel/bpf_stats_enabled");
  int on = 0;
  if (!obj || !(enabled >> on) || !on) return {};
  std::vector<ProgramStats> out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    if (!bpf_program__autoload(prog)) continue;
    bpf_prog_info info{};
    __u32 len = sizeof info;
    if (bpf_prog_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0)
      out.push_back({bpf_program__name(prog), info.run_cnt, info.run_time_ns});
  }
  return out;
}

}  // namespace guardrail
