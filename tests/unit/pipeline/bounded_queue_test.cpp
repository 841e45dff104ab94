#include "guardrail/pipeline/bounded_queue.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace guardrail::pipeline {
namespace {

using namespace std::chrono_literals;

TEST(PipelineQueue, PopAllTakesEverythingQueuedOldestFirst) {
  BoundedQueue<int> q(8);
  for (int i = 1; i <= 5; i++) EXPECT_TRUE(q.try_push(i));
  std::vector<int> batch{42};  // whatever it held goes
  q.pop_all_for(batch, 0ms);
  EXPECT_EQ(batch, (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(q.size(), 0u);
  q.pop_all_for(batch, 0ms);
  EXPECT_TRUE(batch.empty());
  // The queue is usable again after handing its storage over.
  EXPECT_TRUE(q.try_push(6));
  q.pop_all_for(batch, 0ms);
  EXPECT_EQ(batch, (std::vector<int>{6}));
}

TEST(PipelineQueue, AFloodsStorageIsLetGoOnceTheBatchesAreSmallAgain) {
  constexpr std::size_t flood = 4 * BoundedQueue<int>::kRetain;
  BoundedQueue<int> q(flood);
  for (std::size_t i = 0; i < flood; i++) ASSERT_TRUE(q.try_push(int(i)));
  std::vector<int> batch;
  q.pop_all_for(batch, 0ms);
  ASSERT_EQ(batch.size(), flood);
  // The flood's vector is not handed back to the queue: the next small batches come in small
  // storage, in the consumer's hands and in the queue's.
  for (int round = 0; round < 2; round++) {
    EXPECT_TRUE(q.try_push(7));
    q.pop_all_for(batch, 0ms);
    EXPECT_EQ(batch, (std::vector<int>{7}));
    EXPECT_LE(batch.capacity(), BoundedQueue<int>::kRetain);
  }
}

TEST(PipelineQueue, FullQueueRefusesUntilPoppedAndTheCallerCountsEachRefusal) {
  BoundedQueue<int> q(2);
  int lost = 0;
  for (int i = 1; i <= 5; i++)
    if (!q.try_push(i)) lost++;
  EXPECT_EQ(lost, 3);
  std::vector<int> batch;
  q.pop_all_for(batch, 0ms);
  EXPECT_EQ(batch, (std::vector<int>{1, 2}));
  // Capacity counts what is queued, not what a batch holds outside.
  EXPECT_TRUE(q.try_push(6));
  EXPECT_TRUE(q.try_push(7));
  EXPECT_FALSE(q.try_push(8));
}

TEST(PipelineQueue, CloseRefusesPushesAndWhatIsQueuedStillDrains) {
  BoundedQueue<int> q(4);
  EXPECT_TRUE(q.try_push(1));
  EXPECT_TRUE(q.try_push(2));
  q.close();
  EXPECT_FALSE(q.try_push(3));
  EXPECT_FALSE(q.drained());
  std::vector<int> batch;
  q.pop_all_for(batch, 2000ms);
  EXPECT_EQ(batch, (std::vector<int>{1, 2}));
  EXPECT_TRUE(q.drained());
  // Closed and empty: no wait.
  q.pop_all_for(batch, 24h);
  EXPECT_TRUE(batch.empty());
}

TEST(PipelineQueue, ClosingWakesASleepingConsumer) {
  BoundedQueue<int> q(4);
  std::vector<int> batch;
  std::thread consumer([&] { q.pop_all_for(batch, 24h); });
  while (!q.consumer_sleeping()) std::this_thread::yield();
  q.close();
  consumer.join();  // would hang for a day without the wakeup
  EXPECT_TRUE(batch.empty());
  EXPECT_TRUE(q.drained());
}

TEST(PipelineQueue, APushWakesTheSleepingConsumerOnceAndLaterPushesQueueSilently) {
  BoundedQueue<int> q(8);
  std::vector<int> batch;
  std::thread consumer([&] { q.pop_all_for(batch, 24h); });
  while (!q.consumer_sleeping()) std::this_thread::yield();
  EXPECT_TRUE(q.try_push(7));
  // The push took the consumer out of its sleep: the next ones need no notify.
  EXPECT_FALSE(q.consumer_sleeping());
  consumer.join();  // would hang for a day without the wakeup
  ASSERT_FALSE(batch.empty());
  EXPECT_EQ(batch.front(), 7);
  EXPECT_FALSE(q.consumer_sleeping());
}

TEST(PipelineQueue, ItemsPushedWhileTheConsumerWorksArriveInTheNextBatch) {
  BoundedQueue<int> q(1024);
  constexpr int kItems = 500;
  std::thread producer([&] {
    for (int i = 0; i < kItems; i++)
      while (!q.try_push(i)) std::this_thread::yield();
    q.close();
  });
  std::vector<int> got, batch;
  while (!q.drained()) {
    q.pop_all_for(batch, 24h);
    got.insert(got.end(), batch.begin(), batch.end());
  }
  producer.join();
  ASSERT_EQ(got.size(), std::size_t(kItems));
  for (int i = 0; i < kItems; i++) EXPECT_EQ(got[i], i);
}

}  // namespace
}  // namespace guardrail::pipeline
