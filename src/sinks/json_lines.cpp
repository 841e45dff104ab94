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

std::uint64_t size_of(std::FILE* f) {
  struct stat st {};
  return ::fstat(::fileno(f), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

}  // namespace

void JsonLinesSink::Close::operator()(std::FILE* f) const {
  if (f != stdout) std::fclose(f);
}

JsonLinesSink::JsonLinesSink(std::FILE* file, std::string path, std::uint64_t max_bytes, int keep)
    : file_(file), path_(std::move(path)), max_bytes_(max_bytes), keep_(keep < 1 ? 1 : keep) {
  if (file != stdout) size_ = size_of(file);
}

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

bool JsonLinesSink::write(const nlohmann::ordered_json& alert) {
  std::lock_guard lock(mutex_);
  if (reopen_requested_.exchange(false) || !file_) {
    if (auto r = reopen(); !r) {
      spdlog::error("{}", r.error().message);
      return false;
    }
  }
  const std::string line =
      alert.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  if (max_bytes_ > 0 && size_ > 0 && size_ + line.size() > max_bytes_) {
    if (auto r = rotate(); !r) {
      spdlog::error("{}", r.error().message);
      return false;
    }
  }
  const bool ok = std::fwrite(line.data(), 1, line.size(), file_.get()) == line.size() &&
                  std::fflush(file_.get()) == 0;
  if (ok) size_ += line.size();
  return ok;
}

}  // namespace guardrail
