#include "llama/status.h"

#include <gtest/gtest.h>

#include <iterator>
#include <set>
#include <string_view>

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

// Every code has its own name: a log line or a test tells them apart.
TEST(StatusTest, EveryCodeHasItsOwnName) {
  const ErrorCode codes[] = {ErrorCode::kInvalidArgument,   ErrorCode::kCorruption, ErrorCode::kNotFound,
                             ErrorCode::kResourceExhausted, ErrorCode::kIOError,    ErrorCode::kNoSpace,
                             ErrorCode::kUnsupported,       ErrorCode::kAborted,    ErrorCode::kBusy};
  std::set<std::string_view> names;
  for (ErrorCode code : codes) names.insert(ErrorCodeName(code));
  EXPECT_EQ(names.size(), std::size(codes));
  EXPECT_EQ(names.count("Unknown"), 0u);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kBusy), "Busy");
}

// LLAMA_RETURN_IF_ERROR returns the error of a Status or a Result, evaluates its argument
// once, and leaves a named Result usable when it holds a value.
Result<int> Twice(Result<int> in, int* evaluations) {
  auto counted = [&] {
    ++*evaluations;
    return in;
  };
  LLAMA_RETURN_IF_ERROR(counted());
  auto named = counted();
  LLAMA_RETURN_IF_ERROR(named);
  return *named * 2;
}

TEST(StatusTest, ReturnIfErrorPropagatesAndEvaluatesOnce) {
  int evaluations = 0;
  EXPECT_EQ(*Twice(21, &evaluations), 42);
  EXPECT_EQ(evaluations, 2);
  evaluations = 0;
  auto failed = Twice(MakeError(ErrorCode::kBusy, "again"), &evaluations);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error(), Error(ErrorCode::kBusy, "again"));
  EXPECT_EQ(evaluations, 1);
}

}  // namespace
}  // namespace llama
