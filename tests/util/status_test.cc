#include "llama/status.h"

#include <gtest/gtest.h>

namespace llama {
namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return MakeError(ErrorCode::kInvalidArgument, "odd");
  return v / 2;
}

TEST(StatusTest, ResultCarriesValueOrError) {
  auto ok = Half(8);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, 4);
  auto bad = Half(3);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().ToString(), "InvalidArgument: odd");
}

TEST(StatusTest, StatusIsOkOrError) {
  Status ok = OkStatus();
  EXPECT_TRUE(ok.has_value());
  Status bad = MakeError(ErrorCode::kIOError, "disk gone");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(ErrorCodeName(bad.error().code()), "IOError");
}

}  // namespace
}  // namespace llama
