// Checkpoint files (lss/recovery/checkpoint.h, docs/FORMAT.md ("Checkpoint file")): names, the encoding and
// every way a decoder can be handed damaged or hostile bytes, the durable write, loading
// with fallback past damaged files, and pruning. Files live in a fresh directory per test.
#include "lss/recovery/checkpoint.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "llama/coding.h"
#include "lss/file/file_names.h"
#include "tests/lss/recovery/checkpoint_examples.h"
#include "util/checksum.h"

namespace llama {
namespace {

using Bytes = std::vector<std::byte>;

// Substring check without gmock (the test binaries link GoogleTest only).
::testing::AssertionResult Contains(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << '"' << text << "\" does not contain \"" << part << '"';
}

// Field offsets of the layout (docs/FORMAT.md ("Checkpoint file")), spelled out independently of
// the implementation so the tests check the document.
constexpr std::size_t kOffMagic = 0;
constexpr std::size_t kOffVersion = 4;
constexpr std::size_t kOffHeaderSize = 6;
constexpr std::size_t kOffSequence = 16;
constexpr std::size_t kOffScanStart = 24;
constexpr std::size_t kOffReserved1 = 36;
constexpr std::size_t kOffPageCount = 40;
constexpr std::size_t kOffAppLen = 48;
constexpr std::size_t kOffReserved2 = 52;
constexpr std::size_t kHeaderSize = 56;

std::string Hex(const Bytes& b) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (std::byte x : b) {
    s += digits[std::to_integer<int>(x) >> 4];
    s += digits[std::to_integer<int>(x) & 15];
  }
  return s;
}

Bytes FromHex(std::string_view hex) {
  Bytes out;
  int half = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      continue;  // spaces and line breaks
    }
    if (half < 0) {
      half = v;
    } else {
      out.push_back(static_cast<std::byte>(half * 16 + v));
      half = -1;
    }
  }
  return out;
}

Bytes ToBytes(std::string_view s) {
  Bytes b;
  for (char c : s) b.push_back(static_cast<std::byte>(c));
  return b;
}

// Rewrites the trailer so the checksum matches whatever the bytes now say: hostile files
// that pass the checksum and must be caught by the structural checks.
void Reseal(Bytes& b) {
  const std::size_t end = b.size() - 8;
  EncodeFixed64(b.data() + end, Checksum64(std::span<const std::byte>(b.data(), end)));
}

CheckpointData Sample(std::uint64_t sequence, std::uint64_t store_id = 7) {
  CheckpointData d;
  d.sequence = sequence;
  d.store_id = store_id;
  d.scan_start = LssAddress::Make(9, 0x1000);
  d.oldest_segment = 2;
  d.pages = {
      {.pid = 0, .chain = {{LssAddress::Make(9, 0x20), 100}}},
      {.pid = 3,
       .chain = {{LssAddress::Make(8, 0x400), 64}, {LssAddress::Make(5, 0x80), 4096}, {LssAddress::Make(2, 0x20), 33}}},
      {.pid = 4, .chain = {{LssAddress::Make(9, 0x900), 48}, {LssAddress::Make(9, 0x20), 100}}},
      {.pid = 0xFFFFFFFF, .chain = {{LssAddress::Make(LssAddress::kMaxSegment, 0x20), 40}}},
  };
  d.application_state = ToBytes("roots: 17, 23");
  d.application_state.push_back(std::byte{0});
  d.application_state.push_back(std::byte{0xFF});
  return d;
}

constexpr std::string_view kDocExampleHex = R"(
4c 4c 43 4b 01 00 38 00 88 77 66 55 44 33 22 11
2a 00 00 00 00 00 00 00 40 00 00 00 03 00 00 00
02 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00
02 00 00 00 00 00 00 00 05 00 00 00 02 00 00 00
20 00 00 00 03 00 00 00 30 00 00 00 00 01 00 00
02 00 00 00 80 00 00 00 68 69 33 c2 4f d0 be f3
c5 86
)";

constexpr std::string_view kDocExampleWithSettingsHex = R"(
4c 4c 43 4b 02 00 48 00 88 77 66 55 44 33 22 11
2a 00 00 00 00 00 00 00 40 00 00 00 03 00 00 00
02 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00
02 00 00 00 00 00 00 00 00 01 00 03 00 00 10 00
04 00 00 00 08 00 00 00 05 00 00 00 02 00 00 00
20 00 00 00 03 00 00 00 30 00 00 00 00 01 00 00
02 00 00 00 80 00 00 00 68 69 71 b7 58 0f 8c 4a
1e 38
)";

