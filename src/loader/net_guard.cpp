#include "guardrail/loader/net_guard.hpp"

#include <spdlog/spdlog.h>

#include <map>

#include "guardrail/loader/bpf_skeleton.hpp"
#include "guardrail/loader/programs.hpp"
#include "net_guard.skel.h"

namespace guardrail {

struct NetGuard::Impl {
  BpfSkeleton<net_guard> skel;
  // Links per attached cgroup path; destroying them detaches the programs.
  std::map<std::string, std::vector<BpfLink>> links;
};

NetGuard::NetGuard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NetGuard::~NetGuard() = default;

Result<std::unique_ptr<NetGuard>> NetGuard::load(const PolicyMaps& maps) {
  auto skel = BpfSkeleton<net_guard>::open("net_guard");
  if (!skel) return propagate(skel);
  GR_TRY(maps.share_with((*skel)->obj));
  (*skel)->rodata->wakeup_bytes = maps.ringbuf_bytes() / 4;
  GR_TRY(skel->load());
  return std::make_unique<NetGuard>(std::make_unique<Impl>(std::move(*skel)));
}

Result<void> NetGuard::attach(const std::string& cgroup_dir) {
  if (impl_->links.contains(cgroup_dir)) return {};
  auto& progs = impl_->skel->progs;
  bpf_program* const programs[] = {progs.guard_connect4, progs.guard_connect6, progs.guard_sendmsg4,
                                   progs.guard_sendmsg6, progs.guard_egress,   progs.guard_ingress};
  auto links = attach_to_cgroup(programs, cgroup_dir);
  if (!links) return propagate(links);
  impl_->links.emplace(cgroup_dir, std::move(*links));
  spdlog::debug("network guard attached to {}", cgroup_dir);
  return {};
}

int NetGuard::program_fd(Program program) const {
  auto& progs = impl_->skel->progs;
  switch (program) {
    case Program::Connect4:
      return bpf_program__fd(progs.guard_connect4);
    case Program::Connect6:
      return bpf_program__fd(progs.guard_connect6);
    case Program::Sendmsg4:
      return bpf_program__fd(progs.guard_sendmsg4);
    case Program::Sendmsg6:
      return bpf_program__fd(progs.guard_sendmsg6);
    case Program::Egress:
      return bpf_program__fd(progs.guard_egress);
    case Program::Ingress:
      return bpf_program__fd(progs.guard_ingress);
  }
  return -1;
}

std::vector<ProgramStats> NetGuard::program_stats() const {
  return loaded_program_stats(impl_->skel->obj);
}

}  // namespace guardrail
