#include <filesystem>
#include <ostream>

#include "guardrail/agent/agent.hpp"
#include "guardrail/loader/pin_dir.hpp"

namespace guardrail {

int uninstall(const std::string& pin_dir, std::ostream& out) {
  std::error_code ec;
  if (!std::filesystem::exists(pin_dir, ec)) {
    out << "nothing pinned at " << pin_dir << ": no Guardrail program is left enforcing there\n";
    return 0;
  }
  auto pins = PinDir::open(pin_dir);
  if (!pins) {
    out << "guardrail uninstall: " << pins.error().message << "\n";
    return 1;
  }
  auto removed = pins->remove_all(true);
  if (!removed) {
    out << "guardrail uninstall: " << removed.error().message << "\n";
    return 1;
  }
  out << "removed " << *removed << " pinned objects from " << pin_dir
      << ": every program they held is detached, enforcement by Guardrail has stopped\n";
  return 0;
}

}  // namespace guardrail
