// LogScanner reads each segment in chunks on a reader thread and checks records in place
// (lss/log/log_reader.h). These tests build segment files byte by byte and scan them with
// 4 KiB chunks, so records straddle chunk boundaries everywhere (a header split, a body
// split, a record longer than several chunks), and compare every record, the stop and the
// search past the stop with the same scan reading each segment as one chunk, and with
// what the files hold. Both I/O backends.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "llama/coding.h"
#include "lss/file/segment_set.h"
#include "lss/log/log_format.h"
#include "lss/log/log_reader.h"
#include "lss/log/record_frame.h"
#include "tests/lss/file/env_test_util.h"

namespace llama {
namespace {

using namespace log_format;
using testing_env::TempDir;

constexpr std::uint64_t kStoreId = 42;
constexpr std::uint32_t kSegmentSize = kMinSegmentSize;  // 64 KiB: 16 chunks of 4 KiB
constexpr std::size_t kChunk = 4096;

// One segment file's bytes, built record by record.
class SegmentBytes {
 public:
  explicit SegmentBytes(std::uint32_t id, LssAddress resume_from = {}) : id_(id), bytes_(kSegmentHeaderSize) {
    EncodeSegmentHeader(SegmentHeader{id, kSegmentSize, kStoreId, resume_from}, bytes_.data());
  }
  LssAddress Add(RecordKind kind, std::span<const std::byte> body) {
    const LssAddress at = LssAddress::Make(id_, static_cast<std::uint32_t>(bytes_.size()));
    bytes_.resize(bytes_.size() + FramedSize(body.size()));
    EncodeFrame(bytes_.data() + at.offset(), kind, at, body, false, 0);
    return at;
  }
  LssAddress AddPage(std::size_t body_size, char fill) {
    return Add(RecordKind::kApplication, AsBytes(std::string(body_size, fill)));
  }
  LssAddress AddSyncPoint(LssAddress durable) {
    std::byte body[kSyncPointBodySize];
    EncodeFixed64(body, durable.raw());
    return Add(RecordKind::kSyncPoint, body);
  }
  void AddSegmentEnd(std::uint32_t next) {
    std::byte body[kSegmentEndBodySize];
    EncodeFixed32(body, next);
    Add(RecordKind::kSegmentEnd, body);
  }
  // Up to `size` bytes of zeros (a preallocated file).
  void PadTo(std::size_t size) { bytes_.resize(std::max(bytes_.size(), size)); }
  std::vector<std::byte>& bytes() { return bytes_; }
  LssAddress end() const { return LssAddress::Make(id_, static_cast<std::uint32_t>(bytes_.size())); }

 private:
  std::uint32_t id_;
  std::vector<std::byte> bytes_;
};

struct ScanResult {
  std::vector<LogRecord> records;
  ScanStop stop;
  std::vector<std::uint32_t> visited;
  LssAddress synced_through;
  std::vector<std::uint32_t> not_known_synced;
};

class LogScannerTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  void SetUp() override {
    std::string skip;
    env_ = testing_env::MakeEnvOrSkipReason(GetParam(), &skip);
    if (env_ == nullptr) GTEST_SKIP() << skip;
    segments_ = std::make_unique<SegmentSet>(*env_, dir_.path(), kStoreId, kSegmentSize);
  }

  void Write(std::uint32_t id, SegmentBytes& segment) {
    std::ofstream out(segments_->PathOf(id), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(segment.bytes().data()),
              static_cast<std::streamsize>(segment.bytes().size()));
    ASSERT_TRUE(out.good());
  }

  ScanResult Scan(std::size_t chunk_size) {
    ScanResult result;
    auto scanner =
        LogScanner::Open(*segments_, LssAddress::Make(1, kSegmentHeaderSize), kSegmentSize, ScanOptions{chunk_size, 2});
    EXPECT_TRUE(scanner.has_value());
    if (!scanner) return result;
    for (;;) {
      auto next = scanner->Next();
      EXPECT_TRUE(next.has_value()) << next.error().ToString();
      if (!next || !next->has_value()) break;
      result.records.push_back(std::move(**next));
    }
    result.stop = scanner->stop();
    result.visited = scanner->visited_segments();
    result.synced_through = scanner->synced_through();
    result.not_known_synced = scanner->SegmentsNotKnownSynced();
    return result;
  }

