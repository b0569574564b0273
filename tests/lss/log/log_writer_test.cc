// The log writer (flush buffers, segment roll-over, group commit) and the scanner that
// reads its output back.
#include "lss/log/log_writer.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <thread>

#include "llama/coding.h"
#include "lss/log/log_reader.h"
#include "tests/lss/file/env_test_util.h"

namespace llama {
namespace {

using namespace log_format;
using testing_env::TempDir;

constexpr std::uint32_t kSegmentSize = 64 * 1024;

struct Log {
  TempDir dir;
  std::unique_ptr<Env> env = NewPosixEnv();
  std::unique_ptr<SegmentSet> segments = std::make_unique<SegmentSet>(*env, dir.path(), /*store_id=*/42, kSegmentSize);
  std::unique_ptr<LogWriter> writer;

  explicit Log(std::uint32_t buffer_size = 8192) {
    LogWriter::Options options;
    options.buffer_size = buffer_size;
    auto w = LogWriter::Open(*segments, 1, LssAddress(), options);
    EXPECT_TRUE(w.has_value());
    writer = std::move(*w);
  }

  // Every record from the start of the log, SegmentEnd and SyncPoint records left out.
  std::vector<LogRecord> Scan(ScanStop* stop = nullptr) {
    auto scanner = LogScanner::Open(*segments, LssAddress::Make(1, kSegmentHeaderSize), kSegmentSize);
    EXPECT_TRUE(scanner.has_value());
    std::vector<LogRecord> out;
    for (;;) {
      auto next = scanner->Next();
      EXPECT_TRUE(next.has_value());
      if (!next || !next->has_value()) break;
      const RecordKind kind = (*next)->header.kind;
      if (kind != RecordKind::kSegmentEnd && kind != RecordKind::kSyncPoint) out.push_back(std::move(**next));
    }
    if (stop) *stop = scanner->stop();
    return out;
  }
};

std::string Body(int thread, int i, std::size_t size) {
  std::string s = std::to_string(thread) + ":" + std::to_string(i) + ":";
  s.resize(std::max(s.size(), size), static_cast<char>('a' + i % 26));
  return s;
}

TEST(LogWriterTest, AppendsAndScansAcrossManySegments) {
  Log log;
  std::mt19937 rng(1);
  std::vector<std::string> bodies;
  std::vector<LssAddress> addresses;
  for (int i = 0; i < 3000; ++i) {
    bodies.push_back(Body(0, i, rng() % 3000));
    auto a = log.writer->Append(RecordKind::kApplication, AsBytes(bodies.back()));
    ASSERT_TRUE(a.has_value()) << a.error().ToString();
    if (!addresses.empty()) {
      EXPECT_LT(addresses.back(), a->address) << "addresses grow";
    }
    addresses.push_back(a->address);
  }
  ASSERT_TRUE(log.writer->Close().has_value());
  EXPECT_GT(log.writer->stats().segments_created, 10u);
  ScanStop stop;
  auto records = log.Scan(&stop);
  ASSERT_EQ(records.size(), bodies.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(AsStringView(records[i].body), bodies[i]) << i;
    ASSERT_EQ(records[i].address, addresses[i]) << i;
  }
  EXPECT_EQ(stop.reason, ScanStop::Reason::kEndOfLog) << "a clean close ends the segment";
}

TEST(LogWriterTest, ConcurrentAppendersLoseNothing) {
  constexpr int kThreads = 4, kPerThread = 1500;
  Log log;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kPerThread; ++i) {
        auto a = log.writer->Append(RecordKind::kApplication, AsBytes(Body(t, i, rng() % 2000)));
        ASSERT_TRUE(a.has_value());
        if (i % 100 == 0) {
          ASSERT_TRUE(log.writer->Sync(a->end).has_value());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(log.writer->Close().has_value());
  std::map<std::string, int> seen;
  for (const LogRecord& r : log.Scan()) {
    const std::string body(AsStringView(r.body));
    seen[body.substr(0, body.find(':', body.find(':') + 1))]++;
  }
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (const auto& [key, n] : seen) ASSERT_EQ(n, 1) << key;
}

TEST(LogWriterTest, SyncMakesEveryEarlierRecordDurable) {
  constexpr int kThreads = 8, kPerThread = 150;
  Log log;
  std::atomic<int> sync_calls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto a = log.writer->Append(RecordKind::kApplication, AsBytes(Body(t, i, 100)));
        ASSERT_TRUE(a.has_value());
        ASSERT_TRUE(log.writer->Sync(a->end).has_value());
        ++sync_calls;
        ASSERT_GE(log.writer->durable_position(), a->end);
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto stats = log.writer->stats();
  std::cout << sync_calls << " Sync calls served by " << stats.syncs << " fdatasync batches\n";
  EXPECT_LE(stats.syncs, static_cast<std::uint64_t>(sync_calls.load()));
}

TEST(LogWriterTest, AbandonedReservationBecomesAFailedFlushMarker) {
  Log log;
  {
    auto r = log.writer->Reserve(FramedSize(100));
    ASSERT_TRUE(r.has_value());
    // Dropped without Commit: the space must not stay a hole.
  }
  ASSERT_TRUE(log.writer->Append(RecordKind::kApplication, AsBytes("after")).has_value());
  ASSERT_TRUE(log.writer->Close().has_value());
  auto records = log.Scan();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].header.kind, RecordKind::kFailedFlush);
  EXPECT_EQ(AsStringView(records[1].body), "after");
}

// After a sync, the next record is preceded by a SyncPoint naming the durable position;
// without a sync there is none, and a clean close writes the last one.
TEST(LogWriterTest, SyncPointsFollowSyncs) {
  Log log;
  auto a = log.writer->Append(RecordKind::kApplication, AsBytes("a"));
  ASSERT_TRUE(a.has_value());
  auto b = log.writer->Append(RecordKind::kApplication, AsBytes("b"));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->address, a->end) << "no sync, no SyncPoint";
  ASSERT_TRUE(log.writer->Sync(b->end).has_value());
  const LssAddress durable = log.writer->durable_position();
  EXPECT_GE(durable, b->end);
  ASSERT_TRUE(log.writer->Sync(log.writer->tail()).has_value());
  EXPECT_EQ(log.writer->stats().sync_points, 0u) << "a sync alone writes nothing";
  auto c = log.writer->Append(RecordKind::kApplication, AsBytes("c"));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->address.offset(), b->end.offset() + kSyncPointRecordSize);
  ASSERT_TRUE(log.writer->Sync(c->end).has_value());
  ASSERT_TRUE(log.writer->Close().has_value());
  EXPECT_EQ(log.writer->stats().sync_points, 2u) << "one before c, one at the close";
  auto scanner = LogScanner::Open(*log.segments, LssAddress::Make(1, kSegmentHeaderSize), kSegmentSize);
  ASSERT_TRUE(scanner.has_value());
  std::vector<std::pair<RecordKind, LssAddress>> seen;
  for (;;) {
    auto next = scanner->Next();
    ASSERT_TRUE(next.has_value());
    if (!next->has_value()) break;
    const LogRecord& r = **next;
    LssAddress named;
    if (r.header.kind == RecordKind::kSyncPoint) {
      ASSERT_EQ(r.body.size(), kSyncPointBodySize);
      named = LssAddress::FromRaw(DecodeFixed64(r.body.data()));
      EXPECT_LE(named, r.address) << "a SyncPoint names a position before itself";
    }
    seen.emplace_back(r.header.kind, named);
  }
  ASSERT_EQ(seen.size(), 5u);  // a, b, SyncPoint, c, SyncPoint (the final SegmentEnd is the stop)
  EXPECT_EQ(seen[2].first, RecordKind::kSyncPoint);
  EXPECT_EQ(seen[2].second, durable);
  EXPECT_EQ(seen[4].first, RecordKind::kSyncPoint);
  EXPECT_EQ(seen[4].second, c->end);
  EXPECT_FALSE(scanner->stop().corruption());
}

TEST(LogWriterTest, RejectsRecordsLargerThanABuffer) {
  Log log(8192);
  auto r = log.writer->Reserve(8193);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(log.writer->Reserve(10).has_value()) << "smaller than a frame header";
}

TEST(LogWriterTest, WrittenRecordsReadBackByAddress) {
  Log log;
  std::vector<std::pair<LssAddress, std::string>> written;
  for (int i = 0; i < 500; ++i) {
    std::string body = Body(0, i, static_cast<std::size_t>(i * 7 % 1500));
    auto a = log.writer->Append(RecordKind::kApplication, AsBytes(body));
    ASSERT_TRUE(a.has_value());
    written.emplace_back(a->address, body);
  }
  ASSERT_TRUE(log.writer->WaitWritten(log.writer->tail()).has_value());
  for (const auto& [at, body] : written) {
    auto r = ReadRecordAt(*log.segments, at, kSegmentSize);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    ASSERT_EQ(AsStringView(r->body), body);
  }
  auto bad = ReadRecordAt(*log.segments, LssAddress::Make(1, 41), kSegmentSize);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace llama
