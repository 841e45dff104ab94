// Alerts as JSON lines, one object per line, flushed per line so a log shipper sees each alert
// as soon as it is written. A file rotates by size (FILE -> FILE.1 -> ... -> FILE.keep) and is
// reopened on request (SIGHUP), for logrotate's move-and-signal.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "guardrail/util/result.hpp"

namespace guardrail {

class JsonLinesSink {
 public:
  // "-" writes to stdout (never rotated); any other path is opened for appending (created 0600).
  // max_bytes 0 disables rotation.
  static Result<std::unique_ptr<JsonLinesSink>> open(const std::string& path,
                                                     std::uint64_t max_bytes = 0, int keep = 5);
  // False when the line could not be written (the caller counts the loss). Thread-safe: the
  // pipeline and the posture watch both write.
  bool write(const nlohmann::ordered_json& alert);
  // Thread-safe and async-signal-safe: the next write reopens the file first.
  void request_reopen() { reopen_requested_ = true; }
  const std::string& path() const { return path_; }

  JsonLinesSink(std::FILE* file, std::string path, std::uint64_t max_bytes, int keep);

 private:
  struct Close {
    void operator()(std::FILE* f) const;
  };
  Result<void> reopen();
  Result<void> rotate();

  std::unique_ptr<std::FILE, Close> file_;
  std::string path_;
  std::uint64_t max_bytes_;
  int keep_;
  std::uint64_t size_ = 0;
  std::atomic<bool> reopen_requested_{false};
  std::mutex mutex_;
};

}  // namespace guardrail
