// A one-thread HTTP peer for the fuzz targets that reach a network client (the Docker client on
// a unix socket, the webhook sink on loopback TCP): it answers every request with the bytes it
// was given, exactly, then closes the connection. Fuzzing with it drives the clients' real
// response handling (libcurl's parsing, status, body and error text) with arbitrary answers.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "guardrail/util/unique_fd.hpp"

namespace guardrail::fuzz {

class CannedServer {
 public:
  // Listens on a fresh unix socket under /tmp, or on 127.0.0.1 with a free port; aborts when it
  // cannot (a fuzz target has nowhere to report to).
  static std::unique_ptr<CannedServer> unix_socket();
  static std::unique_ptr<CannedServer> loopback_tcp();
  ~CannedServer();
  CannedServer(const CannedServer&) = delete;
  CannedServer& operator=(const CannedServer&) = delete;

  void set_answer(std::string answer);
  const std::string& socket_path() const { return path_; }  // unix
  std::string url() const;                                  // tcp: http://127.0.0.1:PORT

 private:
  CannedServer(UniqueFd listener, std::string path, int port);
  void serve();
  void answer_one(int fd);

  UniqueFd listener_;
  std::string path_;
  int port_ = 0;
  std::mutex mutex_;
  std::string answer_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace guardrail::fuzz
