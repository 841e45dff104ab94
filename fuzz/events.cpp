// Fuzz target: a ring buffer record as the kernel side would send it, decoded and rendered.
#include "guardrail/events/events.hpp"

#include <cstddef>

#include "targets.hpp"

namespace guardrail::fuzz {

void events(Input data) {
  const auto decoded = events::decode(std::as_bytes(data));
  if (!decoded) return;
  // Names for some ids, so both the named and the "unknown" branches run.
  static const events::NameTable names{
      "fuzz", {{1, "agents"}, {2, "control-plane"}}, {{1024, "orchestrator"}}};
  static const events::WallClock clock(1'700'000'000'000'000'000);
  // As the sinks write it: kernel strings (comm, paths) need not be UTF-8.
  (void)events::to_json(*decoded, names, clock)
      .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace guardrail::fuzz
