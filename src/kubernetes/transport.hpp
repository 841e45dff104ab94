// Internal to src/kubernetes: one thread's HTTPS GETs to the API server (libcurl), and the
// bearer token read from its file. A transfer runs on a curl multi handle so that another thread
// can end it at once (stop + wake), whether it is connecting, listing or idle in a watch.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "guardrail/kubernetes/api_client.hpp"
#include "guardrail/util/result.hpp"

namespace guardrail::kubernetes::detail {

// The token to send: ApiConfig::token, or the content of token_file, read again when the file
// was replaced or rewritten (kubelet rotates projected service account tokens by swapping the
// ..data symlink, which changes the inode the path resolves to) and when the server refused it.
class TokenSource {
 public:
  explicit TokenSource(const ApiConfig& config) : file_(config.token_file), token_(config.token) {}
  // "" when the config has no token at all (client certificates).
  Result<std::string> current();
  void invalidate() { loaded_ = false; }

 private:
  std::string file_;
  std::string token_;
  bool loaded_ = false;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  timespec mtime_{};
  off_t size_ = 0;
};

// How a GET ended.
struct Outcome {
  bool stopped = false;  // stop was asked for; nothing else is meaningful
  bool aborted = false;  // on_data returned false
  long status = 0;       // the HTTP status, 0 when no answer came
  std::string error;     // why the transfer failed below HTTP ("" when it completed)
  std::string body;      // the start of a non-2xx answer's body, for messages
};

struct Limits {
  std::chrono::seconds total{120};  // the whole transfer
  std::chrono::seconds idle{60};    // no byte at all for this long: the peer is gone
};

class Transport {
 public:
  static Result<std::unique_ptr<Transport>> make(ApiConfig config, const std::atomic<bool>& stop);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // GET server + target with the token (empty: none). on_status runs once the headers of a 2xx
  // answer are in; on_data receives its body as it arrives (false aborts the transfer).
  Outcome get(const std::string& target, const std::string& token, Limits limits,
              const std::function<void()>& on_status,
              const std::function<bool(std::string_view)>& on_data);

  // From any thread: makes a transfer in progress look at the stop flag now.
  void wake();

  const ApiConfig& config() const { return config_; }

 private:
  struct Multi;
  Transport(ApiConfig config, const std::atomic<bool>& stop, std::unique_ptr<Multi> multi);
  ApiConfig config_;
  const std::atomic<bool>& stop_;
  std::unique_ptr<Multi> multi_;
};

// Percent-encodes everything but RFC 3986's unreserved characters (query values).
std::string escape(std::string_view in);

}  // namespace guardrail::kubernetes::detail