void ExpectCorrupt(const Bytes& bytes, std::string_view message_part) {
  auto d = DecodeCheckpoint(bytes);
  ASSERT_FALSE(d.has_value()) << "decoded, expected: " << message_part;
  EXPECT_EQ(d.error().code(), ErrorCode::kCorruption);
  EXPECT_TRUE(Contains(d.error().message(), message_part));
  EXPECT_EQ(d.error().message().rfind("checkpoint: ", 0), 0u) << d.error().message();
}

// ---------------------------------------------------------------------------------------
// File names.

TEST(CheckpointNameTest, FormatsSixteenLowerCaseHexDigits) {
  EXPECT_EQ(CheckpointFileName(42), "CHECKPOINT-000000000000002a");
  EXPECT_EQ(CheckpointFileName(0), "CHECKPOINT-0000000000000000");
  EXPECT_EQ(CheckpointFileName(std::numeric_limits<std::uint64_t>::max()), "CHECKPOINT-ffffffffffffffff");
}

TEST(CheckpointNameTest, ParsesWhatItFormats) {
  for (std::uint64_t seq : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{42}, std::uint64_t{0xDEADBEEFCAFEF00D},
                            std::numeric_limits<std::uint64_t>::max()}) {
    EXPECT_EQ(ParseCheckpointFileName(CheckpointFileName(seq)), seq);
  }
}

TEST(CheckpointNameTest, RejectsOtherNames) {
  for (const char* name :
       {"", "CHECKPOINT-", "CHECKPOINT-zz", "CHECKPOINT-2a", "CHECKPOINT-000000000000002a.tmp",
        "CHECKPOINT-000000000000002A", "CHECKPOINT-00000000000000002a", "CHECKPOINT-00000000000002a",
        "CHECKPOINT-0000000000000zz2a", "checkpoint-000000000000002a", "CHECKPOINT_000000000000002a",
        "XCHECKPOINT-000000000000002a", "CHECKPOINT-000000000000002a ", "segment-00000001", "CURRENT"}) {
    EXPECT_EQ(ParseCheckpointFileName(name), std::nullopt) << name;
  }
}

// ---------------------------------------------------------------------------------------
// Encoding.

TEST(CheckpointCodecTest, EmptyRoundTrips) {
  CheckpointData d;
  d.sequence = 1;
  d.scan_start = LssAddress::Make(1, 32);
  d.oldest_segment = 1;
  const Bytes bytes = EncodeCheckpoint(d);
  EXPECT_EQ(bytes.size(), kHeaderSize + 8);
  auto back = DecodeCheckpoint(bytes);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, d);
}

TEST(CheckpointCodecTest, PagesChainsAndApplicationStateRoundTrip) {
  const CheckpointData d = Sample(1234567890123, 0xABCDEF);
  ASSERT_TRUE(ValidateCheckpoint(d).has_value());
  const Bytes bytes = EncodeCheckpoint(d);
  // header + 4 page entries + 7 records + application state + trailer
  EXPECT_EQ(bytes.size(), kHeaderSize + 4 * 8 + 7 * 12 + d.application_state.size() + 8);
  auto back = DecodeCheckpoint(bytes);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, d);
  EXPECT_EQ(EncodeCheckpoint(*back), bytes);
}

TEST(CheckpointCodecTest, ApplicationStateAtTheLimitRoundTrips) {
  CheckpointData d = Sample(1);
  d.application_state.assign(kMaxCheckpointApplicationState, std::byte{0x5A});
  ASSERT_TRUE(ValidateCheckpoint(d).has_value());
  auto back = DecodeCheckpoint(EncodeCheckpoint(d));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, d);
}

TEST(CheckpointCodecTest, DocumentedExampleBytes) {
  // docs/FORMAT.md ("Checkpoint file") shows exactly these bytes.
  const Bytes bytes = EncodeCheckpoint(checkpoint_examples::Version1());
  const Bytes want = FromHex(kDocExampleHex);
  ASSERT_EQ(want.size(), 98u);
  EXPECT_EQ(Hex(bytes), Hex(want));
  // The trailer is XXH3-64 of the 90 bytes before it: 0x86c5f3bed04fc233.
  EXPECT_EQ(Checksum64(std::span<const std::byte>(want.data(), 90)), 0x86c5f3bed04fc233u);
  auto back = DecodeCheckpoint(want);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, checkpoint_examples::Version1());
}

