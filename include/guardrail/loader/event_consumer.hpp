// Drains the BPF ring buffer on its own thread. The kernel side submits without waking us
// (wakeups cost microseconds per event on a VM), so the thread reads in batches: on a short
// timeout, or early when the unread data passes the wakeup threshold.
#pragma once

#include <bpf/libbpf.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <thread>

#include "guardrail/util/result.hpp"
#include "guardrail/util/unique_fd.hpp"

namespace guardrail {

class EventConsumer {
 public:
  using Handler = std::function<void(std::span<const std::byte> record)>;

  // ringbuf_fd: the BPF_MAP_TYPE_RINGBUF map. The handler runs on the consumer thread.
  static Result<std::unique_ptr<EventConsumer>> start(int ringbuf_fd, Handler handler,
                                                      int poll_timeout_ms);
  EventConsumer(Handler handler, int poll_timeout_ms);  // through start()
  ~EventConsumer();  // stops the thread after draining what is already queued
  EventConsumer(const EventConsumer&) = delete;
  // Bytes the kernel has written and the consumer not yet read.
  std::uint64_t unread_bytes() const;
  EventConsumer& operator=(const EventConsumer&) = delete;

 private:
  static int on_record(void* ctx, void* data, std::size_t size);
  void run();

  struct FreeRingBuffer {
    void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
  };
  Handler handler_;
  int poll_timeout_ms_;
  std::unique_ptr<ring_buffer, FreeRingBuffer> rb_;
  UniqueFd epoll_;  // the ring buffer's fd, edge-triggered (see start())
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace guardrail
