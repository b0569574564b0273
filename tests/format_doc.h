// Reading the worked examples out of docs/FORMAT.md, for the tests that check the document
// shows exactly the bytes the code produces (FormatDocExampleTest in tests/deltas,
// tests/pages and tests/lss).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <string_view>

namespace llama::testing {

inline std::string FormatMdPath() { return std::string(LLAMA_SOURCE_DIR) + "/docs/FORMAT.md"; }

// The first indented block of annotated hex ("    xx xx | ...") after `heading`, without
// its indentation.
inline std::string DocExample(std::string_view heading) {
  std::ifstream in(FormatMdPath());
  EXPECT_TRUE(in.is_open()) << "cannot open " << FormatMdPath();
  std::string line, block;
  bool in_section = false;
  while (std::getline(in, line)) {
    if (line.starts_with("#")) {
      if (!block.empty()) break;
      in_section = line == heading;
    } else if (in_section && line.starts_with("    ") && line.find('|') != std::string::npos) {
      block += line.substr(4) + "\n";
    } else if (!block.empty()) {
      break;
    }
  }
  return block;
}

}  // namespace llama::testing
