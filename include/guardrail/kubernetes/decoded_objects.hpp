// The decoded form of a watch's objects, kept from one scan to the next: an object whose
// snapshot pointer did not change (ResourceWatch stores each object once, immutable) keeps its
// decoded value; only new and changed objects are decoded again. A scan after one pod event so
// decodes one pod, not every pod of the cluster.
#pragma once

#include <spdlog/spdlog.h>

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "guardrail/kubernetes/api_client.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail::kubernetes {

template <typename T>
class DecodedObjects {
 public:
  using Decode = Result<T> (*)(const nlohmann::json&);

  DecodedObjects(Decode decode, const char* kind) : decode_(decode), kind_(kind) {}

  // The decoded objects of `snapshot`, by key order; an object that does not decode is left out
  // (logged once, when it is decoded).
  std::vector<T> update(const ObjectSnapshot& snapshot) {
    std::map<std::string, Entry> next;
    decoded_last_ = 0;
    for (const auto& [key, object] : snapshot) {
      auto old = entries_.find(key);
      if (old != entries_.end() && old->second.source == object) {
        next.emplace(key, std::move(old->second));
        continue;
      }
      Entry entry{object, std::nullopt};
      auto decoded = decode_(*object);
      ++decoded_last_;
      if (decoded)
        entry.value = std::move(*decoded);
      else
        spdlog::debug("ignoring {} {}: {}", kind_, key, decoded.error().message);
      next.emplace(key, std::move(entry));
    }
    entries_ = std::move(next);
    std::vector<T> out;
    out.reserve(entries_.size());
    for (const auto& [key, entry] : entries_)
      if (entry.value) out.push_back(*entry.value);
    return out;
  }

  // How many objects the last update() decoded (the others were kept).
  std::size_t decoded_last() const { return decoded_last_; }

 private:
  struct Entry {
    std::shared_ptr<const nlohmann::json> source;
    std::optional<T> value;
  };
  Decode decode_;
  const char* kind_;
  std::map<std::string, Entry> entries_;
  std::size_t decoded_last_ = 0;
};

}  // namespace guardrail::kubernetes
