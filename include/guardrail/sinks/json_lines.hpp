// Alerts as JSON lines, one object per line, flushed per line so a log shipper sees each alert
// as soon as it is written; the pipeline defers the lines of one batch of events and flushes
// them together (one write(2) per batch, not per alert, and the lines are formatted into one
// reused buffer). A file rotates by size (FILE -> FILE.1 -> ... -> FILE.keep) and is
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
  // Lines deferred before go out first.
  bool write(const nlohmann::ordered_json& alert);
  // The line goes out with the next flush() (or write()). False when it cannot be written (the
  // file cannot be reopened or rotated); the caller counts that loss at once.
  bool defer(const nlohmann::ordered_json& alert);
  // Writes the deferred lines. False when any line deferred since the last flush() that defer()
  // accepted could not be written (the caller counts them lost).
  bool flush();
  // Thread-safe and async-signal-safe: the next write reopens the file first.
  void request_reopen() { reopen_requested_ = true; }
  const std::string& path() const { return path_; }

  JsonLinesSink(std::FILE* file, std::string path, std::uint64_t max_bytes, int keep);
  ~JsonLinesSink();
  JsonLinesSink(const JsonLinesSink&) = delete;
  JsonLinesSink& operator=(const JsonLinesSink&) = delete;

 private:
  struct Close {
    void operator()(std::FILE* f) const;
  };
  Result<void> reopen();
  Result<void> rotate();
  // Under the lock: the alert's line appended to pending_, the file reopened or rotated first
  // when due. False when the line cannot be written.
  bool append(const nlohmann::ordered_json& alert);
  // Under the lock: writes the first `bytes` of pending_ and drops them from it.
  bool write_out(std::size_t bytes);
  using Serializer = nlohmann::detail::serializer<nlohmann::ordered_json>;

  std::unique_ptr<std::FILE, Close> file_;
  std::string path_;
  std::uint64_t max_bytes_;
  int keep_;
  std::uint64_t size_ = 0;
  std::string pending_;          // lines not written yet; its storage is reused
  bool pending_failed_ = false;  // a deferred line was not written since the last flush()
  std::unique_ptr<Serializer> serializer_;  // appends to pending_
  std::atomic<bool> reopen_requested_{false};
  std::mutex mutex_;
};

}  // namespace guardrail
