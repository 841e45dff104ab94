# The sanitizer and fuzzing build (scripts/sanitize.sh configures it in build-sanitize/ with
# clang 19, never in the main build):
#   GUARDRAIL_SANITIZE  every C++ file with AddressSanitizer and UndefinedBehaviorSanitizer; any
#                       report aborts the test that triggered it.
#   GUARDRAIL_FUZZ      also libFuzzer's coverage instrumentation, and the fuzz_* binaries of
#                       fuzz/ (labelled `fuzz` in ctest).
# The BPF objects are compiled by their own custom commands and are not affected.
option(GUARDRAIL_SANITIZE "Build with ASan and UBSan (clang)" OFF)
option(GUARDRAIL_FUZZ "Build the libFuzzer targets of fuzz/ (clang; implies GUARDRAIL_SANITIZE)" OFF)
set(GUARDRAIL_FUZZ_SECONDS 60 CACHE STRING "How long each ctest fuzz_* run fuzzes")

if(GUARDRAIL_FUZZ)
  set(GUARDRAIL_SANITIZE ON)
endif()
if(GUARDRAIL_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "GUARDRAIL_SANITIZE/GUARDRAIL_FUZZ need clang (e.g. -DCMAKE_CXX_COMPILER="
                        "clang++-19 -DCMAKE_C_COMPILER=clang-19; scripts/setup.sh installs it)")
  endif()
  # -O1: what ASan recommends, and a quicker build than -O2.
  set(gr_sanitizers -O1 -fsanitize=address,undefined -fno-sanitize-recover=all
                    -fno-omit-frame-pointer)
  add_compile_options(${gr_sanitizers})
  add_link_options(-fsanitize=address,undefined)
  if(GUARDRAIL_FUZZ)
    add_compile_options(-fsanitize=fuzzer-no-link)
  endif()
endif()
