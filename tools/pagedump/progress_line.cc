#include "tools/pagedump/progress_line.h"

#include <cstdio>
#include <string>

namespace llama::pagedump {

namespace {

std::string Size(std::uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1ull << 30));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1ull << 20));
  }
  return buf;
}

}  // namespace

void ProgressLine::Update(std::uint64_t done_bytes, std::uint64_t total_bytes, std::uint32_t segment) {
  const auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  shown_ = true;
  const unsigned percent = total_bytes == 0 ? 100 : static_cast<unsigned>(done_bytes * 100 / total_bytes);
  out_ << "\rpagedump: read segment " << segment << ", " << Size(done_bytes) << " of " << Size(total_bytes) << " ("
       << percent << "%)\x1b[K" << std::flush;
}

void ProgressLine::Finish() {
  if (!shown_) return;
  out_ << "\r\x1b[K" << std::flush;
  shown_ = false;
}

}  // namespace llama::pagedump
