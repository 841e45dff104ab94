#include "guardrail/loader/net_guard.hpp"

#include <spdlog/spdlog.h>

#include <array>

#include "guardrail/loader/bpf_skeleton.hpp"
#include "guardrail/loader/cgroup_attachments.hpp"
#include "guardrail/loader/pinning.hpp"
#include "guardrail/loader/programs.hpp"
#include "net_guard.skel.h"

namespace guardrail {

struct NetGuard::Impl {
  BpfSkeleton<net_guard> skel;
  // The programs on every attached cgroup (destroying the links detaches them).
  CgroupAttachments cgroups;
  Adoption loaded;  // maps and programs adopted at load

  // Every program, in the order of NetGuard::Program.
  std::array<bpf_program*, 6> programs() const {
    auto& p = skel->progs;
    return {p.guard_connect4, p.guard_connect6, p.guard_sendmsg4,
            p.guard_sendmsg6, p.guard_egress,   p.guard_ingress};
  }
};

NetGuard::NetGuard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NetGuard::~NetGuard() = default;

Result<std::unique_ptr<NetGuard>> NetGuard::load(const PolicyMaps& maps) {
  auto skel = BpfSkeleton<net_guard>::open("net_guard");
  if (!skel) return propagate(skel);
  Adoption adoption;
  GR_TRY(load_on_shared_maps(*skel, maps, adoption));
  auto impl = std::make_unique<Impl>(std::move(*skel));
  const auto programs = impl->programs();
  auto pinned = adopt_programs("net_guard", programs, maps.pins(), adoption);
  if (!pinned) return propagate(pinned);
  impl->cgroups = CgroupAttachments("net_guard", std::move(*pinned), maps.pins());
  impl->loaded = std::move(adoption);
  return std::make_unique<NetGuard>(std::move(impl));
}

Result<void> NetGuard::attach(const std::string& cgroup_dir) {
  GR_TRY(impl_->cgroups.attach(cgroup_dir));
  spdlog::debug("network guard attached to {}", cgroup_dir);
  return {};
}

std::vector<MissingProgram> NetGuard::repair() { return impl_->cgroups.repair(); }

void NetGuard::adopt_remaining(const std::string& cgroup2_root) {
  impl_->cgroups.adopt_remaining(cgroup2_root);
}

void NetGuard::retire_covered() { impl_->cgroups.retire_covered(); }

Adoption NetGuard::adoption() const {
  Adoption all = impl_->loaded;
  all += impl_->cgroups.adoption();
  return all;
}

int NetGuard::program_fd(Program program) const {
  return bpf_program__fd(impl_->programs().at(static_cast<std::size_t>(program)));
}

std::vector<ProgramStats> NetGuard::program_stats() const {
  return program_stats_of(impl_->cgroups.programs());
}

}  // namespace guardrail
