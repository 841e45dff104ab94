#include "guardrail/loader/cgroup_attachments.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>

#include "guardrail/util/unique_fd.hpp"

namespace guardrail {
namespace fs = std::filesystem;

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

namespace {

std::uint64_t cgroup_id_of(int cgroup_fd) {
  struct stat st {};
  return ::fstat(cgroup_fd, &st) == 0 ? st.st_ino : 0;  // a cgroup's id is its inode number
}

struct CgroupLinkInfo {
  std::uint64_t cgroup_id = 0;  // 0: the cgroup is gone (the link is defunct)
  std::uint32_t attach_type = 0;
  std::uint32_t prog_id = 0;
};

std::optional<CgroupLinkInfo> cgroup_link_info(int link_fd) {
  bpf_link_info info{};
  __u32 len = sizeof info;
  if (bpf_link_get_info_by_fd(link_fd, &info, &len) != 0 || info.type != BPF_LINK_TYPE_CGROUP)
    return std::nullopt;
  return CgroupLinkInfo{info.cgroup.cgroup_id, info.cgroup.attach_type, info.prog_id};
}

bool is_below(const std::string& path, const std::string& ancestor) {
  return path.size() > ancestor.size() && path.starts_with(ancestor) &&
         path[ancestor.size()] == '/';
}

}  // namespace

CgroupAttachments::CgroupAttachments(std::string object, std::vector<PinnedProgram> programs,
                                     const PinDir* pins)
    : object_(std::move(object)), programs_(std::move(programs)), pins_(pins) {
  for (const PinnedProgram& p : programs_) {
    if (!p.id)
      spdlog::warn("cannot read the id of program {}: the tamper check will re-attach it", p.name);
    expected_.push_back({p.name, p.attach_type, p.id});
  }
}

Result<UniqueFd> CgroupAttachments::new_link(const PinnedProgram& p, int cgroup_fd,
                                             std::uint64_t cgroup_id) {
  UniqueFd link(
      bpf_link_create(p.fd(), cgroup_fd, static_cast<bpf_attach_type>(p.attach_type), nullptr));
  if (!link)
    return fail_errno("attach " + p.name + " to cgroup " + std::to_string(cgroup_id), errno);
  if (pins_)
    if (auto pinned = pins_->pin(link.get(), cgroup_link_pin(object_, p.name, cgroup_id)); !pinned)
      spdlog::error("{}: this link ends with the agent", pinned.error().message);
  ++adoption_.links_new;
  return link;
}

Result<UniqueFd> CgroupAttachments::link_program(const PinnedProgram& p, int cgroup_fd,
                                                 std::uint64_t cgroup_id) {
  UniqueFd link = pins_ ? pins_->get(cgroup_link_pin(object_, p.name, cgroup_id)) : UniqueFd();
  const auto info = link ? cgroup_link_info(link.get()) : std::nullopt;
  if (!info || info->cgroup_id != cgroup_id || info->attach_type != p.attach_type)
    return new_link(p, cgroup_fd, cgroup_id);  // none, defunct (detached) or not ours
  if (info->prog_id == p.id) {
    ++adoption_.links_kept;
    return link;
  }
  // Another program (an upgrade): switch the link over in one step, never detached between.
  UniqueFd old_prog(bpf_prog_get_fd_by_id(info->prog_id));
  LIBBPF_OPTS(bpf_link_update_opts, opts, .flags = old_prog ? BPF_F_REPLACE : 0u,
              .old_prog_fd = old_prog ? static_cast<__u32>(old_prog.get()) : 0u);
  if (bpf_link_update(link.get(), p.fd(), &opts) != 0) {
    spdlog::warn(
        "switch the pinned link of {} on cgroup {} to the new program: {}; attaching "
        "a new link, then removing the old",
        p.name, cgroup_id, std::strerror(errno));
    return new_link(p, cgroup_fd, cgroup_id);  // pinned in place of the old: it goes with our fd
  }
  ++adoption_.links_replaced;
  return link;
}

Result<void> CgroupAttachments::attach(const std::string& cgroup_dir) {
  if (programs_.empty() || links_.contains(cgroup_dir)) return {};
  UniqueFd cgroup(::open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup) return fail_errno("open cgroup " + cgroup_dir, errno);
  Attached attached{cgroup_id_of(cgroup.get()), {}};
  std::vector<bool> fresh;  // parallel to attached.links: made by this call
  for (const PinnedProgram& p : programs_) {
    const std::size_t made = adoption_.links_new;
    auto link = link_program(p, cgroup.get(), attached.cgroup_id);
    if (!link) {
      // Nothing half attached: the links this call made go again (adopted ones stay pinned).
      for (std::size_t i = 0; i < attached.links.size(); ++i)
        if (pins_ && fresh[i])
          pins_->unpin(cgroup_link_pin(object_, programs_[i].name, attached.cgroup_id));
      return fail(link.error().message + " (cgroup " + cgroup_dir + ")");
    }
    fresh.push_back(adoption_.links_new != made);
    attached.links.push_back(std::move(*link));
  }
  links_.emplace(cgroup_dir, std::move(attached));
  return {};
}

void CgroupAttachments::detach(const std::string& dir) {
  auto it = links_.find(dir);
  if (it == links_.end()) return;
  if (pins_)
    for (const PinnedProgram& p : programs_)
      pins_->unpin(cgroup_link_pin(object_, p.name, it->second.cgroup_id));
  ++adoption_.links_removed;
  links_.erase(it);  // closing the last fd detaches
}

void CgroupAttachments::retire_covered() {
  std::vector<std::string> covered;
  for (const auto& [dir, _] : links_)
    if (std::ranges::any_of(links_, [&](const auto& e) { return is_below(dir, e.first); }))
      covered.push_back(dir);
  for (const auto& dir : covered) {
    spdlog::info("{}: {} is below another attached cgroup now; detaching its own links", object_,
                 dir);
    detach(dir);
  }
}

void CgroupAttachments::adopt_remaining(const std::string& cgroup2_root) {
  if (!pins_ || programs_.empty()) return;
  // The cgroup ids the pins name that no attach() claimed.
  std::set<std::uint64_t> claimed, unclaimed;
  for (const auto& [_, a] : links_) claimed.insert(a.cgroup_id);
  const std::string prefix = "links/" + object_;
  for (const auto& name : pins_->list(prefix)) {
    const auto at = name.rfind('@');
    if (at == std::string::npos) continue;
    const std::uint64_t id = std::strtoull(name.c_str() + at + 1, nullptr, 10);
    if (!claimed.contains(id)) unclaimed.insert(id);
  }
  if (unclaimed.empty()) return;
  // Their directories, by walking the tree (a cgroup's id is its inode number).
  std::map<std::uint64_t, std::string> dirs;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(cgroup2_root,
                                           fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) == 0 && unclaimed.contains(st.st_ino))
      dirs.emplace(st.st_ino, it->path().string());
  }
  for (std::uint64_t id : unclaimed) {
    auto dir = dirs.find(id);
    const bool covered = dir != dirs.end() && std::ranges::any_of(links_, [&](const auto& e) {
                           return is_below(dir->second, e.first);
                         });
    if (dir == dirs.end() || covered) {
      spdlog::info("{}: removing the pinned links of cgroup {} ({})", object_, id,
                   dir == dirs.end() ? "the cgroup is gone" : dir->second + " is covered above");
      for (const PinnedProgram& p : programs_) pins_->unpin(cgroup_link_pin(object_, p.name, id));
      ++adoption_.links_removed;
      continue;
    }
    // Not a workload's now, as far as this agent has found: it keeps enforcing (fail closed).
    spdlog::info("{}: {} is no attach point now; its pinned links keep enforcing", object_,
                 dir->second);
    if (auto adopted = attach(dir->second); !adopted)
      spdlog::error("{}: adopting the pinned links of {}: {}", object_, dir->second,
                    adopted.error().message);
  }
}

std::vector<MissingProgram> CgroupAttachments::repair() {
  std::vector<MissingProgram> out;
  for (auto& [dir, attached] : links_) {
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
      // The old link was detached (defunct): the new one takes its place and its pin.
      auto link = new_link(programs_[index], cgroup.get(), attached.cgroup_id);
      if (link) {
        attached.links[index] = std::move(*link);
        m.reattached = true;
      } else {
        m.error = "re-attach " + p.name + " to " + dir + ": " + link.error().message;
      }
      out.push_back(std::move(m));
    }
  }
  return out;
}

}  // namespace guardrail
