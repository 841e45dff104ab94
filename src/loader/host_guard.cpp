#include "guardrail/loader/host_guard.hpp"

#include <bpf/bpf.h>
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
#include "guardrail/loader/global_links.hpp"
#include "guardrail/loader/pinning.hpp"
#include "guardrail/loader/programs.hpp"
#include "guardrail/util/unique_fd.hpp"
#include "lsm_guard.skel.h"

namespace guardrail {
namespace {

// What the fallback object serves, besides BPF-LSM for every host guard.
constexpr std::pair<Guard, Backend> kFallbackBackends[] = {
    {Guard::RawSockets, Backend::CgroupSock}, {Guard::RuntimeSockets, Backend::CgroupConnectUnix},
    {Guard::Capabilities, Backend::TpBtf},    {Guard::Mounts, Backend::Tracepoint},
    {Guard::Bpf, Backend::Tracepoint},        {Guard::HostWrites, Backend::Tracepoint},
    {Guard::Cgroups, Backend::TpBtf},         {Guard::Agent, Backend::TpBtf},
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
  std::string object;  // lsm_guard or fallback_guard: its name in the pin directory
  std::vector<PinnedProgram> global_programs;  // act host-wide (LSM, tracing)
  std::vector<UniqueFd> global_links;          // parallel; pinned, so they outlive the agent
  std::vector<bpf_program*> cgroup_programs;   // attached per workload cgroup
  CgroupAttachments cgroups;                   // cgroup_programs on every attached cgroup
  std::vector<probe::GuardBackend> backends;
  Adoption loaded;  // maps, programs and host-wide links adopted at load

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

// Every loaded program that acts host-wide (LSM, tracing), in object order.
std::vector<bpf_program*> global_programs(bpf_object* obj,
                                          const std::vector<bpf_program*>& per_cgroup) {
  std::vector<bpf_program*> out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    if (bpf_program__autoload(prog) && std::ranges::find(per_cgroup, prog) == per_cgroup.end())
      out.push_back(prog);
  }
  return out;
}

// Pins of this object that no loaded program claims (a guard the policy no longer asks for):
// removed, so what only they held is detached.
void remove_unclaimed(const std::string& object, const std::vector<bpf_program*>& loaded,
                      const PinDir& pins, Adoption& adoption) {
  std::set<std::string> names;
  for (bpf_program* prog : loaded) names.insert(bpf_program__name(prog));
  for (const auto& name : pins.list("progs/" + object))
    if (!names.contains(name)) pins.unpin(program_pin(object, name));
  for (const auto& name : pins.list("links/" + object)) {
    const std::string program = name.substr(0, name.find('@'));
    if (names.contains(program)) continue;
    pins.unpin("links/" + object + "/" + name);
    ++adoption.links_removed;
  }
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
  // workload, whatever the zones guard; so do the cgroup guard's, on for every workload. The
  // fallback's other programs load only when asked for.
  auto on = [&](Guard guard, Backend backend) {
    if (guard != Guard::Bpf && guard != Guard::Cgroups && !requested.contains(guard)) return false;
    return std::ranges::any_of(impl->backends, [&](const probe::GuardBackend& g) {
      return g.guard == guard && g.backend == backend;
    });
  };

  const bool lsm = std::ranges::any_of(
      impl->backends, [](const probe::GuardBackend& g) { return g.backend == Backend::Lsm; });
  if (lsm) {
    auto skel = BpfSkeleton<lsm_guard>::open("lsm_guard");
    if (!skel) return propagate(skel);
    GR_TRY(load_on_shared_maps(*skel, maps, impl->loaded));
    impl->skel = std::move(*skel);
  } else {
    auto skel = BpfSkeleton<fallback_guard>::open("fallback_guard");
    if (!skel) return propagate(skel);
    auto& p = (*skel)->progs;
    // Load only what this kernel can run; a guard without its program is "unavailable".
    const bool raw = on(Guard::RawSockets, Backend::CgroupSock);
    bpf_program__set_autoload(p.guard_sock_create, raw);
    const bool unix_sockets = on(Guard::RuntimeSockets, Backend::CgroupConnectUnix);
    bpf_program__set_autoload(p.guard_connect_unix, unix_sockets);
    bpf_program__set_autoload(p.guard_sendmsg_unix, unix_sockets);
    bpf_program__set_autoload(p.guard_cap_capable, on(Guard::Capabilities, Backend::TpBtf));
    const bool cgroups = on(Guard::Cgroups, Backend::TpBtf);
    bpf_program__set_autoload(p.guard_cgroup_attach_task, cgroups);
    // Like bpf(): signals on the agent's own process, from every workload.
    bpf_program__set_autoload(p.guard_signal_generate, report.has("tp_btf"));
    // The syscall families, judged by one program at the raw syscall exit tracepoint (every
    // ABI); the verifier drops the code of the families this load does not judge.
    const bool syscalls = report.has("tracepoint");
    auto& judge = *(*skel)->rodata;
    judge.judge_packet_sockets = raw && syscalls;
    judge.judge_mounts = on(Guard::Mounts, Backend::Tracepoint);
    judge.judge_bpf = on(Guard::Bpf, Backend::Tracepoint);
    judge.judge_clone3 = cgroups && syscalls;
    judge.judge_agent_access = syscalls;  // ptrace and process_vm_* on the agent
    // The open exits serve both the host-write guard and the cgroup guard's file part.
    judge.judge_opens = (cgroups && syscalls) || on(Guard::HostWrites, Backend::Tracepoint);
    bpf_program__set_autoload(p.guard_sys_exit, judge.judge_packet_sockets || judge.judge_mounts ||
                                                    judge.judge_bpf || judge.judge_clone3 ||
                                                    judge.judge_agent_access || judge.judge_opens);
    GR_TRY(load_on_shared_maps(*skel, maps, impl->loaded));
    for (bpf_program* prog : {p.guard_sock_create, p.guard_connect_unix, p.guard_sendmsg_unix})
      if (bpf_program__autoload(prog)) impl->cgroup_programs.push_back(prog);
    impl->skel = std::move(*skel);
  }
  impl->object = lsm ? "lsm_guard" : "fallback_guard";
  const PinDir* pins = maps.pins();
  Adoption& adoption = impl->loaded;
  auto per_cgroup = adopt_programs(impl->object, impl->cgroup_programs, pins, adoption);
  if (!per_cgroup) return propagate(per_cgroup);
  impl->cgroups = CgroupAttachments(impl->object, std::move(*per_cgroup), pins);
  const auto global = global_programs(impl->obj(), impl->cgroup_programs);
  auto adopted = adopt_programs(impl->object, global, pins, adoption);
  if (!adopted) return propagate(adopted);
  impl->global_programs = std::move(*adopted);
  auto links = attach_global(impl->object, impl->global_programs, pins, adoption);
  if (!links) return propagate(links);
  impl->global_links = std::move(*links);
  if (pins) {
    std::vector<bpf_program*> loaded = global;
    loaded.insert(loaded.end(), impl->cgroup_programs.begin(), impl->cgroup_programs.end());
    remove_unclaimed(impl->object, loaded, *pins, adoption);
  }
  return std::make_unique<HostGuard>(std::move(impl));
}

Result<void> HostGuard::attach(const std::string& cgroup_dir) {
  return impl_->cgroups.attach(cgroup_dir);
}

std::vector<MissingProgram> HostGuard::repair() { return impl_->cgroups.repair(); }

void HostGuard::adopt_remaining(const std::string& cgroup2_root) {
  impl_->cgroups.adopt_remaining(cgroup2_root);
}

void HostGuard::retire_covered() { impl_->cgroups.retire_covered(); }

Adoption HostGuard::adoption() const {
  Adoption all = impl_->loaded;
  all += impl_->cgroups.adoption();
  return all;
}

const std::vector<probe::GuardBackend>& HostGuard::backends() const { return impl_->backends; }

std::vector<ProgramStats> HostGuard::program_stats() const {
  auto stats = program_stats_of(impl_->global_programs);
  auto more = program_stats_of(impl_->cgroups.programs());
  stats.insert(stats.end(), more.begin(), more.end());
  return stats;
}

bool HostGuard::records_signals() const {
  const auto* fallback = std::get_if<BpfSkeleton<fallback_guard>>(&impl_->skel);
  return fallback && bpf_program__autoload((*fallback)->progs.guard_signal_generate);
}

std::optional<gr_signal_sender> HostGuard::take_signal_sender(std::uint32_t sender_pid,
                                                              int signal) {
  if (!records_signals()) return std::nullopt;
  const int fd =
      bpf_map__fd(std::get<BpfSkeleton<fallback_guard>>(impl_->skel)->maps.agent_signals);
  const gr_signal_key key{sender_pid, static_cast<std::uint32_t>(signal)};
  gr_signal_sender sender{};
  if (bpf_map_lookup_and_delete_elem(fd, &key, &sender) != 0) return std::nullopt;
  return sender;
}

}  // namespace guardrail
