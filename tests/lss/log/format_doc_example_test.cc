// The log-structured store's worked examples of docs/FORMAT.md ("Worked examples"), byte
// for byte: a segment header, a PageState frame, a SegmentEnd frame, a whole segment file
// as the log writer lays it out, a STORE file and a checkpoint file. The annotated hex and
// the dumps below must appear verbatim in the document (checked by reading it) and must be
// the bytes the code produces, so the document cannot drift from the code.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "llama/coding.h"
#include "llama/delta_record.h"
#include "llama/env.h"
#include "lss/file/file_names.h"
#include "lss/file/segment_set.h"
#include "lss/log/log_format.h"
#include "lss/log/log_reader.h"
#include "lss/log/log_writer.h"
#include "lss/log/page_record.h"
#include "lss/log/record_frame.h"
#include "lss/recovery/checkpoint.h"
#include "lss/recovery/store_identity.h"
#include "tests/deltas/delta_test_util.h"
#include "tests/format_doc.h"
#include "tests/lss/file/env_test_util.h"
#include "tests/lss/recovery/checkpoint_examples.h"
#include "util/checksum.h"

namespace llama {
namespace {

using ::llama::testing::DocExample;
using ::llama::testing::FormatMdPath;

using namespace log_format;
using Bytes = std::vector<std::byte>;
using delta_test::FromHex;
using delta_test::Hex;
using delta_test::ToBytes;
using testing_env::ReadAll;
using testing_env::TempDir;

constexpr std::uint64_t kStoreId = 0x0123456789abcdef;
constexpr std::uint32_t kSegmentSize = 64 * 1024;

constexpr char kSegmentHeaderExample[] = R"(
4c 4c 53 47                | Magic          "LLSG"
01 00                      | Version        1
28 00                      | Header size    40
01 00 00 00                | Segment        1
00 00 01 00                | Segment size   0x10000 = 64 KiB
ef cd ab 89 67 45 23 01    | Store id       0x0123456789abcdef
00 00 00 00 00 00 00 00    | Resume from    none: the first segment of a new store
a9 ca c0 78 7b 95 2f b3    | Checksum       XXH3-64 of bytes 0..31 = 0xb32f957b78c0caa9
)";

constexpr char kPageStateExample[] = R"(
32 bb e9 10 6e 3d 43 40    | Checksum       XXH3-64 of bytes 8..93 = 0x40433d6e10e9bb32
3e 00 00 00                | Body length    62 = 24-byte PageState header + 38-byte delta
3e 00 00 00                | Raw length     62: stored as is
01 00 00 00                | Segment        1
83 00 00 00                | Offset         0x83: the frame is at segment 1, offset 0x83
01                         | Kind           1: PageState
00                         | Flags          0: not compressed
00 00                      | Reserved       0
00 00 00 00                | Reserved       0
07 00 00 00                | PID            7                    (body: PageState header)
00                         | Flags          0: no base page
00 00 00                   | Reserved       0
28 00 00 00 01 00 00 00    | Prior          segment 1, offset 0x28: the older part
01 00 00 00                | Delta count    1
00 00 00 00                | Base length    0: no base page
26 00 00 00                | Len            38                   (body: the delta record)
00 00 00 00                | LSS Off        0: not filled in
07 00 00 00                | PID            7
20                         | Packed Bits    U: an Update delta
00 00 00 00 00 00 00 00    | Prior State    none
00 00 00 00 00 00 00 00    | Last Flushed   none
05 00 00 00                | PLen           5
68 65 6c 6c 6f             | Payload        "hello"
)";

constexpr char kSegmentEndExample[] = R"(
75 4a 63 39 41 52 cc 69    | Checksum       XXH3-64 of bytes 8..35 = 0x69cc524139634a75
04 00 00 00                | Body length    4
04 00 00 00                | Raw length     4
01 00 00 00                | Segment        1
e1 00 00 00                | Offset         0xe1
04                         | Kind           4: SegmentEnd
00                         | Flags          0
00 00                      | Reserved       0
00 00 00 00                | Reserved       0
02 00 00 00                | Next segment   2                    (body)
)";

