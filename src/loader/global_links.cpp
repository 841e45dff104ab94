#include "guardrail/loader/global_links.hpp"

#include <fcntl.h>

#include <string_view>

#include "guardrail/loader/bpf_skeleton.hpp"

namespace guardrail {

Result<std::vector<UniqueFd>> attach_global(const std::string& object,
                                            std::vector<PinnedProgram>& programs,
                                            const PinDir* pins, Adoption& adoption) {
  std::vector<UniqueFd> links;
  for (PinnedProgram& p : programs) {
    const std::string rel = link_pin(object, p.name);
    UniqueFd old = pins ? pins->get(rel) : UniqueFd();
    if (old && link_program_id(old.get()) == p.id) {
      ++adoption.links_kept;
      links.push_back(std::move(old));
      continue;
    }
    if (p.kept()) {
      // The same program, but its link is gone: libbpf attaches by program, so ours runs.
      p.kept_fd.reset();
      p.id = program_id(p.loaded_fd);
      if (pins) GR_TRY(pins->pin(p.loaded_fd, program_pin(object, p.name)));
    }
    BpfLink link(bpf_program__attach(p.prog));
    if (!link) return fail_errno(std::string("attach ") + bpf_program__section_name(p.prog), errno);
    // The kernel link lives on in our fd and its pin; libbpf's object only goes (disconnected,
    // so that it does not detach).
    UniqueFd fd(::fcntl(bpf_link__fd(link.get()), F_DUPFD_CLOEXEC, 0));
    if (!fd) return fail_errno("keep the link of " + p.name, errno);
    bpf_link__disconnect(link.get());
    if (pins)
      if (auto pinned = pins->pin(fd.get(), rel); !pinned)
        adoption.notes.push_back(pinned.error().message + ": " + p.name + " ends with the agent");
    ++(old ? adoption.links_replaced : adoption.links_new);
    links.push_back(std::move(fd));
  }  // an old link closes here, after its successor runs
  return links;
}

}  // namespace guardrail
