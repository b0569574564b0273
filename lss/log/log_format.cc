#include "lss/log/log_format.h"

#include <cstdio>

namespace llama::log_format {

std::string SegmentFileName(std::uint32_t segment_id) {
  char name[32];
  std::snprintf(name, sizeof name, "segment-%08x", segment_id);
  return name;
}

std::uint32_t ParseSegmentFileName(const std::string& name) {
  constexpr std::string_view kPrefix = "segment-";
  if (name.size() != kPrefix.size() + 8 || name.compare(0, kPrefix.size(), kPrefix) != 0) return 0;
  std::uint32_t id = 0;
  for (std::size_t i = kPrefix.size(); i < name.size(); ++i) {
    const char c = name[i];
    std::uint32_t digit;
    if (c >= '0' && c <= '9')
      digit = static_cast<std::uint32_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      digit = static_cast<std::uint32_t>(c - 'a' + 10);
    else
      return 0;
    id = id * 16 + digit;
  }
  return id;
}

}  // namespace llama::log_format
