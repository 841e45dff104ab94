#include "guardrail/loader/host_guard.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <utility>
#include <variant>

#include "fallback_guard.skel.h"
#include "guardrail/loader/bpf_skeleton.hpp"
#include "guardrail/loader/cgroup_attachments.hpp"
#include "guardrail/loader/programs.hpp"
#include "guardrail/util/unique_fd.hpp"
#include "lsm_guard.skel.h"

namespace guardrail {
namespace {

// What the fallback object serves, besides BPF-LSM for every host guard.
constexpr std::pair<Guard, Backend> kFallbackBackends[] = {
    {Guard::RawSockets, Backend::CgroupSock}, {Guard::RuntimeSockets, Backend::CgroupConnectUnix},
    {Guard::Capabilities, Backend::TpBtf},    {Guard::Mounts, Backend::Tracepoint},
    {Guard::Bpf, Backend::Tracepoint},
};

}  // namespace

bool HostGuard::loads(Guard guard, Backend backend) {
  if (guard == Guard::Network) return false;  // the network guard's own object
  if (backend == Backend::Lsm || backend == Backend::Unavailable) return true;
  return std::ranges::find(kFallbackBackends, std::pair(guard, backend)) !=
         std::end(kFallbackBackends);
}

struct HostGuard::Impl {
  std::variant<std::monostate, BpfSkeleton<lsm_guard>, BpfSkeleton<fallback_guard>> skel;
  std::vector<BpfLink> global_links;
  std::vector<bpf_program*> cgroup_programs;  // attached per workload cgroup
  CgroupAttachments cgroups;                  // cgroup_programs on every attached cgroup
  std::vector<probe::GuardBackend> backends;

  bpf_object* obj() const {
    return std::visit(
        [](const auto& s) -> bpf_object* {
          if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>)
            return nullptr;
          else
            return s->obj;
        },
        skel);
  }
};

HostGuard::HostGuard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HostGuard::~HostGuard() = default;

namespace {

// Attaches every loaded program that acts host-wide (LSM, tracing).
Result<std::vector<BpfLink>> attach_global(bpf_object* obj,
                                           const std::vector<bpf_program*>& per_cgroup) {
  std::vector<BpfLink> links;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    if (!bpf_program__autoload(prog) || std::ranges::find(per_cgroup, prog) != per_cgroup.end())
      continue;
    BpfLink link(bpf_program__attach(prog));
    if (!link)
      return fail_errno(
          std::string("attach ") + bpf_program__section_name(prog) +
              (std::string_view(bpf_program__section_name(prog)).starts_with("tracepoint")
                   ? " (is tracefs mounted at /sys/kernel/tracing?)"
                   : ""),
          errno);
    links.push_back(std::move(link));
  }
  return links;
}

}  // namespace

Result<std::unique_ptr<HostGuard>> HostGuard::load(const probe::Report& report,
                                                   const PolicyMaps& maps,
                                                   const std::set<Guard>& requested) {
  auto impl = std::make_unique<Impl>();
  // The probe's choice for each guard; only the network guard is not ours.
  for (const auto& g : report.guards)
    if (g.guard != Guard::Network) impl->backends.push_back(g);
  // The bpf() program always loads: it reports tampering with the agent's programs from every
  // workload, whatever the zones guard. The fallback's other programs load only when asked for.
  auto on = [&](Guard guard, Backend backend) {
    if (guard != Guard::Bpf && !requested.contains(guard)) return false;
    return std::ranges::any_of(impl->backends, [&](const probe::GuardBackend& g) {
      return g.guard == guard && g.backend == backend;
    });
  };

  const bool lsm = std::ranges::any_of(
      impl->backends, [](const probe::GuardBackend& g) { return g.backend == Backend::Lsm; });
  if (lsm) {
    auto skel = BpfSkeleton<lsm_guard>::open("lsm_guard");
    if (!skel) return propagate(skel);
    GR_TRY(load_on_shared_maps(*skel, maps));
    impl->skel = std::move(*skel);
  } else {
    auto skel = BpfSkeleton<fallback_guard>::open("fallback_guard");
    if (!skel) return propagate(skel);
    auto& p = (*skel)->progs;
    // Load only what this kernel can run; a guard without its program is "unavailable".
    const bool raw = on(Guard::RawSockets, Backend::CgroupSock);
    bpf_program__set_autoload(p.guard_sock_create, raw);
    bpf_program__set_autoload(p.guard_packet_socket, raw && report.has("tracepoint"));
    const bool unix_sockets = on(Guard::RuntimeSockets, Backend::CgroupConnectUnix);
    bpf_program__set_autoload(p.guard_connect_unix, unix_sockets);
    bpf_program__set_autoload(p.guard_sendmsg_unix, unix_sockets);
    bpf_program__set_autoload(p.guard_cap_capable, on(Guard::Capabilities, Backend::TpBtf));
    const bool mounts = on(Guard::Mounts, Backend::Tracepoint);
    for (bpf_program* prog :
         {p.guard_mount, p.guard_fsmount, p.guard_move_mount, p.guard_open_tree})
      bpf_program__set_autoload(prog, mounts);
    bpf_program__set_autoload(p.guard_bpf, on(Guard::Bpf, Backend::Tracepoint));
    GR_TRY(load_on_shared_maps(*skel, maps));
    for (bpf_program* prog : {p.guard_sock_create, p.guard_connect_unix, p.guard_sendmsg_unix})
      if (bpf_program__autoload(prog)) impl->cgroup_programs.push_back(prog);
    impl->skel = std::move(*skel);
  }
  impl->cgroups = CgroupAttachments(impl->cgroup_programs);
  auto links = attach_global(impl->obj(), impl->cgroup_programs);
  if (!links) return propagate(links);
  impl->global_links = std::move(*links);
  return std::make_unique<HostGuard>(std::move(impl));
}

Result<void> HostGuard::attach(const std::string& cgroup_dir) {
  return impl_->cgroups.attach(cgroup_dir);
}

std::vector<MissingProgram> HostGuard::repair() { return impl_->cgroups.repair(); }

const std::vector<probe::GuardBackend>& HostGuard::backends() const { return impl_->backends; }

std::vector<ProgramStats> HostGuard::program_stats() const {
  return loaded_program_stats(impl_->obj());
}

}  // namespace guardrail