constexpr char kStoreFileExample[] = R"(
4c 4c 53 54                | Magic          "LLST"
01 00                      | Version        1
00 00                      | Reserved       0
ef cd ab 89 67 45 23 01    | Store id       0x0123456789abcdef
00 00 01 00                | Segment size   0x10000 = 64 KiB
00 00 00 00                | Reserved       0
7b 84 98 21 3f 18 0a d6    | Checksum       XXH3-64 of bytes 0..23 = 0xd60a183f2198847b
)";

// The same bytes as CheckpointCodecTest.DocumentedExampleBytes (tests/lss/recovery/checkpoint_test.cc).
constexpr char kCheckpointExample[] = R"(
4c 4c 43 4b                | Magic          "LLCK"
01 00                      | Version        1
38 00                      | Header size    56
88 77 66 55 44 33 22 11    | Store id       0x1122334455667788
2a 00 00 00 00 00 00 00    | Sequence       42: the file is CHECKPOINT-000000000000002a
40 00 00 00 03 00 00 00    | Scan start     segment 3, offset 0x40
02 00 00 00                | Oldest segment 2
00 00 00 00                | Reserved       0
01 00 00 00 00 00 00 00    | Page count     1
02 00 00 00                | App state len  2
00 00 00 00                | Reserved       0
05 00 00 00                | PID            5                    (page entry)
02 00 00 00                | Chain length   2
20 00 00 00 03 00 00 00    | Address        segment 3, offset 0x20: chain[0], the newest
30 00 00 00                | Length         0x30 = 48 bytes
00 01 00 00 02 00 00 00    | Address        segment 2, offset 0x100: chain[1]
80 00 00 00                | Length         0x80 = 128 bytes
68 69                      | App state      "hi"
33 c2 4f d0 be f3 c5 86    | Checksum       XXH3-64 of bytes 0x00..0x59 = 0x86c5f3bed04fc233
)";

constexpr char kCheckpointV2Example[] = R"(
4c 4c 43 4b                | Magic          "LLCK"
02 00                      | Version        2: writer settings follow the header
48 00                      | Header size    72
88 77 66 55 44 33 22 11    | Store id       0x1122334455667788
2a 00 00 00 00 00 00 00    | Sequence       42: the file is CHECKPOINT-000000000000002a
40 00 00 00 03 00 00 00    | Scan start     segment 3, offset 0x40
02 00 00 00                | Oldest segment 2
00 00 00 00                | Reserved       0
01 00 00 00 00 00 00 00    | Page count     1
02 00 00 00                | App state len  2
00 00 00 00                | Reserved       0
00                         | Requested      0: auto                 (writer settings)
01                         | In use         1: io_uring
00                         | Flags          0: no fallback
03                         | Compression    level 3
00 00 10 00                | Flush buffer   0x100000 = 1 MiB
04 00 00 00                | Flush buffers  4
08 00 00 00                | Max chain      8
05 00 00 00                | PID            5                    (page entry)
02 00 00 00                | Chain length   2
20 00 00 00 03 00 00 00    | Address        segment 3, offset 0x20: chain[0], the newest
30 00 00 00                | Length         0x30 = 48 bytes
00 01 00 00 02 00 00 00    | Address        segment 2, offset 0x100: chain[1]
80 00 00 00                | Length         0x80 = 128 bytes
68 69                      | App state      "hi"
71 b7 58 0f 8c 4a 1e 38    | Checksum       XXH3-64 of bytes 0x00..0x69 = 0x381e4a8c0f58b771
)";

bool IsDumpLine(std::string_view line) {
  if (line.size() < 14 || !line.starts_with("    ") || line[12] != ':') return false;
  for (std::size_t i = 4; i < 12; ++i) {
    if (std::string_view("0123456789abcdef").find(line[i]) == std::string_view::npos) return false;
  }
  return true;
}

// The dump lines ("    00000000: xx xx ...  ascii") of the section under `heading`,
// without their indentation.
std::string DocDump(std::string_view heading) {
  std::ifstream in(FormatMdPath());
  EXPECT_TRUE(in.is_open()) << "cannot open " << FormatMdPath();
  std::string line, dump;
  bool in_section = false;
  while (std::getline(in, line)) {
    if (line.starts_with("#")) {
      if (in_section) break;
      in_section = line == heading;
    } else if (in_section && IsDumpLine(line)) {
      dump += line.substr(4) + "\n";
    }
  }
  return dump;
}