TEST(CheckpointCodecTest, WriterSettingsExampleBytes) {
  // docs/FORMAT.md ("Writer settings") shows exactly these bytes: version 2, a 72-byte
  // header, then the same entries as the version 1 example.
  const Bytes bytes = EncodeCheckpoint(checkpoint_examples::Version2());
  const Bytes want = FromHex(kDocExampleWithSettingsHex);
  ASSERT_EQ(want.size(), 114u);
  EXPECT_EQ(Hex(bytes), Hex(want));
  auto back = DecodeCheckpoint(want);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, checkpoint_examples::Version2());
}

TEST(CheckpointCodecTest, EveryWriterSettingRoundTrips) {
  for (std::uint8_t requested : {0, 1, 2}) {
    for (std::uint8_t in_use : {0, 1, 2}) {
      for (bool fell_back : {false, true}) {
        for (std::int8_t level :
             {std::int8_t{-128}, std::int8_t{-5}, std::int8_t{0}, std::int8_t{22}, std::int8_t{127}}) {
          CheckpointData d = Sample(9);
          d.settings = CheckpointSettings{requested, in_use, fell_back, level, 0xFFFFFFFFu, 1, 0x12345678};
          const Bytes bytes = EncodeCheckpoint(d);
          auto back = DecodeCheckpoint(bytes);
          ASSERT_TRUE(back.has_value()) << back.error().ToString();
          EXPECT_EQ(*back, d);
          EXPECT_EQ(EncodeCheckpoint(*back), bytes);
        }
      }
    }
  }
  EXPECT_EQ(CheckpointBackendName(0, true), "auto");
  EXPECT_EQ(CheckpointBackendName(0, false), "unknown");
  EXPECT_EQ(CheckpointBackendName(1, false), "io_uring");
  EXPECT_EQ(CheckpointBackendName(2, true), "posix");
}

// ---------------------------------------------------------------------------------------
// Damaged bytes.

TEST(CheckpointDecodeTest, EveryTruncationIsCorruption) {
  for (const CheckpointData& example : {checkpoint_examples::Version1(), checkpoint_examples::Version2()}) {
    const Bytes bytes = EncodeCheckpoint(example);
    for (std::size_t len = 0; len < bytes.size(); ++len) {
      SCOPED_TRACE(len);
      const Bytes cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len));
      auto d = DecodeCheckpoint(cut);
      ASSERT_FALSE(d.has_value());
      EXPECT_EQ(d.error().code(), ErrorCode::kCorruption);
    }
  }
}

