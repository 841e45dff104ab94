// Adopting what a previous agent pinned (see pin_dir.hpp for the layout), object by object:
//   maps: before an object loads, its own maps reuse the pinned ones when every one of them has
//         the same layout (type, key, value, size, flags); otherwise (an upgrade changed one)
//         all of them start fresh, because an outer map keeps pointing at its old inner maps.
//   programs: after it loads, each program is compared with the pinned one: the same code
//         (tag) on the same maps with the same constants (.rodata) is kept (the links keep
//         running it, untouched); anything else is replaced, through the links, atomically.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "guardrail/loader/pin_dir.hpp"
#include "guardrail/util/result.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail {

// What an agent found pinned and what it did with it, summed over every object.
struct Adoption {
  std::size_t maps_reused = 0, maps_created = 0;
  std::size_t programs_kept = 0, programs_replaced = 0, programs_new = 0;
  std::size_t links_kept = 0, links_replaced = 0, links_new = 0, links_removed = 0;
  std::vector<std::string> notes;  // why maps started fresh, what could not be pinned

  bool adopted() const { return maps_reused + programs_kept + programs_replaced + links_kept; }
  Adoption& operator+=(const Adoption& other);
};

// Before `obj` loads: the object's own maps (those share_with() did not point elsewhere, i.e.
// without an fd yet) reuse maps/<object>/<map> when all are pinned and compatible.
// Returns the names of the maps to pin after the load: every own map when they start fresh,
// none when they were reused (already pinned).
Result<std::vector<std::string>> reuse_pinned_maps(bpf_object* obj, const PinDir& pins,
                                                   Adoption& adoption);
// After the load: pins the maps reuse_pinned_maps() named (a fresh one replaces a stale pin).
Result<void> pin_maps(bpf_object* obj, const std::vector<std::string>& fresh, const PinDir& pins);

// A program as the links run it: the previous agent's (kept) or the one this agent loaded.
struct PinnedProgram {
  std::string name;
  std::uint32_t attach_type = 0;  // enum bpf_attach_type
  UniqueFd kept_fd;               // the previous agent's program, when kept
  int loaded_fd = -1;             // this agent's instance (owned by the skeleton)
  std::uint32_t id = 0;           // of the program in use
  bpf_program* prog = nullptr;    // this agent's instance

  int fd() const { return kept_fd ? kept_fd.get() : loaded_fd; }
  bool kept() const { return static_cast<bool>(kept_fd); }
};

// After `obj` loads: each of `programs` against progs/<object>/<name>: kept when it is the same
// program, else this agent's instance, pinned in its place. Without pins, every program is new.
Result<std::vector<PinnedProgram>> adopt_programs(const std::string& object,
                                                  std::span<bpf_program* const> programs,
                                                  const PinDir* pins, Adoption& adoption);
// Whether two loaded programs are the same: tag, non-internal map ids, .rodata contents.
bool same_program(int a_fd, int b_fd);

// The id of the program a link runs (0 when the link cannot be read).
std::uint32_t link_program_id(int link_fd);
// The id of a loaded program (0 when it cannot be read).
std::uint32_t program_id(int prog_fd);

// The relative pin paths.
std::string map_pin(const std::string& object, const std::string& map);
std::string program_pin(const std::string& object, const std::string& program);
std::string link_pin(const std::string& object, const std::string& program);
std::string cgroup_link_pin(const std::string& object, const std::string& program,
                            std::uint64_t cgroup_id);

}  // namespace guardrail
