// The worked examples of docs/FORMAT.md ("Worked examples"), byte for byte. The annotated
// hex below must appear verbatim in the document (checked by reading it) and must be the
// bytes the code produces, so the document cannot drift from the code.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <string_view>

#include "deltas/typed_deltas.h"
#include "llama/delta_record.h"
#include "tests/deltas/delta_test_util.h"
#include "tests/format_doc.h"

namespace llama {
namespace {

using ::llama::testing::DocExample;

using namespace delta_test;

constexpr char kUpdateExample[] = R"(
26 00 00 00                | Len            38 = 33-byte header + 5-byte payload
80 00 00 00                | LSS Off        stored at offset 0x80 of its segment
07 00 00 00                | PID            7
20                         | Packed Bits    U
40 00 00 00 01 00 00 00    | Prior State    segment 1, offset 0x40
00 00 00 00 00 00 00 00    | Last Flushed   none
05 00 00 00                | PLen           5
68 65 6c 6c 6f             | Payload        "hello"
)";

constexpr char kFlushExample[] = R"(
29 00 00 00                | Len            41 = 33 + 8
00 00 00 00                | LSS Off        0: in memory only
07 00 00 00                | PID            7
80                         | Packed Bits    F alone: a Flush delta
80 00 00 00 01 00 00 00    | Prior State    segment 1, offset 0x80 (the Update above)
00 00 00 00 00 00 00 00    | Last Flushed   none
08 00 00 00                | PLen           8
00 10 00 00 02 00 00 00    | Payload        flushed to segment 2, offset 0x1000
)";

TEST(FormatDocExampleTest, TheDocumentShowsTheseExamples) {
  EXPECT_EQ(DocExample("### An Update delta"), std::string_view(kUpdateExample).substr(1));
  EXPECT_EQ(DocExample("### A Flush delta"), std::string_view(kFlushExample).substr(1));
}

TEST(FormatDocExampleTest, UpdateDelta) {
  auto r = DeltaRecord::MakeUpdate(7, AsBytes("hello"), LssAddress::Make(1, 0x40));
  ASSERT_TRUE(r.has_value());
  r->SetLssOffset(0x80);
  const Bytes expected = FromHex(kUpdateExample);
  ASSERT_EQ(expected.size(), 38u);
  EXPECT_EQ(Hex(r->bytes()), Hex(expected));

  auto decoded = DeltaRecord::Decode(expected);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->pid(), 7u);
  EXPECT_EQ(decoded->lss_offset(), 0x80u);
  EXPECT_EQ(decoded->prior_state(), LssAddress::Make(1, 0x40));
  EXPECT_EQ(AsStringView(decoded->payload()), "hello");
}

TEST(FormatDocExampleTest, FlushDelta) {
  auto r = DeltaRecord::MakeFlush(7, LssAddress::Make(2, 0x1000), LssAddress::Make(1, 0x80));
  ASSERT_TRUE(r.has_value());
  const Bytes expected = FromHex(kFlushExample);
  ASSERT_EQ(expected.size(), 41u);
  EXPECT_EQ(Hex(r->bytes()), Hex(expected));

  auto view = DecodeDelta(expected);
  ASSERT_TRUE(view.has_value()) << DeltaDecodeErrorName(view.error());
  auto flush = FlushDelta::From(*view);
  ASSERT_TRUE(flush.has_value());
  EXPECT_EQ(flush->flushed_to(), LssAddress::Make(2, 0x1000));
  EXPECT_FALSE(flush->failed());
}

}  // namespace
}  // namespace llama