TEST(CheckpointDecodeTest, EveryBitFlipIsDetected) {
  for (const CheckpointData& example : {checkpoint_examples::Version1(), checkpoint_examples::Version2()}) {
    const Bytes bytes = EncodeCheckpoint(example);
    for (std::size_t bit = 0; bit < bytes.size() * 8; ++bit) {
      SCOPED_TRACE(bit);
      Bytes flipped = bytes;
      flipped[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
      auto d = DecodeCheckpoint(flipped);
      ASSERT_FALSE(d.has_value());
      EXPECT_EQ(d.error().code(), ErrorCode::kCorruption);
    }
  }
}

TEST(CheckpointDecodeTest, UnknownWriterSettingCodesAreCorruption) {
  const std::size_t settings = kHeaderSize;
  for (std::size_t off : {settings + 0, settings + 1}) {
    SCOPED_TRACE(off);
    Bytes bytes = EncodeCheckpoint(checkpoint_examples::Version2());
    bytes[off] = std::byte{3};
    Reseal(bytes);
    ExpectCorrupt(bytes, "writer settings: unknown io backend code 3");
  }
  Bytes bytes = EncodeCheckpoint(checkpoint_examples::Version2());
  bytes[settings + 2] = std::byte{0x82};
  Reseal(bytes);
  ExpectCorrupt(bytes, "writer settings: unknown flags 130");
  // A version 2 file shorter than its header plus trailer, with a valid checksum.
  bytes = EncodeCheckpoint(checkpoint_examples::Version1());
  EncodeFixed16(bytes.data() + kOffVersion, 2);
  EncodeFixed16(bytes.data() + kOffHeaderSize, 72);
  bytes.resize(72);
  Reseal(bytes);
  ExpectCorrupt(bytes, "72 bytes is shorter than the 80-byte minimum of version 2");
}

TEST(CheckpointDecodeTest, ChecksumMismatch) {
  Bytes bytes = EncodeCheckpoint(Sample(3));
  bytes[kOffSequence] ^= std::byte{1};
  ExpectCorrupt(bytes, "checkpoint: checksum mismatch");
  bytes = EncodeCheckpoint(Sample(3));
  bytes.back() ^= std::byte{0x80};
  ExpectCorrupt(bytes, "checkpoint: checksum mismatch");
}

TEST(CheckpointDecodeTest, TooShort) {
  ExpectCorrupt({}, "0 bytes is shorter than the 64-byte minimum");
  ExpectCorrupt(Bytes(63), "63 bytes is shorter than the 64-byte minimum");
}

TEST(CheckpointDecodeTest, WrongMagicVersionOrHeaderSize) {
  Bytes bytes = EncodeCheckpoint(Sample(3));
  bytes[kOffMagic] = std::byte{'X'};
  Reseal(bytes);
  ExpectCorrupt(bytes, "bad magic");

  bytes = EncodeCheckpoint(Sample(3));
  EncodeFixed16(bytes.data() + kOffVersion, 3);
  Reseal(bytes);
  ExpectCorrupt(bytes, "unknown format version 3");

  bytes = EncodeCheckpoint(Sample(3));
  EncodeFixed16(bytes.data() + kOffVersion, 0);
  Reseal(bytes);
  ExpectCorrupt(bytes, "unknown format version 0");

  bytes = EncodeCheckpoint(Sample(3));
  EncodeFixed16(bytes.data() + kOffHeaderSize, 64);
  Reseal(bytes);
  ExpectCorrupt(bytes, "header size 64, expected 56 for version 1");

  // Version 2 says 72; a version 1 header size with version 2 is refused, and vice versa.
  bytes = EncodeCheckpoint(checkpoint_examples::Version2());
  EncodeFixed16(bytes.data() + kOffHeaderSize, 56);
  Reseal(bytes);
  ExpectCorrupt(bytes, "header size 56, expected 72 for version 2");
  bytes = EncodeCheckpoint(Sample(3));
  EncodeFixed16(bytes.data() + kOffVersion, 2);
  Reseal(bytes);
  ExpectCorrupt(bytes, "header size 56, expected 72 for version 2");

  // A file of another kind (a segment header's magic) is not mistaken for a checkpoint.
  bytes = EncodeCheckpoint(Sample(3));
  EncodeFixed32(bytes.data() + kOffMagic, 0x47534C4C);
  ExpectCorrupt(bytes, "bad magic 0x47534c4c");
}

TEST(CheckpointDecodeTest, ReservedBytesMustBeZero) {
  for (std::size_t off : {kOffReserved1, kOffReserved1 + 3, kOffReserved2, kOffReserved2 + 2}) {
    SCOPED_TRACE(off);
    Bytes bytes = EncodeCheckpoint(Sample(3));
    bytes[off] = std::byte{1};
    Reseal(bytes);
    ExpectCorrupt(bytes, "reserved header bytes are not zero");
  }
}

TEST(CheckpointDecodeTest, HostilePageCountIsRejectedBeforeAllocating) {
  // Counts that would need terabytes if trusted; with a valid checksum only the size
  // arithmetic stands between them and the allocator (ASan would report the attempt).
  for (std::uint64_t count :
       {std::uint64_t{4000000000}, std::uint64_t{1} << 60, std::numeric_limits<std::uint64_t>::max(),
        std::numeric_limits<std::uint64_t>::max() / 20 + 1}) {
    SCOPED_TRACE(count);
    Bytes bytes = EncodeCheckpoint(Sample(3));
    EncodeFixed64(bytes.data() + kOffPageCount, count);
    Reseal(bytes);
    ExpectCorrupt(bytes, "page count " + std::to_string(count) + " exceeds file size");
  }
  // One page more than the file holds.
  Bytes bytes = EncodeCheckpoint(Sample(3));
  EncodeFixed64(bytes.data() + kOffPageCount, 5);
  Reseal(bytes);
  ExpectCorrupt(bytes, "exceeds file size");
  // No pages at all, yet the count says one.
  CheckpointData empty = Sample(3);
  empty.pages.clear();
  empty.application_state.clear();
  bytes = EncodeCheckpoint(empty);
  EncodeFixed64(bytes.data() + kOffPageCount, 1);
  Reseal(bytes);
  ExpectCorrupt(bytes, "checkpoint: page count 1 exceeds file size");
}

TEST(CheckpointDecodeTest, HostileChainLengthIsRejectedBeforeAllocating) {
  // The first page entry's chain length (bytes 60..63).
  for (std::uint32_t len :
       {std::uint32_t{4000000000}, std::uint32_t{0xFFFFFFFF}, std::uint32_t{0x15555556}, std::uint32_t{2}}) {
    SCOPED_TRACE(len);
    CheckpointData d = Sample(3);
    d.pages.resize(1);  // page 0, one record
    Bytes bytes = EncodeCheckpoint(d);
    EncodeFixed32(bytes.data() + kHeaderSize + 4, len);
    Reseal(bytes);
    ExpectCorrupt(bytes, "page 0 chain length " + std::to_string(len) + " exceeds file size");
  }
}

TEST(CheckpointDecodeTest, HostileApplicationStateLength) {
  Bytes bytes = EncodeCheckpoint(Sample(3));
  EncodeFixed32(bytes.data() + kOffAppLen, 0xFFFFFFFF);
  Reseal(bytes);
  ExpectCorrupt(bytes, "application state length 4294967295 exceeds the 67108864-byte limit");

  bytes = EncodeCheckpoint(Sample(3));
  EncodeFixed32(bytes.data() + kOffAppLen, 1 << 20);
  Reseal(bytes);
  ExpectCorrupt(bytes, "application state length 1048576 exceeds file size");

  // One byte too long: the last record entry loses a byte to it.
  bytes = EncodeCheckpoint(Sample(3));
  EncodeFixed32(bytes.data() + kOffAppLen, static_cast<std::uint32_t>(Sample(3).application_state.size() + 1));
  Reseal(bytes);
  ExpectCorrupt(bytes, "exceeds file size");
}

TEST(CheckpointDecodeTest, BytesLeftBetweenPagesAndApplicationState) {
  // The count says one page fewer than the file holds.
  Bytes bytes = EncodeCheckpoint(Sample(3));
  EncodeFixed64(bytes.data() + kOffPageCount, 3);
  Reseal(bytes);
  ExpectCorrupt(bytes, "20 bytes between the page entries and the application state");
  // The application state claims one byte fewer than it has.
  bytes = EncodeCheckpoint(Sample(3));
  EncodeFixed32(bytes.data() + kOffAppLen, static_cast<std::uint32_t>(Sample(3).application_state.size() - 1));
  Reseal(bytes);
  ExpectCorrupt(bytes, "1 bytes between the page entries and the application state");
}

// A checkpoint that breaks one semantic rule: the encoder writes it as given, the decoder
// refuses it as Corruption, ValidateCheckpoint and WriteCheckpoint as InvalidArgument.
void ExpectRuleBroken(const CheckpointData& d, std::string_view message_part) {
  ExpectCorrupt(EncodeCheckpoint(d), message_part);
  auto v = ValidateCheckpoint(d);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(v.error().message(), message_part));
}

