// The policy maps sized from the policy at every swap instead of at compile time: identities,
// flows, egress_allow and services (bpf/net_policy.bpf.h). PolicyMaps::apply() makes a fresh
// inner map for the inactive set, as large as the policy needs with headroom, and puts it into
// the outer ARRAY_OF_MAPS; the kernel accepts an inner HASH or LPM_TRIE of any max_entries there
// (bpf_map_meta_equal compares type, key and value size and flags only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "guardrail.h"

namespace guardrail {

struct SizedMap {
  std::string_view name;   // the outer map; its sets are <name>_0 and <name>_1
  std::uint32_t compiled;  // the compiled-in size (GR_MAX_...): never smaller than this
  std::uint32_t limit;     // the largest the agent makes it (GR_LIMIT_...)
};

inline constexpr SizedMap kSizedMaps[] = {
    {"identities", GR_MAX_IDENTITIES, GR_LIMIT_IDENTITIES},
    {"flows", GR_MAX_FLOWS, GR_LIMIT_FLOWS},
    {"egress_allow", GR_MAX_EGRESS_RULES, GR_LIMIT_EGRESS_RULES},
    {"services", GR_MAX_SERVICES, GR_LIMIT_SERVICES},
};

// The size of a fresh map for `count` entries: a quarter more, rounded up to a power of two,
// never below the compiled-in size nor above the limit (the capacity check refuses more first).
constexpr std::uint32_t sized_entries(const SizedMap& m, std::size_t count) {
  std::uint64_t want = static_cast<std::uint64_t>(count) + count / 4, size = 1;
  while (size < want) size <<= 1;
  if (size < m.compiled) size = m.compiled;
  if (size > m.limit) size = m.limit;
  return static_cast<std::uint32_t>(size);
}

// True for a set map of one of them ("egress_allow_1"): its size is the policy's, not the
// object's, so a pinned one of another size is still the agent's.
constexpr bool sized_from_policy(std::string_view set_name) {
  for (const SizedMap& m : kSizedMaps)
    if (set_name.size() == m.name.size() + 2 && set_name.starts_with(m.name) &&
        set_name[m.name.size()] == '_' && (set_name.back() == '0' || set_name.back() == '1'))
      return true;
  return false;
}

}  // namespace guardrail
