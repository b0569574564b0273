#include "lss/log/record_frame.h"

#include <gtest/gtest.h>

#include <random>

#include "llama/coding.h"
#include "lss/log/page_record.h"

namespace llama {
namespace {

using namespace log_format;

std::vector<std::byte> Frame(RecordKind kind, LssAddress at, std::string_view body) {
  std::vector<std::byte> out(FramedSize(body.size()));
  EncodeFrame(out.data(), kind, at, AsBytes(body), false, 0);
  return out;
}

TEST(SegmentHeaderTest, RoundTripsAndRejectsDamage) {
  std::byte buf[kSegmentHeaderSize];
  const SegmentHeader h{7, 1u << 20, 0xABCDEF, LssAddress::Make(6, 4000)};
  EncodeSegmentHeader(h, buf);
  auto back = DecodeSegmentHeader(buf);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->segment_id, 7u);
  EXPECT_EQ(back->segment_size, 1u << 20);
  EXPECT_EQ(back->store_id, 0xABCDEFu);
  EXPECT_EQ(back->resume_from, LssAddress::Make(6, 4000));
  for (std::size_t i = 0; i < kSegmentHeaderSize; ++i) {
    std::byte damaged[kSegmentHeaderSize];
    std::copy(buf, buf + kSegmentHeaderSize, damaged);
    damaged[i] ^= std::byte{0x10};
    EXPECT_FALSE(DecodeSegmentHeader(damaged).has_value()) << "byte " << i;
  }
  EXPECT_FALSE(DecodeSegmentHeader(std::span<const std::byte>(buf, 39)).has_value());
}

TEST(RecordFrameTest, RoundTripsEveryKind) {
  const LssAddress at = LssAddress::Make(3, 4096);
  for (auto kind : {RecordKind::kPageState, RecordKind::kFreePage, RecordKind::kFailedFlush, RecordKind::kSegmentEnd,
                    RecordKind::kApplication}) {
    auto bytes = Frame(kind, at, "payload bytes");
    auto frame = DecodeFrame(bytes, at, 1 << 20);
    ASSERT_TRUE(frame.has_value()) << FrameErrorName(frame.error());
    EXPECT_EQ(frame->header.kind, kind);
    EXPECT_EQ(frame->header.address, at);
    EXPECT_EQ(AsStringView(frame->body), "payload bytes");
    EXPECT_EQ(frame->header.framed_size(), bytes.size());
  }
}

TEST(RecordFrameTest, EveryMalformedFrameIsRejected) {
  const LssAddress at = LssAddress::Make(3, 4096);
  const auto good = Frame(RecordKind::kPageState, at, "0123456789");
  // Truncated at every length.
  for (std::size_t n = 0; n < good.size(); ++n) {
    auto f = DecodeFrame(std::span<const std::byte>(good).first(n), at, 1 << 20);
    ASSERT_FALSE(f.has_value()) << n;
  }
  // Any flipped bit.
  for (std::size_t i = 0; i < good.size() * 8; ++i) {
    auto bad = good;
    bad[i / 8] ^= static_cast<std::byte>(1 << (i % 8));
    ASSERT_FALSE(DecodeFrame(bad, at, 1 << 20).has_value()) << "bit " << i;
  }
  // A valid frame from another place is stale data here.
  auto moved = DecodeFrame(good, LssAddress::Make(3, 8192), 1 << 20);
  ASSERT_FALSE(moved.has_value());
  EXPECT_EQ(moved.error(), FrameError::kWrongAddress);
  auto other_segment = DecodeFrame(good, LssAddress::Make(4, 4096), 1 << 20);
  EXPECT_EQ(other_segment.error(), FrameError::kWrongAddress);
  // Zeros and random bytes.
  std::vector<std::byte> zeros(64);
  EXPECT_EQ(DecodeFrame(zeros, at, 1 << 20).error(), FrameError::kBadHeader);
  std::mt19937 rng(5);
  for (int i = 0; i < 1000; ++i) {
    std::vector<std::byte> noise(64);
    for (auto& b : noise) b = static_cast<std::byte>(rng());
    ASSERT_FALSE(DecodeFrame(noise, at, 1 << 20).has_value());
  }
  // A body larger than the caller allows is refused before it is read.
  EXPECT_EQ(DecodeFrame(good, at, 5).error(), FrameError::kBadHeader);
}

TEST(RecordFrameTest, CompressedBodiesRoundTrip) {
  std::string text(10000, 'a');
  for (std::size_t i = 0; i < text.size(); i += 7) text[i] = static_cast<char>('a' + i % 13);
  EncodedBody enc = MaybeCompress(AsBytes(text), 3);
  ASSERT_TRUE(enc.compressed);
  EXPECT_LT(enc.bytes.size(), text.size());
  std::vector<std::byte> frame(FramedSize(enc.bytes.size()));
  const LssAddress at = LssAddress::Make(1, 40);
  EncodeFrame(frame.data(), RecordKind::kPageState, at, enc.bytes, true, enc.raw_len);
  auto view = DecodeFrame(frame, at, 1 << 20);
  ASSERT_TRUE(view.has_value());
  auto body = FrameBody(*view);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(AsStringView(*body), text);
  // Incompressible bodies are stored as they are.
  std::mt19937 rng(1);
  std::vector<std::byte> noise(4096);
  for (auto& b : noise) b = static_cast<std::byte>(rng());
  EXPECT_FALSE(MaybeCompress(noise, 3).compressed);
  EXPECT_FALSE(MaybeCompress(AsBytes(text), 0).compressed) << "level 0 turns compression off";
}

TEST(PageRecordTest, RoundTripsDeltasAndBase) {
  std::vector<DeltaHandle> deltas;
  for (const char* p : {"newest", "middle", "oldest"}) {
    deltas.push_back(Share(*DeltaRecord::MakeUpdate(9, AsBytes(p))));
  }
  auto base = BasePage::Create(9, 8192, AsBytes("base contents"));
  std::vector<std::byte> body;
  ASSERT_TRUE(EncodePageRecord(9, LssAddress(), deltas, &*base, body).has_value());
  EXPECT_EQ(body.size(), PageRecordSize(deltas, &*base));
  auto rec = DecodePageRecord(body);
  ASSERT_TRUE(rec.has_value()) << rec.error().ToString();
  EXPECT_EQ(rec->pid, 9u);
  ASSERT_EQ(rec->deltas.size(), 3u);
  EXPECT_EQ(AsStringView(rec->deltas[0]->payload()), "newest");
  EXPECT_EQ(AsStringView(rec->deltas[2]->payload()), "oldest");
  ASSERT_NE(rec->base, nullptr);
  EXPECT_EQ(AsStringView(rec->base->contents()), "base contents");

  std::vector<std::byte> incremental;
  ASSERT_TRUE(
      EncodePageRecord(9, LssAddress::Make(2, 100), std::span(deltas).first(1), nullptr, incremental).has_value());
  auto inc = DecodePageRecord(incremental);
  ASSERT_TRUE(inc.has_value());
  EXPECT_EQ(inc->prior, LssAddress::Make(2, 100));
  EXPECT_EQ(inc->base, nullptr);
}

TEST(PageRecordTest, RejectsInconsistentInput) {
  auto d = Share(*DeltaRecord::MakeUpdate(9, AsBytes("x")));
  auto base = BasePage::Create(9, 4096);
  std::vector<std::byte> out;
  EXPECT_FALSE(EncodePageRecord(9, LssAddress::Make(1, 40), {}, &*base, out).has_value()) << "base and prior together";
  EXPECT_FALSE(EncodePageRecord(8, LssAddress(), std::vector{d}, nullptr, out).has_value()) << "delta of another page";
  ASSERT_TRUE(EncodePageRecord(9, LssAddress(), std::vector{d}, &*base, out).has_value());
  for (std::size_t n = 0; n < out.size(); ++n) {
    ASSERT_FALSE(DecodePageRecord(std::span<const std::byte>(out).first(n)).has_value()) << n;
  }
  auto hostile = out;
  EncodeFixed32(hostile.data() + page_record_format::kDeltaCountOffset, 0xFFFFFFFF);
  auto r = DecodePageRecord(hostile);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace llama
