// Flow control (rebuild/vector_write.cc, WaitForBufferRoom): a writer whose buffer holds
// more than max_buffer_bytes the rebuilder has not consumed waits for the rebuilder. When
// the vector fails meanwhile, the waiting writer gets the vector's error, and so does
// every call after it: each gets a copy of the recorded error (VectorImpl::failed_). The
// regression: the waiting writer moved the error out of the record
// (LLAMA_RETURN_IF_ERROR on the member), so later writers, WaitVisible and Close got an
// error with its message gone.
#include <cstdint>
#include <string>

#include "tests/rebuild/vector_test_util.h"

namespace llama::vector_test {
namespace {

void ExpectSameError(const Status& got, const Error& want, const std::string& who) {
  ASSERT_FALSE(got.has_value()) << who << " succeeded";
  EXPECT_EQ(got.error().code(), want.code()) << who;
  EXPECT_EQ(got.error().message(), want.message()) << who;
}

TEST(VectorFlowControlTest, AWriterWaitingForRoomAndEveryCallAfterItGetTheVectorsError) {
  TempDir tmp;
  auto store = Store::Open(tmp.path() + "/db", VectorStoreOptions());
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  VectorOptions o = SmallVector(Shape{32, 64});
  o.writer_slots = 1;
  o.max_buffer_bytes = 4096;  // the smallest accepted
  // The rebuilder sleeps until a writer waiting for room wakes it: no batch window or
  // delay ends its sleep first. So when it runs, that writer is already waiting (it sets
  // the wake-up under the vector's mutex and releases the mutex only by waiting).
  o.initial_batch_window = o.max_batch_window = 1 << 16;
  o.max_delay_us = UINT32_MAX;
  auto vec = Vector::Open(**store, "v", o);
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  const PageId buffer = (*vec)->config().buffers.at(0);

  // The failure the rebuilder will meet: a damaged entry on the buffer page (not an entry
  // at all), which Collect reports as Corruption.
  {
    auto g = (*store)->EnterGeneration();
    auto ref = (*store)->Read(g, buffer);
    ASSERT_TRUE(ref.has_value()) << ref.error().ToString();
    auto out = (*store)->UpdateD(g, buffer, *ref, testing::UpdateRecord(buffer, "damaged"));
    ASSERT_TRUE(out.has_value() && out->installed);
  }
  // Fill the buffer past its limit. Each write adds its record plus 64 bytes of overhead
  // (about 1.6 KiB here) and is admitted while the buffer holds at most 4 KiB: the third
  // one goes in at about 3.2 KiB and takes the buffer to about 4.8 KiB.
  const std::string value(1500, 'x');
  Result<VectorTicket> first = (*vec)->Append(value);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE((*vec)->Append(value).has_value()) << "write " << i + 2;

  // This writer waits for room and wakes the rebuilder, which fails on the damaged entry.
  auto waiting = (*vec)->Append(value);
  ASSERT_FALSE(waiting.has_value()) << "the writer was let in";
  const Error error = waiting.error();
  EXPECT_EQ(error.code(), ErrorCode::kCorruption) << error.ToString();
  EXPECT_NE(error.message().find("buffer page " + std::to_string(buffer) + ": "), std::string::npos)
      << error.ToString();

  auto next = (*vec)->Append("y");
  ASSERT_FALSE(next.has_value());
  ExpectSameError(tl::unexpected(next.error()), error, "the next writer");
  ExpectSameError((*vec)->WaitVisible(*first), error, "WaitVisible");
  ExpectSameError((*vec)->Close(), error, "Close");
  ExpectSameError((*vec)->Close(), error, "Close again");
  vec->reset();
  ASSERT_TRUE((*store)->Close().has_value());
}

}  // namespace
}  // namespace llama::vector_test
