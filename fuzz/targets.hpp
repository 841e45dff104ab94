// The fuzz targets: each takes any bytes and must end, without a crash, a sanitizer report, a
// hang or unbounded memory. libFuzzer drives them (fuzz/entry.cpp, the sanitizer build); the
// unit tests replay every file of fuzz/corpus/NAME/ through them in the normal build
// (tests/unit/fuzz), so each input a fuzzer found stays checked on every build.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace guardrail::fuzz {

using Input = std::span<const std::uint8_t>;

// A policy file: parse (the YAML layer and every field), compile without bindings (and the map
// capacities), describe.
void policy(Input data);
// A ring buffer record: decode, and render the alert JSON.
void events(Input data);
// A Docker Engine answer: the inspect document reader, and the client's handling of a whole
// HTTP response on its unix socket (status, error message, JSON).
void docker(Input data);
// A webhook receiver's HTTP response to the alerts POST, and the Alertmanager payload of an alert.
void webhook(Input data);

struct Target {
  std::string_view name;  // also the corpus folder, fuzz/corpus/NAME
  void (*run)(Input);
};

inline constexpr Target kTargets[] = {
    {"policy", policy}, {"events", events}, {"docker", docker}, {"webhook", webhook}};

}  // namespace guardrail::fuzz
