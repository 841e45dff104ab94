// The `guardrail` command line: subcommands and their options (Boost.Program_options).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace guardrail {

// Parses args (without the program name) and runs the subcommand. Returns the exit code:
// 0 success, 1 failure of the command, 2 a usage error (printed with the usage to err).
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace guardrail
