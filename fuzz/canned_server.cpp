// The canned HTTP peer (canned_server.hpp).
#include "canned_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace guardrail::fuzz {
namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "canned server: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

// Waits up to `ms` for fd to be readable; false on timeout or error.
bool readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

}  // namespace

std::unique_ptr<CannedServer> CannedServer::unix_socket() {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) die("socket(AF_UNIX)");
  const std::string path = "/tmp/guardrail-fuzz-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (::listen(fd.get(), 16) != 0) die("listen");
  return std::unique_ptr<CannedServer>(new CannedServer(std::move(fd), path, 0));
}

std::unique_ptr<CannedServer> CannedServer::loopback_tcp() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) die("socket(AF_INET)");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) die("getsockname");
  if (::listen(fd.get(), 16) != 0) die("listen");
  return std::unique_ptr<CannedServer>(new CannedServer(std::move(fd), "", ntohs(addr.sin_port)));
}

CannedServer::CannedServer(UniqueFd listener, std::string path, int port)
    : listener_(std::move(listener)), path_(std::move(path)), port_(port) {
  thread_ = std::thread([this] { serve(); });
}

CannedServer::~CannedServer() {
  stopping_ = true;
  thread_.join();
  if (!path_.empty()) ::unlink(path_.c_str());
}

void CannedServer::set_answer(std::string answer) {
  std::lock_guard lock(mutex_);
  answer_ = std::move(answer);
}

std::string CannedServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void CannedServer::serve() {
  while (!stopping_) {
    if (!readable(listener_.get(), 100)) continue;
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (conn) answer_one(conn.get());
  }
}

// Reads the request head (and what body arrives with it), writes the answer, closes: the client
// sees exactly the canned bytes, then the end of the stream.
void CannedServer::answer_one(int fd) {
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < (1u << 20)) {
    if (!readable(fd, 1000)) return;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    request.append(buf, static_cast<std::size_t>(n));
  }
  std::string answer;
  {
    std::lock_guard lock(mutex_);
    answer = answer_;
  }
  std::string_view rest = answer;
  while (!rest.empty()) {
    const ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  ::shutdown(fd, SHUT_WR);
  // Drain the rest of the request (a POST body) so the close sends no reset before the client
  // read the answer.
  while (readable(fd, 50) && ::read(fd, buf, sizeof buf) > 0) {
  }
}

}  // namespace guardrail::fuzz