// The dump format of docs/FORMAT.md: offset, 16 bytes in hex, the printable characters.
std::string HexDump(const Bytes& bytes) {
  std::string out;
  for (std::size_t row = 0; row < bytes.size(); row += 16) {
    char offset[24];
    std::snprintf(offset, sizeof offset, "%08zx:", row);
    std::string hex, text;
    for (std::size_t i = row; i < row + 16 && i < bytes.size(); ++i) {
      char byte[4];
      const auto v = std::to_integer<unsigned>(bytes[i]);
      std::snprintf(byte, sizeof byte, " %02x", v);
      hex += byte;
      text += (v >= 0x20 && v < 0x7f) ? static_cast<char>(v) : '.';
    }
    hex.resize(16 * 3, ' ');
    out += offset + hex + "  " + text + "\n";
  }
  return out;
}

Bytes Slice(const Bytes& bytes, std::size_t from, std::size_t n) {
  return Bytes(bytes.begin() + static_cast<std::ptrdiff_t>(from),
               bytes.begin() + static_cast<std::ptrdiff_t>(from + n));
}

Bytes PageStateBody(PageId pid, LssAddress prior, std::string_view update) {
  auto delta = DeltaRecord::MakeUpdate(pid, AsBytes(update));
  EXPECT_TRUE(delta.has_value());
  const DeltaHandle handle = Share(std::move(*delta));
  Bytes body;
  EXPECT_TRUE(EncodePageRecord(pid, prior, std::span(&handle, 1), nullptr, body).has_value());
  return body;
}

Bytes Frame(RecordKind kind, LssAddress at, const Bytes& body) {
  Bytes out(FramedSize(body.size()));
  EncodeFrame(out.data(), kind, at, body, false, 0);
  return out;
}

constexpr LssAddress kFirstRecord = LssAddress::Make(1, 0x28);
constexpr LssAddress kSecondRecord = LssAddress::Make(1, 0x83);
constexpr LssAddress kSegmentEnd = LssAddress::Make(1, 0xe1);

TEST(FormatDocExampleTest, TheDocumentShowsTheseExamples) {
  EXPECT_EQ(DocExample("### A segment header"), std::string_view(kSegmentHeaderExample).substr(1));
  EXPECT_EQ(DocExample("### A PageState frame"), std::string_view(kPageStateExample).substr(1));
  EXPECT_EQ(DocExample("### A SegmentEnd frame"), std::string_view(kSegmentEndExample).substr(1));
  EXPECT_EQ(DocExample("### A STORE file"), std::string_view(kStoreFileExample).substr(1));
  EXPECT_EQ(DocExample("### A checkpoint file"), std::string_view(kCheckpointExample).substr(1));
  EXPECT_EQ(DocExample("### A version 2 checkpoint file"), std::string_view(kCheckpointV2Example).substr(1));
}

TEST(FormatDocExampleTest, HexDumpMatchesTheDeltaSectionsFormat) {
  // The dump format is the one the delta examples already use.
  auto r = DeltaRecord::MakeUpdate(7, AsBytes("hello"), LssAddress::Make(1, 0x40));
  ASSERT_TRUE(r.has_value());
  r->SetLssOffset(0x80);
  EXPECT_EQ(HexDump(ToBytes(r->bytes())),
            "00000000: 26 00 00 00 80 00 00 00 07 00 00 00 20 40 00 00  &........... @..\n"
            "00000010: 00 01 00 00 00 00 00 00 00 00 00 00 00 05 00 00  ................\n"
            "00000020: 00 68 65 6c 6c 6f                                .hello\n");
}

TEST(FormatDocExampleTest, SegmentHeader) {
  Bytes header(kSegmentHeaderSize);
  EncodeSegmentHeader(SegmentHeader{1, kSegmentSize, kStoreId, LssAddress()}, header.data());
  const Bytes expected = FromHex(kSegmentHeaderExample);
  ASSERT_EQ(expected.size(), 40u);
  EXPECT_EQ(Hex(header), Hex(expected));
  EXPECT_EQ(Checksum64(std::span<const std::byte>(expected.data(), 32)), 0xb32f957b78c0caa9u);

  auto decoded = DecodeSegmentHeader(expected);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->segment_id, 1u);
  EXPECT_EQ(decoded->segment_size, kSegmentSize);
  EXPECT_EQ(decoded->store_id, kStoreId);
  EXPECT_TRUE(decoded->resume_from.is_null());
}

