// Reading an inotify instance: every event pending on it, one at a time.
#pragma once

#include <sys/inotify.h>
#include <unistd.h>

namespace guardrail::agent {

// Hands each event pending on the non-blocking inotify fd to `each`, until none is left.
template <typename F>
void for_each_inotify_event(int fd, F&& each) {
  alignas(inotify_event) char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;  // EAGAIN: drained
    for (char* p = buf; p < buf + n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      each(*ev);
    }
  }
}

}  // namespace guardrail::agent
