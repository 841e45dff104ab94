// libFuzzer's entry point for one target, chosen at build time (GR_FUZZ_TARGET,
// fuzz/CMakeLists.txt).
#include <cstddef>
#include <cstdint>

#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  guardrail::fuzz::GR_FUZZ_TARGET({data, size});
  return 0;
}
