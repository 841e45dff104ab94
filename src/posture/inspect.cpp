// Lenient readers of a Docker inspect document: what is not there reads as "not set".
#include "guardrail/posture/inspect.hpp"

#include <algorithm>
#include <cctype>
#include <climits>

namespace guardrail::posture::inspect {

using nlohmann::json;

const json& member(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::optional<bool> boolean(const json& j, const char* key) {
  const json& v = member(j, key);
  if (!v.is_boolean()) return std::nullopt;
  return v.get<bool>();
}

std::int64_t integer(const json& j, const char* key) {
  const json& v = member(j, key);
  if (v.is_number_unsigned())
    return std::int64_t(std::min<std::uint64_t>(v.get<std::uint64_t>(), INT64_MAX));
  if (v.is_number_integer()) return v.get<std::int64_t>();
  return 0;
}

std::string string(const json& j, const char* key) {
  const json& v = member(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  const json& v = member(j, key);
  if (!v.is_array()) return out;
  for (const auto& item : v)
    if (item.is_string()) out.push_back(item.get<std::string>());
  return out;
}

std::vector<Mount> mounts(const json& inspect) {
  std::vector<Mount> out;
  const json& list = member(inspect, "Mounts");
  if (!list.is_array()) return out;
  for (const auto& m : list)
    out.push_back({string(m, "Type"), string(m, "Source"), string(m, "Destination")});
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace guardrail::posture::inspect
