#include "guardrail/loader/pinning.hpp"

#include <bpf/bpf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "guardrail/loader/sized_maps.hpp"

namespace guardrail {

Adoption& Adoption::operator+=(const Adoption& o) {
  maps_reused += o.maps_reused;
  maps_created += o.maps_created;
  programs_kept += o.programs_kept;
  programs_replaced += o.programs_replaced;
  programs_new += o.programs_new;
  links_kept += o.links_kept;
  links_replaced += o.links_replaced;
  links_new += o.links_new;
  links_removed += o.links_removed;
  notes.insert(notes.end(), o.notes.begin(), o.notes.end());
  return *this;
}

std::string map_pin(const std::string& object, const std::string& map) {
  return "maps/" + object + "/" + map;
}
std::string program_pin(const std::string& object, const std::string& program) {
  return "progs/" + object + "/" + program;
}
std::string link_pin(const std::string& object, const std::string& program) {
  return "links/" + object + "/" + program;
}
std::string cgroup_link_pin(const std::string& object, const std::string& program,
                            std::uint64_t cgroup_id) {
  return link_pin(object, program) + "@" + std::to_string(cgroup_id);
}

namespace {

// Why the pinned map cannot serve as `map`, or nothing when it can.
std::optional<std::string> incompatible(int pinned_fd, bpf_map* map) {
  bpf_map_info info{};
  __u32 len = sizeof info;
  if (bpf_map_get_info_by_fd(pinned_fd, &info, &len) != 0)
    return std::string("cannot be read: ") + std::strerror(errno);
  if (info.type != bpf_map__type(map)) return "its type changed";
  if (info.key_size != bpf_map__key_size(map) || info.value_size != bpf_map__value_size(map))
    return "its key or value size changed";
  // A set sized from the policy has the size the last swap gave it (sized_maps.hpp).
  if (info.max_entries != bpf_map__max_entries(map) && !sized_from_policy(bpf_map__name(map)))
    return "its size changed";
  if (info.map_flags != bpf_map__map_flags(map)) return "its flags changed";
  return std::nullopt;
}

}  // namespace

Result<std::vector<std::string>> reuse_pinned_maps(bpf_object* obj, const PinDir& pins,
                                                   Adoption& adoption) {
  const std::string object = bpf_object__name(obj);
  std::vector<std::string> own;
  std::vector<std::pair<bpf_map*, UniqueFd>> pinned;
  std::string why_fresh;
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    // .rodata and .bss are each program's own; a map with an fd already is another object's.
    if (bpf_map__is_internal(map) || bpf_map__fd(map) >= 0) continue;
    own.push_back(bpf_map__name(map));
    UniqueFd fd = pins.get(map_pin(object, own.back()));
    if (!fd) {
      if (why_fresh.empty()) why_fresh = "map " + own.back() + " is not pinned";
      continue;
    }
    if (auto why = incompatible(fd.get(), map); why && why_fresh.empty())
      why_fresh = "pinned map " + own.back() + " does not fit this agent (" + *why + ")";
    pinned.emplace_back(map, std::move(fd));
  }
  if (!why_fresh.empty()) {
    // Nothing pinned at all is a first start, not news.
    if (!pinned.empty())
      adoption.notes.push_back(object + ": " + why_fresh +
                               "; all of its maps start fresh (their state is not carried over)");
    adoption.maps_created += own.size();
    return own;
  }
  for (auto& [m, fd] : pinned)
    if (int err = bpf_map__reuse_fd(m, fd.get()))
      return fail_errno("reuse pinned map " + map_pin(object, bpf_map__name(m)), err);
  adoption.maps_reused += own.size();
  return std::vector<std::string>{};  // all reused: already pinned
}

Result<void> pin_maps(bpf_object* obj, const std::vector<std::string>& fresh, const PinDir& pins) {
  const std::string object = bpf_object__name(obj);
  for (const auto& name : fresh) {
    bpf_map* map = bpf_object__find_map_by_name(obj, name.c_str());
    if (!map) continue;
    GR_TRY(pins.pin(bpf_map__fd(map), map_pin(object, name)));
  }
  return {};
}

namespace {

// What makes a loaded program what it is, beyond its instructions.
struct ProgramIdentity {
  std::array<std::uint8_t, 8> tag{};
  std::vector<std::uint32_t> map_ids;                // maps it shares with others
  std::vector<std::vector<std::uint8_t>> constants;  // its .rodata contents
};

std::optional<ProgramIdentity> identity_of(int prog_fd) {
  std::array<__u32, 64> ids{};
  bpf_prog_info info{};
  info.nr_map_ids = ids.size();
  info.map_ids = reinterpret_cast<__u64>(ids.data());
  __u32 len = sizeof info;
  if (bpf_prog_get_info_by_fd(prog_fd, &info, &len) != 0) return std::nullopt;
  ProgramIdentity out;
  std::memcpy(out.tag.data(), info.tag, out.tag.size());
  for (__u32 i = 0; i < std::min<__u32>(info.nr_map_ids, ids.size()); ++i) {
    UniqueFd map(bpf_map_get_fd_by_id(ids[i]));
    if (!map) return std::nullopt;
    bpf_map_info m{};
    __u32 mlen = sizeof m;
    if (bpf_map_get_info_by_fd(map.get(), &m, &mlen) != 0) return std::nullopt;
    const std::string_view name(m.name);
    if (name.find('.') == std::string_view::npos) {
      out.map_ids.push_back(ids[i]);
    } else if (name.ends_with(".rodata")) {
      std::vector<std::uint8_t> value(m.value_size);
      const __u32 zero = 0;
      if (bpf_map_lookup_elem(map.get(), &zero, value.data()) != 0) return std::nullopt;
      out.constants.push_back(std::move(value));
    }  // .bss, .data: the program's own running state, not what it is
  }
  std::ranges::sort(out.map_ids);
  return out;
}

}  // namespace

bool same_program(int a_fd, int b_fd) {
  auto a = identity_of(a_fd), b = identity_of(b_fd);
  return a && b && a->tag == b->tag && a->map_ids == b->map_ids && a->constants == b->constants;
}

std::uint32_t link_program_id(int link_fd) {
  bpf_link_info info{};
  __u32 len = sizeof info;
  return bpf_link_get_info_by_fd(link_fd, &info, &len) == 0 ? info.prog_id : 0;
}

std::uint32_t program_id(int prog_fd) {
  bpf_prog_info info{};
  __u32 len = sizeof info;
  return bpf_prog_get_info_by_fd(prog_fd, &info, &len) == 0 ? info.id : 0;
}

Result<std::vector<PinnedProgram>> adopt_programs(const std::string& object,
                                                  std::span<bpf_program* const> programs,
                                                  const PinDir* pins, Adoption& adoption) {
  std::vector<PinnedProgram> out;
  for (bpf_program* prog : programs) {
    PinnedProgram p;
    p.name = bpf_program__name(prog);
    p.attach_type = bpf_program__expected_attach_type(prog);
    p.loaded_fd = bpf_program__fd(prog);
    p.prog = prog;
    UniqueFd previous = pins ? pins->get(program_pin(object, p.name)) : UniqueFd();
    if (previous && same_program(previous.get(), p.loaded_fd)) {
      p.kept_fd = std::move(previous);
      ++adoption.programs_kept;
    } else {
      ++(previous ? adoption.programs_replaced : adoption.programs_new);
      if (pins) GR_TRY(pins->pin(p.loaded_fd, program_pin(object, p.name)));
    }
    p.id = program_id(p.fd());
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace guardrail
