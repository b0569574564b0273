// LiveNodesTest: a fixture for tests that must leave as many live PageNodes as they found
// (PageNode::live_count): no chain leaked, no node freed twice. A fixture that owns a
// table or a store drops it in Release(), before the count is checked.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "llama/page_node.h"

namespace llama::testing {

class LiveNodesTest : public ::testing::Test {
 protected:
  void SetUp() override { live_at_start_ = PageNode::live_count(); }
  void TearDown() override {
    Release();
    EXPECT_EQ(PageNode::live_count(), live_at_start_) << "leaked or double-counted nodes";
  }
  virtual void Release() {}

  std::int64_t live_at_start_ = 0;
};

}  // namespace llama::testing
