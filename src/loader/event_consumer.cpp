#include "guardrail/loader/event_consumer.hpp"

#include <spdlog/spdlog.h>

namespace guardrail {

EventConsumer::EventConsumer(Handler handler, int poll_timeout_ms)
    : handler_(std::move(handler)), poll_timeout_ms_(poll_timeout_ms) {}

Result<std::unique_ptr<EventConsumer>> EventConsumer::start(int ringbuf_fd, Handler handler,
                                                            int poll_timeout_ms) {
  auto consumer = std::make_unique<EventConsumer>(std::move(handler), poll_timeout_ms);
  consumer->rb_.reset(
      ring_buffer__new(ringbuf_fd, &EventConsumer::on_record, consumer.get(), nullptr));
  if (!consumer->rb_) return fail_errno("open the events ring buffer", errno);
  consumer->thread_ = std::thread([c = consumer.get()] { c->run(); });
  return consumer;
}

EventConsumer::~EventConsumer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (rb_) ring_buffer__consume(rb_.get());  // what arrived before the programs went away
}

std::uint64_t EventConsumer::unread_bytes() const {
  ring* r = ring_buffer__ring(rb_.get(), 0);
  return r ? ring__avail_data_size(r) : 0;
}

int EventConsumer::on_record(void* ctx, void* data, std::size_t size) {
  auto* self = static_cast<EventConsumer*>(ctx);
  self->handler_(std::span(static_cast<const std::byte*>(data), size));
  return 0;
}

void EventConsumer::run() {
  while (!stop_) {
    int n = ring_buffer__poll(rb_.get(), poll_timeout_ms_);
    if (n < 0 && n != -EINTR) {
      spdlog::error("reading the events ring buffer failed: {}", strerror(-n));
      break;
    }
    // With BPF_RB_NO_WAKEUP nothing wakes epoll; consume what accumulated since the last poll.
    ring_buffer__consume(rb_.get());
  }
}

}  // namespace guardrail
