// A bounded multi-producer queue whose push never blocks: when it is full the item is refused
// and the caller counts the loss. The ring buffer consumer must never wait on the pipeline.
// The handoff is batched: a push wakes the consumer only when it sleeps (a notify and a context
// switch per event were most of the pipeline's cost), and the consumer takes everything queued
// in one lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

namespace guardrail::pipeline {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}

  // False when the queue is full or closed.
  bool try_push(T item) {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      if (closed_ || items_.size() >= capacity_) return false;
      items_.push_back(std::move(item));
      // One notify per sleep: the pushes until the consumer runs again need none.
      wake = sleeping_;
      sleeping_ = false;
    }
    if (wake) ready_.notify_one();
    return true;
  }

  // Everything queued, oldest first, into `out` (cleared first; its storage is handed back to
  // the queue, so that a consumer reusing one vector allocates nothing once warm). Waits up to
  // `timeout` for an item; `out` stays empty when none came or the queue is closed and empty.
  void pop_all_for(std::vector<T>& out, std::chrono::milliseconds timeout) {
    out.clear();
    // A flood grows both vectors to its size; a vector over kRetain is not handed back, so the
    // memory goes once the flood is over (at most one kRetain-sized vector is kept idle).
    if (out.capacity() > kRetain) std::vector<T>().swap(out);
    std::unique_lock lock(mutex_);
    if (items_.empty() && !closed_) {
      sleeping_ = true;
      ready_.wait_for(lock, timeout, [&] { return !items_.empty() || closed_; });
      sleeping_ = false;
    }
    out.swap(items_);
  }

  // Refuses further pushes and wakes the consumer; what is queued can still be popped.
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

  // Closed, and everything queued was popped.
  bool drained() const {
    std::lock_guard lock(mutex_);
    return closed_ && items_.empty();
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

  // The storage a consumer's vector keeps between batches, in items.
  static constexpr std::size_t kRetain = 4096;

  // Whether the consumer waits for an item now (for tests of the wakeup).
  bool consumer_sleeping() const {
    std::lock_guard lock(mutex_);
    return sleeping_;
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<T> items_;
  bool closed_ = false;
  bool sleeping_ = false;  // the consumer waits on ready_ and no push woke it yet
};

}  // namespace guardrail::pipeline
