#include "guardrail/loader/event_consumer.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>

#include <cstring>

namespace guardrail {

EventConsumer::EventConsumer(Handler handler, int poll_timeout_ms)
    : handler_(std::move(handler)), poll_timeout_ms_(poll_timeout_ms) {}

Result<std::unique_ptr<EventConsumer>> EventConsumer::start(int ringbuf_fd, Handler handler,
                                                            int poll_timeout_ms) {
  auto consumer = std::make_unique<EventConsumer>(std::move(handler), poll_timeout_ms);
  consumer->rb_.reset(
      ring_buffer__new(ringbuf_fd, &EventConsumer::on_record, consumer.get(), nullptr));
  if (!consumer->rb_) return fail_errno("open the events ring buffer", errno);
  // Edge-triggered: epoll_wait returns on a wakeup the programs asked for (the unread data
  // passed the threshold), not whenever a record is there, as libbpf's level-triggered poll
  // does. A consumer that re-polled at once would read each record as it lands: its reads of
  // the ring's header and position lines, written by every producer, would bounce those cache
  // lines between CPUs on every event, and the producers would pay for it. Woken on the
  // threshold or the timeout, it takes what accumulated in one batch.
  consumer->epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  if (!consumer->epoll_) return fail_errno("create the events ring buffer's epoll", errno);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  if (::epoll_ctl(consumer->epoll_.get(), EPOLL_CTL_ADD, ringbuf_fd, &ev) != 0)
    return fail_errno("watch the events ring buffer (epoll_ctl)", errno);
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
    epoll_event ev{};
    if (::epoll_wait(epoll_.get(), &ev, 1, poll_timeout_ms_) < 0 && errno != EINTR) {
      spdlog::error("waiting on the events ring buffer failed: {}", std::strerror(errno));
      break;
    }
    // Woken by the threshold, or the timeout: what accumulated since the last batch.
    int n = ring_buffer__consume(rb_.get());
    if (n < 0 && n != -EINTR) {
      spdlog::error("reading the events ring buffer failed: {}", std::strerror(-n));
      break;
    }
  }
}

}  // namespace guardrail
