// Alerts as JSON lines, one object per line, flushed per line so a log shipper sees each alert
// as soon as it is written.
#pragma once

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "guardrail/result.hpp"

namespace guardrail {

class JsonLinesSink {
 public:
  // "-" writes to stdout; any other path is opened for appending (created 0600).
  static Result<JsonLinesSink> open(const std::string& path);
  void write(const nlohmann::ordered_json& alert);
  const std::string& path() const { return path_; }

 private:
  struct Close {
    void operator()(std::FILE* f) const;
  };
  JsonLinesSink(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  std::unique_ptr<std::FILE, Close> file_;
  std::string path_;
};

}  // namespace guardrail
