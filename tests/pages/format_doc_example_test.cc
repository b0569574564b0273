// The base page worked example of docs/FORMAT.md ("Worked examples"), byte for byte. The
// annotated hex below must appear verbatim in the document (checked by reading it) and
// must be the bytes the code produces, so the document cannot drift from the code.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "llama/base_page.h"
#include "llama/coding.h"
#include "tests/format_doc.h"

namespace llama {
namespace {

using ::llama::testing::DocExample;

constexpr char kBasePageExample[] = R"(
4c 4c 42 50                | Magic          "LLBP"
0c                         | Size log2      12: a 4 KiB page
00                         | Flags          0
00 00                      | Reserved       0
07 00 00 00                | PID            7
04 00 00 00                | Used           4 content bytes
6c 65 61 66                | Contents       "leaf"
)";

// Hex digit pairs, ignoring spaces and anything from '|' to the end of the line.
std::vector<std::byte> FromHex(std::string_view text) {
  std::vector<std::byte> out;
  std::string digits;
  bool comment = false;
  for (const char c : text) {
    if (c == '\n') comment = false;
    if (c == '|') comment = true;
    if (comment || c == ' ' || c == '\n') continue;
    digits += c;
    if (digits.size() == 2) {
      out.push_back(static_cast<std::byte>(std::stoi(digits, nullptr, 16)));
      digits.clear();
    }
  }
  EXPECT_TRUE(digits.empty()) << "odd number of hex digits";
  return out;
}

TEST(FormatDocExampleTest, TheDocumentShowsThisExample) {
  EXPECT_EQ(DocExample("### A 4 KiB base page"), std::string_view(kBasePageExample).substr(1));
}

TEST(FormatDocExampleTest, BasePage4KiB) {
  auto page = BasePage::Create(7, 4096, AsBytes("leaf"));
  ASSERT_TRUE(page.has_value());
  const std::vector<std::byte> expected = FromHex(kBasePageExample);
  ASSERT_EQ(expected.size(), 20u);
  const auto image = page->Encoded();
  ASSERT_EQ(image.size(), expected.size());
  EXPECT_TRUE(std::equal(image.begin(), image.end(), expected.begin()));

  auto decoded = BasePage::Decode(expected);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->page_size(), 4096u);
  EXPECT_EQ(decoded->pid(), 7u);
  EXPECT_EQ(AsStringView(decoded->contents()), "leaf");
}

}  // namespace
}  // namespace llama
