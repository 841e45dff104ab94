// Reading a Docker inspect document (Engine API 1.41) the way the posture checks need it: a
// member that is absent, null or of the wrong type reads as "not set", never as an error, so a
// check decides what "not set" means (and fails on it where it must).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace guardrail::posture::inspect {

// j[key], or null when j is not an object or has no such member.
const nlohmann::json& member(const nlohmann::json& j, const char* key);

std::optional<bool> boolean(const nlohmann::json& j, const char* key);

// null and absent are 0: the engine's "not set". Past INT64_MAX reads as INT64_MAX.
std::int64_t integer(const nlohmann::json& j, const char* key);

// "" unless a string.
std::string string(const nlohmann::json& j, const char* key);

// The strings of an array, skipping anything else; empty unless an array.
std::vector<std::string> strings(const nlohmann::json& j, const char* key);

// One entry of the document's "Mounts" (bind, volume, tmpfs...).
struct Mount {
  std::string type, source, destination;
};
std::vector<Mount> mounts(const nlohmann::json& inspect);

// ASCII upper case, for names compared without case ("all" in CapDrop, "db_password" in Env).
std::string upper(std::string s);

}  // namespace guardrail::posture::inspect