TEST(CheckpointDecodeTest, PidsMustStrictlyIncrease) {
  CheckpointData d = Sample(3);
  std::swap(d.pages[1], d.pages[2]);
  ExpectRuleBroken(d, "page 3 follows page 4 (pids must strictly increase)");
  d = Sample(3);
  d.pages[2].pid = 3;
  ExpectRuleBroken(d, "page 3 follows page 3");
}

TEST(CheckpointDecodeTest, ChainsAreNotEmpty) {
  CheckpointData d = Sample(3);
  d.pages[1].chain.clear();
  ExpectRuleBroken(d, "page 3 has an empty chain");
}

TEST(CheckpointDecodeTest, RecordAddressesAndLengthsAreValid) {
  CheckpointData d = Sample(3);
  d.pages[1].chain[1].address = LssAddress();
  ExpectRuleBroken(d, "page 3 record 0x0 is not a valid address");

  d = Sample(3);
  d.pages[1].chain[1].address = LssAddress::Make(0, 0x80);  // segment 0 does not exist
  ExpectRuleBroken(d, "page 3 record 0x80 is not a valid address");

  d = Sample(3);
  d.pages[0].chain[0].address = LssAddress::FromRaw(0x8000000100000020);  // top bit set
  ExpectRuleBroken(d, "page 0 record 0x8000000100000020 is not a valid address");

  d = Sample(3);
  d.pages[1].chain[2].address = LssAddress::Make(1, 0x20);  // oldest_segment is 2
  ExpectRuleBroken(d, "page 3 record 0x100000020 is below oldest segment 2");

  d = Sample(3);
  d.pages[2].chain[0].length = 0;
  ExpectRuleBroken(d, "page 4 record 0x900000900 length 0 is shorter than a frame header");

  d = Sample(3);
  d.pages[2].chain[0].length = 31;
  ExpectRuleBroken(d, "length 31 is shorter than a frame header");

  d = Sample(3);
  d.pages[2].chain[0] = {LssAddress::Make(9, (1u << 30) - 32), 33};
  ExpectRuleBroken(d, "length 33 runs past the largest segment");
}

