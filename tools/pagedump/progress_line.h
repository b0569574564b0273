// ProgressLine: the "pagedump: read 3 of 40 segments (1.2 GiB of 16 GiB, 7%)" line a long
// scan keeps rewriting on stderr. Only when stderr is a terminal (pagedump decides), at
// most ten times a second; Finish erases it so the real output is not mixed with it.
//
// Ownership: writes to the stream it was given, which must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>

namespace llama::pagedump {

class ProgressLine {
 public:
  explicit ProgressLine(std::ostream& out) : out_(out) {}
  ~ProgressLine() { Finish(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void Update(std::uint64_t done_bytes, std::uint64_t total_bytes, std::uint32_t segment);
  void Finish();

 private:
  std::ostream& out_;
  std::chrono::steady_clock::time_point last_{};
  bool shown_ = false;
};

}  // namespace llama::pagedump