  // Scans with 4 KiB chunks and with each segment as one chunk: the same records (every
  // byte of every body) and the same stop either way.
  ScanResult ScanBothWays() {
    ScanResult chunked = Scan(kChunk);
    ScanResult whole = Scan(kSegmentSize);
    EXPECT_EQ(chunked.records.size(), whole.records.size());
    for (std::size_t i = 0; i < std::min(chunked.records.size(), whole.records.size()); ++i) {
      EXPECT_EQ(chunked.records[i].address, whole.records[i].address) << "record " << i;
      EXPECT_EQ(chunked.records[i].header.kind, whole.records[i].header.kind) << "record " << i;
      EXPECT_EQ(chunked.records[i].body, whole.records[i].body) << "record " << i;
    }
    EXPECT_EQ(chunked.stop.position, whole.stop.position);
    EXPECT_EQ(chunked.stop.reason, whole.stop.reason);
    EXPECT_EQ(chunked.stop.detail, whole.stop.detail);
    EXPECT_EQ(chunked.stop.records_past, whole.stop.records_past);
    EXPECT_EQ(chunked.stop.first_record_past, whole.stop.first_record_past);
    EXPECT_EQ(chunked.stop.durable_through, whole.stop.durable_through);
    EXPECT_EQ(chunked.visited, whole.visited);
    EXPECT_EQ(chunked.synced_through, whole.synced_through);
    EXPECT_EQ(chunked.not_known_synced, whole.not_known_synced);
    return chunked;
  }