TEST(CheckpointEncodeTest, ScanStartIsAtItsDocumentedOffset) {
  const CheckpointData d = Sample(3);
  const Bytes bytes = EncodeCheckpoint(d);
  ASSERT_GE(bytes.size(), kHeaderSize);
  EXPECT_EQ(DecodeFixed64(bytes.data() + kOffScanStart), d.scan_start.raw());
}

TEST(CheckpointDecodeTest, ScanStartAndOldestSegmentAreConsistent) {
  CheckpointData d = Sample(3);
  d.scan_start = LssAddress();
  ExpectRuleBroken(d, "scan start 0x0 is not a valid address");

  d = Sample(3);
  d.scan_start = LssAddress::FromRaw(0xFFFFFFFF00000000);
  ExpectRuleBroken(d, "scan start 0xffffffff00000000 is not a valid address");

  d = Sample(3);
  d.oldest_segment = 0;
  ExpectRuleBroken(d, "oldest segment 0 is not in 1..scan start segment 9");

  d = Sample(3);
  d.oldest_segment = 10;
  ExpectRuleBroken(d, "oldest segment 10 is not in 1..scan start segment 9");
}

TEST(CheckpointDecodeTest, ApplicationStateOverTheLimitIsInvalid) {
  CheckpointData d = Sample(3);
  d.application_state.assign(kMaxCheckpointApplicationState + 1, std::byte{1});
  ExpectRuleBroken(d, "application state length 67108865 exceeds the 67108864-byte limit");
}

// ---------------------------------------------------------------------------------------
// Files: write, load, prune.

class CheckpointFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "checkpoint_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    env_ = NewPosixEnv();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string PathOf(const std::string& name) const { return dir_ + "/" + name; }

  void Write(const CheckpointData& d) {
    auto s = WriteCheckpoint(*env_, dir_, d);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
  }

  void PutFile(const std::string& name, const Bytes& bytes) const {
    std::ofstream out(PathOf(name), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good());
  }

  Bytes GetFile(const std::string& name) const {
    std::ifstream in(PathOf(name), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return ToBytes(text);
  }

  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  LoadedCheckpoint Load(std::uint64_t store_id = 0) {
    auto loaded = LoadNewestCheckpoint(*env_, dir_, store_id);
    EXPECT_TRUE(loaded.has_value()) << loaded.error().ToString();
    return loaded.has_value() ? std::move(*loaded) : LoadedCheckpoint{};
  }

  std::string dir_;
  std::unique_ptr<Env> env_;
};

TEST_F(CheckpointFileTest, WriteThenLoadRoundTrips) {
  Write(Sample(5));
  EXPECT_EQ(Names(), std::vector<std::string>{"CHECKPOINT-0000000000000005"});
  EXPECT_EQ(GetFile("CHECKPOINT-0000000000000005"), EncodeCheckpoint(Sample(5)));
  const LoadedCheckpoint loaded = Load(7);
  ASSERT_TRUE(loaded.checkpoint.has_value());
  EXPECT_EQ(*loaded.checkpoint, Sample(5));
  EXPECT_TRUE(loaded.damaged.empty());
}

TEST_F(CheckpointFileTest, LoadPicksTheNewest) {
  // Written out of order: the sequence decides, not the write order or the listing order.
  for (std::uint64_t seq : {3, 1, 0x10, 2}) Write(Sample(seq));
  const LoadedCheckpoint loaded = Load();
  ASSERT_TRUE(loaded.checkpoint.has_value());
  EXPECT_EQ(loaded.checkpoint->sequence, 0x10u);
  EXPECT_TRUE(loaded.damaged.empty());
}

