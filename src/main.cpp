// The guardrail binary: everything lives in the library; main only hands over the arguments
// and turns an unexpected exception into a message and an exit code.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "guardrail/cli/cli.hpp"

int main(int argc, char** argv) {
  try {
    return guardrail::run_cli(std::vector<std::string>(argv + 1, argv + argc), std::cout,
                              std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "guardrail: unexpected error: " << e.what() << "\n";
    return 1;
  }
}
