#include "guardrail/sinks/json_lines.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

namespace guardrail {
namespace {

Result<std::FILE*> open_append(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return fail_errno("open alerts file " + path, errno);
  std::FILE* file = ::fdopen(fd, "a");
  if (!file) {
    int err = errno;
    ::close(fd);
    return fail_errno("open alerts file " + path, err);
  }
  return file;
}

// Deferred lines are written out once they reach this much (the pipeline flushes sooner).
constexpr std::size_t kDeferBytes = 256 * 1024;

std::uint64_t size_of(std::FILE* f) {
  struct stat st {};
  return ::fstat(::fileno(f), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

}  // namespace

void JsonLinesSink::Close::operator()(std::FILE* f) const {
  if (f != stdout) std::fclose(f);
}

JsonLinesSink::JsonLinesSink(std::FILE* file, std::string path, std::uint64_t max_bytes, int keep)
    : file_(file),
      path_(std::move(path)),
      max_bytes_(max_bytes),
      keep_(keep < 1 ? 1 : keep),
      // The same output as dump(-1, ' ', false, replace): compact, UTF-8 kept, invalid bytes
      // replaced.
      serializer_(std::make_unique<Serializer>(nlohmann::detail::output_adapter<char>(pending_),
                                               ' ',
                                               nlohmann::ordered_json::error_handler_t::replace)) {
  if (file != stdout) size_ = size_of(file);
}

JsonLinesSink::~JsonLinesSink() { flush(); }

Result<std::unique_ptr<JsonLinesSink>> JsonLinesSink::open(const std::string& path,
                                                           std::uint64_t max_bytes, int keep) {
  if (path == "-") return std::make_unique<JsonLinesSink>(stdout, "stdout", 0, keep);
  auto file = open_append(path);
  if (!file) return propagate(file);
  return std::make_unique<JsonLinesSink>(*file, path, max_bytes, keep);
}

Result<void> JsonLinesSink::reopen() {
  if (file_.get() == stdout) return {};
  auto file = open_append(path_);
  if (!file) return propagate(file);
  file_.reset(*file);
  size_ = size_of(*file);
  return {};
}

// FILE.(keep-1) -> FILE.keep, ..., FILE -> FILE.1, then a fresh FILE.
Result<void> JsonLinesSink::rotate() {
  file_.reset();
  for (int i = keep_ - 1; i >= 1; --i) {
    const std::string from = path_ + "." + std::to_string(i);
    std::rename(from.c_str(), (path_ + "." + std::to_string(i + 1)).c_str());
  }
  if (std::rename(path_.c_str(), (path_ + ".1").c_str()) != 0 && errno != ENOENT)
    spdlog::warn("rotating alerts file {}: {}", path_, std::strerror(errno));
  return reopen();
}

bool JsonLinesSink::write_out(std::size_t bytes) {
  if (bytes == 0) return true;
  const bool ok = file_ && std::fwrite(pending_.data(), 1, bytes, file_.get()) == bytes &&
                  std::fflush(file_.get()) == 0;
  if (ok) size_ += bytes;
  pending_.erase(0, bytes);
  return ok;
}

bool JsonLinesSink::append(const nlohmann::ordered_json& alert) {
  if (reopen_requested_.exchange(false) || !file_) {
    // What was deferred belongs to the file it was written for (logrotate moved it).
    if (!write_out(pending_.size())) pending_failed_ = true;
    if (auto r = reopen(); !r) {
      spdlog::error("{}", r.error().message);
      return false;
    }
  }
  const std::size_t before = pending_.size();
  serializer_->dump(alert, false, false, 0);
  pending_.push_back('\n');
  const std::size_t line = pending_.size() - before;
  // Rotation is decided per line, as if every line before it was written already.
  if (max_bytes_ > 0 && size_ + before > 0 && size_ + before + line > max_bytes_) {
    if (!write_out(before)) pending_failed_ = true;
    if (auto r = rotate(); !r) {
      spdlog::error("{}", r.error().message);
      pending_.clear();  // only this line was left
      return false;
    }
  }
  return true;
}

bool JsonLinesSink::write(const nlohmann::ordered_json& alert) {
  std::lock_guard lock(mutex_);
  if (!write_out(pending_.size())) pending_failed_ = true;
  return append(alert) && write_out(pending_.size());
}

bool JsonLinesSink::defer(const nlohmann::ordered_json& alert) {
  std::lock_guard lock(mutex_);
  if (!append(alert)) return false;
  // A large batch goes out in pieces: the buffer stays small.
  if (pending_.size() >= kDeferBytes && !write_out(pending_.size())) pending_failed_ = true;
  return true;
}

bool JsonLinesSink::flush() {
  std::lock_guard lock(mutex_);
  const bool ok = write_out(pending_.size()) && !pending_failed_;
  pending_failed_ = false;
  return ok;
}

}  // namespace guardrail