TEST_F(CheckpointFileTest, NoCheckpointIsNotAnError) {
  const LoadedCheckpoint loaded = Load();
  EXPECT_FALSE(loaded.checkpoint.has_value());
  EXPECT_TRUE(loaded.damaged.empty());
  // Other files in the directory are not checkpoints.
  PutFile("segment-00000001", Bytes(100, std::byte{1}));
  PutFile("CHECKPOINT-zz", EncodeCheckpoint(Sample(1)));
  EXPECT_FALSE(Load().checkpoint.has_value());
}

TEST_F(CheckpointFileTest, MissingDirectoryIsAnError) {
  auto loaded = LoadNewestCheckpoint(*env_, dir_ + "/absent", 0);
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().code(), ErrorCode::kNotFound);
  auto pruned = PruneCheckpoints(*env_, dir_ + "/absent", 1);
  ASSERT_FALSE(pruned.has_value());
  auto written = WriteCheckpoint(*env_, dir_ + "/absent", Sample(1));
  ASSERT_FALSE(written.has_value());
}

TEST_F(CheckpointFileTest, CorruptNewestFallsBackAndIsReported) {
  Write(Sample(1));
  Write(Sample(2));
  Write(Sample(3));
  Bytes bytes = GetFile("CHECKPOINT-0000000000000003");
  bytes[100] ^= std::byte{4};
  PutFile("CHECKPOINT-0000000000000003", bytes);
  PutFile("CHECKPOINT-0000000000000002", {});  // a power cut that left an empty file

  const LoadedCheckpoint loaded = Load(7);
  ASSERT_TRUE(loaded.checkpoint.has_value());
  EXPECT_EQ(*loaded.checkpoint, Sample(1));
  EXPECT_EQ(loaded.damaged,
            (std::vector<std::string>{"CHECKPOINT-0000000000000003: checkpoint: checksum mismatch",
                                      "CHECKPOINT-0000000000000002: checkpoint: 0 bytes is shorter than the 64-byte "
                                      "minimum"}));
  // Loading never deletes anything.
  EXPECT_EQ(Names().size(), 3u);
}

TEST_F(CheckpointFileTest, AllDamagedGivesNoCheckpoint) {
  Write(Sample(1));
  Bytes bytes = GetFile("CHECKPOINT-0000000000000001");
  ASSERT_FALSE(bytes.empty());
  bytes.pop_back();
  PutFile("CHECKPOINT-0000000000000001", bytes);
  const LoadedCheckpoint loaded = Load();
  EXPECT_FALSE(loaded.checkpoint.has_value());
  ASSERT_EQ(loaded.damaged.size(), 1u);
  EXPECT_TRUE(Contains(loaded.damaged[0], "CHECKPOINT-0000000000000001: checkpoint: "));
}

TEST_F(CheckpointFileTest, SequenceMustMatchTheFileName) {
  Write(Sample(1));
  PutFile(CheckpointFileName(9), EncodeCheckpoint(Sample(4)));
  const LoadedCheckpoint loaded = Load();
  ASSERT_TRUE(loaded.checkpoint.has_value());
  EXPECT_EQ(loaded.checkpoint->sequence, 1u);
  EXPECT_EQ(loaded.damaged, std::vector<std::string>{"CHECKPOINT-0000000000000009: checkpoint: sequence 4 does "
                                                     "not match the file name"});
}

TEST_F(CheckpointFileTest, OtherStoresAreSkipped) {
  Write(Sample(1, /*store_id=*/7));
  Write(Sample(2, /*store_id=*/9));
  LoadedCheckpoint loaded = Load(7);
  ASSERT_TRUE(loaded.checkpoint.has_value());
  EXPECT_EQ(*loaded.checkpoint, Sample(1, 7));
  EXPECT_EQ(loaded.damaged, std::vector<std::string>{"CHECKPOINT-0000000000000002: checkpoint: "
                                                     "store id 9 does not match 7"});
  loaded = Load(0);  // any store
  ASSERT_TRUE(loaded.checkpoint.has_value());
  EXPECT_EQ(*loaded.checkpoint, Sample(2, 9));
  loaded = Load(8);
  EXPECT_FALSE(loaded.checkpoint.has_value());
  EXPECT_EQ(loaded.damaged.size(), 2u);
}