TEST(FormatDocExampleTest, PageStateFrame) {
  const Bytes body = PageStateBody(7, kFirstRecord, "hello");
  ASSERT_EQ(body.size(), 62u);
  // Under 256 bytes: never compressed, whatever the level.
  const EncodedBody encoded = MaybeCompress(body, 3);
  EXPECT_FALSE(encoded.compressed);
  const Bytes frame = Frame(RecordKind::kPageState, kSecondRecord, encoded.bytes);
  const Bytes expected = FromHex(kPageStateExample);
  ASSERT_EQ(expected.size(), 94u);
  EXPECT_EQ(Hex(frame), Hex(expected));
  EXPECT_EQ(HexDump(expected), DocDump("### A PageState frame"));
  EXPECT_EQ(Checksum64(std::span<const std::byte>(expected).subspan(8)), 0x40433d6e10e9bb32u);

  auto decoded = DecodeFrame(expected, kSecondRecord, kSegmentSize);
  ASSERT_TRUE(decoded.has_value()) << FrameErrorName(decoded.error());
  EXPECT_EQ(decoded->header.kind, RecordKind::kPageState);
  EXPECT_FALSE(decoded->header.compressed);
  EXPECT_EQ(decoded->header.framed_size(), 94u);
  auto record = DecodePageRecord(decoded->body);
  ASSERT_TRUE(record.has_value()) << record.error().ToString();
  EXPECT_EQ(record->pid, 7u);
  EXPECT_EQ(record->prior, kFirstRecord);
  ASSERT_EQ(record->deltas.size(), 1u);
  EXPECT_EQ(AsStringView(record->deltas[0]->view().payload()), "hello");
  EXPECT_FALSE(record->base);
  // The frame names where it lives: anywhere else it is stale bytes.
  auto elsewhere = DecodeFrame(expected, LssAddress::Make(2, 0x83), kSegmentSize);
  ASSERT_FALSE(elsewhere.has_value());
  EXPECT_EQ(elsewhere.error(), FrameError::kWrongAddress);
}

TEST(FormatDocExampleTest, SegmentEndFrame) {
  Bytes body(kSegmentEndBodySize);
  EncodeFixed32(body.data(), 2);
  const Bytes frame = Frame(RecordKind::kSegmentEnd, kSegmentEnd, body);
  const Bytes expected = FromHex(kSegmentEndExample);
  ASSERT_EQ(expected.size(), kSegmentEndRecordSize);
  EXPECT_EQ(Hex(frame), Hex(expected));
  EXPECT_EQ(Checksum64(std::span<const std::byte>(expected).subspan(8)), 0x69cc524139634a75u);
}

