// ProgressLine: one line rewritten in place, throttled, erased when done.
#include "tools/pagedump/progress_line.h"

#include <gtest/gtest.h>

#include <sstream>

namespace llama::pagedump {
namespace {

TEST(ProgressLineTest, RewritesOneLineAndErasesIt) {
  std::ostringstream out;
  std::size_t after_finish = 0;
  {
    ProgressLine line(out);
    line.Update(std::uint64_t{3} << 30, std::uint64_t{4} << 30, 12);
    EXPECT_EQ(out.str(), "\rpagedump: read segment 12, 3.0 GiB of 4.0 GiB (75%)\x1b[K");
    line.Update(std::uint64_t{7} << 29, std::uint64_t{4} << 30, 13);  // within 100 ms: skipped
    EXPECT_EQ(out.str().find("segment 13"), std::string::npos);
    line.Finish();
    EXPECT_TRUE(out.str().ends_with("\r\x1b[K"));
    after_finish = out.str().size();
  }
  EXPECT_EQ(out.str().size(), after_finish) << "the destructor does not erase twice";
}

TEST(ProgressLineTest, NothingShownNothingErased) {
  std::ostringstream out;
  { ProgressLine line(out); }
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace llama::pagedump
