// Pieces of the small servers unit tests run in a thread (a fake Docker engine on a unix socket,
// a webhook receiver on loopback): a listening socket, and waits short enough that the serving
// loop looks at its stop flag between them.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>

namespace guardrail::test {

// How long a serving loop waits before it looks at its stop flag again.
inline constexpr std::chrono::milliseconds kStopPoll{20};

// A listening AF_UNIX stream socket bound to `path` (which must not exist); throws when it
// cannot.
inline int listen_unix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 16) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("test server: cannot listen on " + path);
  }
  return fd;
}

// A listening TCP socket on 127.0.0.1, on a port the kernel chose (returned in `port`); throws
// when it cannot.
inline int listen_loopback(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("test server: cannot listen on 127.0.0.1");
  }
  port = ntohs(addr.sin_port);
  return fd;
}

// True when fd has data (or end of file) to read within one stop-flag interval.
inline bool readable_soon(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, int(kStopPoll.count())) > 0;
}

// The next connection on listen_fd, or -1 when none arrived within one stop-flag interval.
inline int accept_soon(int listen_fd) {
  if (!readable_soon(listen_fd)) return -1;
  return ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
}

// The serving loop: hands every connection on listen_fd to on_connection (which owns the fd)
// until `stop` is set.
inline void accept_until(const std::atomic<bool>& stop, int listen_fd,
                         const std::function<void(int fd)>& on_connection) {
  while (!stop) {
    const int fd = accept_soon(listen_fd);
    if (fd >= 0) on_connection(fd);
  }
}

}  // namespace guardrail::test