// The whole segment file of the examples, as LogWriter writes it: segment 1 of a new store,
// page 7's first (whole) record, its second record (the PageState frame above), and the
// SegmentEnd Close writes. Then the scanner reads it back.
TEST(FormatDocExampleTest, TheWriterLaysOutTheSegmentFile) {
  TempDir dir;
  std::unique_ptr<Env> env = NewPosixEnv();
  SegmentSet segments(*env, dir.path(), kStoreId, kSegmentSize);
  const Bytes first_body = PageStateBody(7, LssAddress(), "hi");
  {
    auto writer = LogWriter::Open(segments, 1, LssAddress(), LogWriter::Options{});
    ASSERT_TRUE(writer.has_value()) << writer.error().ToString();
    EXPECT_EQ((*writer)->max_record_size(), kSegmentSize - 40 - 36);
    auto first = (*writer)->Append(RecordKind::kPageState, first_body);
    ASSERT_TRUE(first.has_value()) << first.error().ToString();
    EXPECT_EQ(first->address, kFirstRecord);
    EXPECT_EQ(first->framed_size, 91u);
    auto second = (*writer)->Append(RecordKind::kPageState, PageStateBody(7, first->address, "hello"));
    ASSERT_TRUE(second.has_value()) << second.error().ToString();
    EXPECT_EQ(second->address, kSecondRecord);
    ASSERT_TRUE((*writer)->Close().has_value());
  }
  const Bytes file = ReadAll(*env, dir / "segment-00000001");
  ASSERT_EQ(file.size(), 0x105u);
  EXPECT_EQ(Hex(Slice(file, 0, 40)), Hex(FromHex(kSegmentHeaderExample)));
  EXPECT_EQ(Hex(Slice(file, 0x28, 91)), Hex(Frame(RecordKind::kPageState, kFirstRecord, first_body)));
  EXPECT_EQ(Hex(Slice(file, 0x83, 94)), Hex(FromHex(kPageStateExample)));
  EXPECT_EQ(Hex(Slice(file, 0xe1, 36)), Hex(FromHex(kSegmentEndExample)));
  EXPECT_EQ(HexDump(file), DocDump("### The whole segment file"));

  // Recovery's view: the two records, then the end of the log at the SegmentEnd, whose
  // segment 2 was never written.
  auto scanner = LogScanner::Open(segments, LssAddress::Make(1, kSegmentHeaderSize), kSegmentSize);
  ASSERT_TRUE(scanner.has_value()) << scanner.error().ToString();
  std::vector<LssAddress> seen;
  for (;;) {
    auto next = scanner->Next();
    ASSERT_TRUE(next.has_value()) << next.error().ToString();
    if (!next->has_value()) break;
    seen.push_back((*next)->address);
  }
  EXPECT_EQ(seen, (std::vector<LssAddress>{kFirstRecord, kSecondRecord}));
  EXPECT_EQ(scanner->stop().position, kSegmentEnd);
  EXPECT_EQ(scanner->stop().reason, ScanStop::Reason::kEndOfLog);
}

TEST(FormatDocExampleTest, StoreFile) {
  TempDir dir;
  std::unique_ptr<Env> env = NewPosixEnv();
  ASSERT_TRUE(WriteStoreIdentity(*env, dir.path(), StoreIdentity{kStoreId, kSegmentSize}).has_value());
  const Bytes file = ReadAll(*env, dir / "STORE");
  const Bytes expected = FromHex(kStoreFileExample);
  ASSERT_EQ(expected.size(), 32u);
  EXPECT_EQ(Hex(file), Hex(expected));
  EXPECT_EQ(HexDump(expected), DocDump("### A STORE file"));
  EXPECT_EQ(Checksum64(std::span<const std::byte>(expected.data(), 24)), 0xd60a183f2198847bu);

  auto identity = ReadStoreIdentity(*env, dir.path());
  ASSERT_TRUE(identity.has_value()) << identity.error().ToString();
  ASSERT_TRUE(identity->has_value());
  EXPECT_EQ((*identity)->store_id, kStoreId);
  EXPECT_EQ((*identity)->segment_size, kSegmentSize);
}

TEST(FormatDocExampleTest, CheckpointFile) {
  const Bytes bytes = EncodeCheckpoint(checkpoint_examples::Version1());
  const Bytes expected = FromHex(kCheckpointExample);
  ASSERT_EQ(expected.size(), 98u);
  EXPECT_EQ(Hex(bytes), Hex(expected));
  EXPECT_EQ(HexDump(expected), DocDump("### A checkpoint file"));
  EXPECT_EQ(CheckpointFileName(42), "CHECKPOINT-000000000000002a");
  auto decoded = DecodeCheckpoint(expected);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, checkpoint_examples::Version1());
}

TEST(FormatDocExampleTest, Version2CheckpointFile) {
  const Bytes bytes = EncodeCheckpoint(checkpoint_examples::Version2());
  const Bytes expected = FromHex(kCheckpointV2Example);
  ASSERT_EQ(expected.size(), 114u);
  EXPECT_EQ(Hex(bytes), Hex(expected));
  EXPECT_EQ(HexDump(expected), DocDump("### A version 2 checkpoint file"));
  EXPECT_EQ(Checksum64(std::span<const std::byte>(expected.data(), 106)), 0x381e4a8c0f58b771u);
  auto decoded = DecodeCheckpoint(expected);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, checkpoint_examples::Version2());
}

}  // namespace
}  // namespace llama
