#include "guardrail/loader/birth_guard.hpp"

#include <array>

#include "birth_guard.skel.h"
#include "guardrail/loader/bpf_skeleton.hpp"
#include "guardrail/loader/global_links.hpp"
#include "guardrail/loader/programs.hpp"

namespace guardrail {

struct BirthGuard::Impl {
  BpfSkeleton<birth_guard> skel;
  std::vector<PinnedProgram> programs;
  std::vector<UniqueFd> links;  // parallel; pinned, so they outlive the agent
  Adoption loaded;
};

BirthGuard::BirthGuard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BirthGuard::~BirthGuard() = default;

Result<std::unique_ptr<BirthGuard>> BirthGuard::load(const PolicyMaps& maps) {
  auto skel = BpfSkeleton<birth_guard>::open("birth_guard");
  if (!skel) return propagate(skel);
  Adoption adoption;
  GR_TRY(load_on_shared_maps(*skel, maps, adoption));
  auto impl = std::make_unique<Impl>(std::move(*skel));
  const std::array programs{impl->skel->progs.birth_mkdir};
  auto adopted = adopt_programs("birth_guard", programs, maps.pins(), adoption);
  if (!adopted) return propagate(adopted);
  impl->programs = std::move(*adopted);
  auto links = attach_global("birth_guard", impl->programs, maps.pins(), adoption);
  if (!links) return propagate(links);
  impl->links = std::move(*links);
  impl->loaded = std::move(adoption);
  return std::make_unique<BirthGuard>(std::move(impl));
}

Adoption BirthGuard::adoption() const { return impl_->loaded; }

std::vector<ProgramStats> BirthGuard::program_stats() const {
  return program_stats_of(impl_->programs);
}

}  // namespace guardrail