TEST_F(CheckpointFileTest, TmpLeftoversAreIgnoredByLoadAndRemovedByPrune) {
  Write(Sample(1));
  Write(Sample(2));
  // An unfinished newer checkpoint, complete and valid but never renamed, and a torn one.
  PutFile("CHECKPOINT-0000000000000003.tmp", EncodeCheckpoint(Sample(3)));
  PutFile("CHECKPOINT-0000000000000004.tmp", Bytes(10, std::byte{0}));
  // Files that are not checkpoint leftovers stay.
  PutFile("segment-00000001", Bytes(64, std::byte{0}));
  PutFile("other.tmp", Bytes(3, std::byte{0}));

  LoadedCheckpoint loaded = Load();
  ASSERT_TRUE(loaded.checkpoint.has_value());
  EXPECT_EQ(loaded.checkpoint->sequence, 2u);
  EXPECT_TRUE(loaded.damaged.empty());

  ASSERT_TRUE(PruneCheckpoints(*env_, dir_, 5).has_value());
  EXPECT_EQ(Names(), (std::vector<std::string>{"CHECKPOINT-0000000000000001", "CHECKPOINT-0000000000000002",
                                               "other.tmp", "segment-00000001"}));
}

TEST_F(CheckpointFileTest, WriteReplacesALeftoverTmpOfTheSameName) {
  PutFile("CHECKPOINT-0000000000000006.tmp", Bytes(1000, std::byte{0xEE}));
  Write(Sample(6));
  EXPECT_EQ(Names(), std::vector<std::string>{"CHECKPOINT-0000000000000006"});
  EXPECT_EQ(GetFile("CHECKPOINT-0000000000000006"), EncodeCheckpoint(Sample(6)));
}

TEST_F(CheckpointFileTest, WriteRefusesAnInvalidCheckpointAndWritesNothing) {
  CheckpointData d = Sample(6);
  d.pages[0].chain.clear();
  auto s = WriteCheckpoint(*env_, dir_, d);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.error().message(), "page 0 has an empty chain"));
  EXPECT_TRUE(Names().empty());
}

TEST_F(CheckpointFileTest, PruneKeepsExactlyTheNewestValidOnes) {
  for (std::uint64_t seq = 1; seq <= 6; ++seq) Write(Sample(seq));
  // 6 is damaged and 4 too: the newest two valid ones are 5 and 3.
  for (const char* name : {"CHECKPOINT-0000000000000006", "CHECKPOINT-0000000000000004"}) {
    Bytes bytes = GetFile(name);
    bytes[0] = std::byte{0};
    PutFile(name, bytes);
  }
  ASSERT_TRUE(PruneCheckpoints(*env_, dir_, 2).has_value());
  // The damaged 6 is newer than what is kept, so it stays for the store to report; the
  // damaged 4 sits between kept ones and stays too; 2 and 1 go.
  EXPECT_EQ(Names(), (std::vector<std::string>{"CHECKPOINT-0000000000000003", "CHECKPOINT-0000000000000004",
                                               "CHECKPOINT-0000000000000005", "CHECKPOINT-0000000000000006"}));
  const LoadedCheckpoint loaded = Load();
  ASSERT_TRUE(loaded.checkpoint.has_value());
  EXPECT_EQ(loaded.checkpoint->sequence, 5u);

  ASSERT_TRUE(PruneCheckpoints(*env_, dir_, 1).has_value());
  EXPECT_EQ(Names(), (std::vector<std::string>{"CHECKPOINT-0000000000000005", "CHECKPOINT-0000000000000006"}));
}

TEST_F(CheckpointFileTest, PruneWithFewerValidThanKeepDeletesNoCheckpoint) {
  Write(Sample(1));
  Write(Sample(2));
  PutFile("CHECKPOINT-0000000000000003", Bytes(5, std::byte{0}));
  ASSERT_TRUE(PruneCheckpoints(*env_, dir_, 3).has_value());
  EXPECT_EQ(Names().size(), 3u);
  ASSERT_TRUE(PruneCheckpoints(*env_, dir_, 2).has_value());
  EXPECT_EQ(Names().size(), 3u);
  ASSERT_TRUE(PruneCheckpoints(*env_, dir_, 1).has_value());
  EXPECT_EQ(Names(), (std::vector<std::string>{"CHECKPOINT-0000000000000002", "CHECKPOINT-0000000000000003"}));
}

TEST_F(CheckpointFileTest, PruneMustKeepOne) {
  Write(Sample(1));
  auto s = PruneCheckpoints(*env_, dir_, 0);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Names().size(), 1u);
}

}  // namespace
}  // namespace llama