  TempDir dir_;
  std::unique_ptr<Env> env_;
  std::unique_ptr<SegmentSet> segments_;
};

// Records of many sizes, so that chunk boundaries fall in frame headers, in bodies and at
// frame edges, and one record spans several chunks; every shift of the first record moves
// all of them.
TEST_P(LogScannerTest, RecordsStraddlingChunkBoundariesReadWhole) {
  for (std::size_t shift : {0, 1, 7, 31, 33, 100, 4000, 4055, 4056, 4057}) {
    SCOPED_TRACE("shift " + std::to_string(shift));
    SegmentBytes segment(1);
    std::vector<LssAddress> written{segment.AddPage(shift, 's')};
    const std::size_t sizes[] = {10, 4000, 4095, 4096, 4097, 3, 13000, 64, 8000, 0, 5000};
    for (std::size_t i = 0; i < std::size(sizes); ++i) {
      written.push_back(segment.AddPage(sizes[i], static_cast<char>('a' + i)));
    }
    const LssAddress end = segment.end();
    Write(1, segment);
    const ScanResult r = ScanBothWays();
    ASSERT_EQ(r.records.size(), written.size());
    for (std::size_t i = 1; i < written.size(); ++i) {
      EXPECT_EQ(r.records[i].address, written[i]);
      EXPECT_EQ(r.records[i].body, std::vector<std::byte>(sizes[i - 1], static_cast<std::byte>('a' + i - 1)));
    }
    EXPECT_EQ(r.stop.position, end);
    EXPECT_EQ(r.stop.reason, ScanStop::Reason::kEndOfLog);
  }
}

// A file that ends inside a record that straddles a chunk boundary (or inside a header):
// the scan stops at that record, as a torn record, and at every cut it says the same as a
// scan of the whole segment at once.
TEST_P(LogScannerTest, ATornRecordAtTheEndOfAChunkStopsTheScan) {
  SegmentBytes segment(1);
  segment.AddPage(4000, 'a');
  const LssAddress torn = segment.AddPage(6000, 'b');  // from 4072 across 8192
  segment.AddPage(100, 'c');
  const std::vector<std::byte> full = segment.bytes();
  for (std::size_t cut : {torn.offset() + 1u, torn.offset() + 20u, 4096u, 4097u, 8191u, 8192u,
                          torn.offset() + static_cast<std::uint32_t>(FramedSize(6000)) - 1u}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    segment.bytes().assign(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
    Write(1, segment);
    const ScanResult r = ScanBothWays();
    ASSERT_EQ(r.records.size(), 1u);
    EXPECT_EQ(r.stop.position, torn);
    EXPECT_EQ(r.stop.reason, ScanStop::Reason::kDamagedRecord);
    EXPECT_EQ(r.stop.detail, "truncated frame");
  }
  // Cut exactly at the record: the end of the log.
  segment.bytes().assign(full.begin(), full.begin() + torn.offset());
  Write(1, segment);
  EXPECT_EQ(ScanBothWays().stop.reason, ScanStop::Reason::kEndOfLog);
}

// A flipped byte in a record in the middle of a chunk, or in one straddling two, stops the
// scan there with the same "checksum mismatch" as before; the records after it are found
// past the stop, and a SyncPoint among them that names a position past the damage makes
// it corruption, with the same message.
TEST_P(LogScannerTest, ACorruptChecksumMidChunkIsTheSameStop) {
  for (bool straddling : {false, true}) {
    SCOPED_TRACE(straddling ? "record straddling two chunks" : "record inside a chunk");
    SegmentBytes segment(1);
    segment.AddPage(straddling ? 4000 : 1000, 'a');
    const LssAddress damaged = segment.AddPage(3000, 'b');
    const LssAddress after = segment.AddPage(500, 'c');
    segment.AddSyncPoint(segment.end());  // says everything before it was synced
    segment.AddPage(20000, 'd');
    segment.PadTo(kSegmentSize);
    const std::size_t flip = damaged.offset() + kFrameHeaderSize + 1500;  // mid-body
    ASSERT_EQ(flip / kChunk, straddling ? 1u : 0u);
    segment.bytes()[flip] ^= std::byte{0x40};
    Write(1, segment);
    const ScanResult r = ScanBothWays();
    ASSERT_EQ(r.records.size(), 1u);
    EXPECT_EQ(r.stop.position, damaged);
    EXPECT_EQ(r.stop.reason, ScanStop::Reason::kDamagedRecord);
    EXPECT_EQ(r.stop.detail, "checksum mismatch");
    EXPECT_EQ(r.stop.records_past, 3u);
    EXPECT_EQ(r.stop.first_record_past, after);
    EXPECT_TRUE(r.stop.corruption());
    EXPECT_NE(r.stop.CorruptionMessage().find("checksum mismatch"), std::string::npos) << r.stop.CorruptionMessage();
  }
}

// A preallocated tail of zeros ends the log; a stale record far into the zeros, at its
// own address, is found past the stop (the zeros are skipped chunk after chunk).
TEST_P(LogScannerTest, ZerosEndTheLogAndRecordsBeyondThemAreFound) {
  SegmentBytes segment(1);
  segment.AddPage(5000, 'a');
  const LssAddress end = segment.end();
  segment.PadTo(kSegmentSize);
  Write(1, segment);
  ScanResult r = ScanBothWays();
  EXPECT_EQ(r.stop.position, end);
  EXPECT_EQ(r.stop.reason, ScanStop::Reason::kEndOfLog);
  EXPECT_EQ(r.stop.records_past, 0u);

  // A frame at offset 40000 (chunk 9), written there earlier.
  SegmentBytes stale(1);
  stale.bytes().resize(40000);
  const LssAddress at = stale.AddPage(10, 'z');
  std::copy(stale.bytes().begin() + 40000, stale.bytes().end(), segment.bytes().begin() + 40000);
  Write(1, segment);
  r = ScanBothWays();
  EXPECT_EQ(r.stop.position, end);
  EXPECT_EQ(r.stop.reason, ScanStop::Reason::kDamagedRecord);
  EXPECT_EQ(r.stop.records_past, 1u);
  EXPECT_EQ(r.stop.first_record_past, at);
  EXPECT_FALSE(r.stop.corruption());
}

// Segments chained by SegmentEnd records and by a resume link: the SegmentEnd handed out
// before the next segment is read keeps its body, and the segments not known synced are
// those past the last SyncPoint on the chain (or holding only a header).
TEST_P(LogScannerTest, ChainsAcrossSegmentsAndKnowsWhatASyncPointCovers) {
  SegmentBytes one(1), two(2);
  one.AddPage(30000, 'a');
  one.AddSegmentEnd(2);
  one.PadTo(kSegmentSize);
  two.AddPage(100, 'b');
  const LssAddress synced = two.end();
  two.AddSyncPoint(synced);
  two.AddPage(100, 'c');
  const LssAddress torn = two.end();
  two.bytes().push_back(std::byte{1});  // a torn tail
  SegmentBytes three(3, torn);          // a recovery resumed the log from the tear
  Write(1, one);
  Write(2, two);
  Write(3, three);
  const ScanResult r = ScanBothWays();
  ASSERT_EQ(r.records.size(), 5u);
  EXPECT_EQ(r.records[1].header.kind, RecordKind::kSegmentEnd);
  EXPECT_EQ(DecodeFixed32(r.records[1].body.data()), 2u);
  EXPECT_EQ(r.visited, (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_EQ(r.stop.position, LssAddress::Make(3, kSegmentHeaderSize));
  EXPECT_EQ(r.synced_through, synced);
  // Segment 1 lies wholly before the SyncPoint's position; 2 goes past it; 3 is a header.
  EXPECT_EQ(r.not_known_synced, (std::vector<std::uint32_t>{2, 3}));
}

INSTANTIATE_TEST_SUITE_P(Backends, LogScannerTest, ::testing::Values(IoBackend::kPosix, IoBackend::kIoUring),
                         testing_env::BackendParamName);

}  // namespace
}  // namespace llama
