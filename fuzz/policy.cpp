// Fuzz target: a policy file through the parser, the compiler (with its capacity check) and the
// listing `guardrail policy check` prints.
#include <sstream>
#include <string>

#include "guardrail/policy/compile.hpp"
#include "guardrail/policy/describe.hpp"
#include "guardrail/policy/parse.hpp"
#include "targets.hpp"

namespace guardrail::fuzz {

void policy(Input data) {
  const std::string text(reinterpret_cast<const char*>(data.data()), data.size());
  const auto parsed = policy::parse_policy(text, "fuzz.yaml");
  std::ostringstream out;
  if (!parsed) {
    for (const auto& d : parsed.error()) out << d.format() << "\n";
    return;
  }
  const auto compiled = policy::compile(*parsed, {});
  if (!compiled) return;
  policy::describe(*compiled, out);
  policy::describe_containers(*parsed, out);
}

}  // namespace guardrail::fuzz
