#include "guardrail/loader/cgroup_attachments.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "guardrail/loader/programs.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail {

std::vector<ExpectedProgram> missing_programs(
    std::span<const ExpectedProgram> expected,
    const std::map<std::uint32_t, std::vector<std::uint32_t>>& found) {
  std::vector<ExpectedProgram> missing;
  for (const ExpectedProgram& p : expected) {
    auto it = found.find(p.attach_type);
    if (it == found.end() || std::ranges::find(it->second, p.prog_id) == it->second.end())
      missing.push_back(p);
  }
  return missing;
}

Result<std::vector<std::uint32_t>> query_cgroup_programs(int cgroup_fd, std::uint32_t attach_type) {
  // A workload cgroup carries a handful of programs per hook; 64 leaves room for others'.
  std::array<__u32, 64> ids{};
  __u32 count = ids.size();
  __u32 flags = 0;
  if (bpf_prog_query(cgroup_fd, static_cast<bpf_attach_type>(attach_type), 0, &flags, ids.data(),
                     &count) != 0)
    return fail_errno("query the programs of attach type " + std::to_string(attach_type), errno);
  return std::vector<std::uint32_t>(ids.begin(), ids.begin() + std::min<__u32>(count, ids.size()));
}

CgroupAttachments::CgroupAttachments(std::vector<bpf_program*> programs)
    : programs_(std::move(programs)) {
  for (bpf_program* prog : programs_) {
    bpf_prog_info info{};
    __u32 len = sizeof info;
    if (bpf_prog_get_info_by_fd(bpf_program__fd(prog), &info, &len) != 0)
      spdlog::warn("cannot read the id of program {}: the tamper check will re-attach it",
                   bpf_program__name(prog));
    expected_.push_back({bpf_program__name(prog),
                         static_cast<std::uint32_t>(bpf_program__expected_attach_type(prog)),
                         info.id});
  }
}

Result<void> CgroupAttachments::attach(const std::string& cgroup_dir) {
  if (programs_.empty() || links_.contains(cgroup_dir)) return {};
  auto links = attach_to_cgroup(programs_, cgroup_dir);
  if (!links) return propagate(links);
  links_.emplace(cgroup_dir, std::move(*links));
  return {};
}

std::vector<MissingProgram> CgroupAttachments::repair() {
  std::vector<MissingProgram> out;
  for (auto& [dir, links] : links_) {
    UniqueFd cgroup(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cgroup) continue;  // the cgroup is gone: the next re-scan drops it
    std::map<std::uint32_t, std::vector<std::uint32_t>> found;
    for (const ExpectedProgram& p : expected_) {
      if (found.contains(p.attach_type)) continue;
      auto ids = query_cgroup_programs(cgroup.get(), p.attach_type);
      if (!ids) {
        spdlog::warn("tamper check of {}: {}", dir, ids.error().message);
        found[p.attach_type] = {p.prog_id};  // unknown: do not re-attach blindly
        continue;
      }
      found[p.attach_type] = std::move(*ids);
    }
    for (const ExpectedProgram& p : missing_programs(expected_, found)) {
      const auto index = static_cast<std::size_t>(
          std::ranges::find(expected_, p.name, &ExpectedProgram::name) - expected_.begin());
      MissingProgram m{dir, p.name, p.attach_type, p.prog_id};
      BpfLink link(bpf_program__attach_cgroup(programs_[index], cgroup.get()));
      if (link) {
        links[index] = std::move(link);  // the old link was detached: destroying it is harmless
        m.reattached = true;
      } else {
        m.error = fail_errno("re-attach " + p.name + " to " + dir, errno).error().message;
      }
      out.push_back(std::move(m));
    }
  }
  return out;
}

}  // namespace guardrail
