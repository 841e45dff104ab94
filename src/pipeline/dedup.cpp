#include "guardrail/pipeline/dedup.hpp"

#include <cstring>

namespace guardrail::pipeline {

namespace {

std::string net_key(const gr_net_event& ev) {
  // The target is the peer: the destination of what a workload sent, the source of what it got.
  const bool ingress = ev.direction == GR_DIR_INGRESS;
  struct {
    std::uint32_t workload_id;
    std::uint16_t type;
    std::uint8_t protocol;
    std::uint8_t family;
    std::uint8_t peer[16];
    std::uint16_t port;
  } key;
  std::memset(&key, 0, sizeof key);  // the padding is part of the key's bytes
  key.workload_id = ev.workload_id;
  key.type = ev.hdr.type;
  key.protocol = ev.protocol;
  key.family = ev.family;
  std::memcpy(key.peer, ingress ? ev.saddr : ev.daddr, 16);
  key.port = ev.dport;
  return std::string(reinterpret_cast<const char*>(&key), sizeof key);
}

std::string host_key(const gr_host_event& ev) {
  struct {
    std::uint32_t workload_id;
    std::uint16_t type;
    std::int32_t capability;
    std::uint32_t family, sock_type, op;
    std::uint64_t ino;  // a runtime socket on the LSM backends: the same socket by any name
  } key;
  std::memset(&key, 0, sizeof key);  // the padding is part of the key's bytes
  key.workload_id = ev.workload_id;
  key.type = ev.hdr.type;
  key.capability = ev.capability;
  key.family = ev.family;
  key.sock_type = ev.type;
  key.op = ev.op;
  key.ino = ev.ino;
  std::string out(reinterpret_cast<const char*>(&key), sizeof key);
  out.append(ev.path, strnlen(ev.path, sizeof ev.path));
  return out;
}

}  // namespace

std::string dedup_key(const events::Event& event) {
  return std::visit(
      [](const auto& ev) {
        if constexpr (std::is_same_v<std::decay_t<decltype(ev)>, gr_net_event>)
          return net_key(ev);
        else
          return host_key(ev);
      },
      event);
}

std::optional<PendingAlert> Deduplicator::offer(PendingAlert alert, std::uint64_t now_ns) {
  if (window_ns_ <= 0) return alert;
  std::string key = dedup_key(alert.event);
  auto it = windows_.find(key);
  if (it == windows_.end()) {
    if (windows_.size() >= max_windows_) {
      unfolded_++;
      return alert;
    }
    windows_.emplace(key, Window{now_ns, std::nullopt});
    by_age_.emplace_back(now_ns, std::move(key));
    return alert;
  }
  auto& repeats = it->second.repeats;
  if (!repeats) {
    repeats = std::move(alert);
  } else {
    repeats->count += alert.count;
    repeats->last_ns = alert.last_ns;
    repeats->event = alert.event;
    repeats->process = std::move(alert.process);
  }
  return std::nullopt;
}

std::vector<PendingAlert> Deduplicator::expire(std::uint64_t now_ns) {
  std::vector<PendingAlert> out;
  while (!by_age_.empty() && now_ns - by_age_.front().first >= std::uint64_t(window_ns_)) {
    auto it = windows_.find(by_age_.front().second);
    if (it != windows_.end()) {
      if (it->second.repeats) out.push_back(std::move(*it->second.repeats));
      windows_.erase(it);
    }
    by_age_.pop_front();
  }
  return out;
}

std::vector<PendingAlert> Deduplicator::flush() {
  std::vector<PendingAlert> out;
  for (auto& [opened, key] : by_age_) {
    auto it = windows_.find(key);
    if (it != windows_.end() && it->second.repeats) out.push_back(std::move(*it->second.repeats));
  }
  windows_.clear();
  by_age_.clear();
  return out;
}

}  // namespace guardrail::pipeline
