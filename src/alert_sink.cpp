#include "guardrail/alert_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace guardrail {

void JsonLinesSink::Close::operator()(std::FILE* f) const {
  if (f != stdout) std::fclose(f);
}

Result<JsonLinesSink> JsonLinesSink::open(const std::string& path) {
  if (path == "-") return JsonLinesSink(stdout, "stdout");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return fail_errno("open alerts file " + path, errno);
  std::FILE* file = ::fdopen(fd, "a");
  if (!file) {
    int err = errno;
    ::close(fd);
    return fail_errno("open alerts file " + path, err);
  }
  return JsonLinesSink(file, path);
}

void JsonLinesSink::write(const nlohmann::ordered_json& alert) {
  const std::string line =
      alert.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::fwrite(line.data(), 1, line.size(), file_.get());
  std::fputc('\n', file_.get());
  std::fflush(file_.get());
}

}  // namespace guardrail
