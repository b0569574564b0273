#include "llama/status.h"

namespace llama {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kCorruption:
      return "Corruption";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kResourceExhausted:
      return "ResourceExhausted";
    case ErrorCode::kIOError:
      return "IOError";
    case ErrorCode::kNoSpace:
      return "NoSpace";
    case ErrorCode::kUnsupported:
      return "Unsupported";
    case ErrorCode::kAborted:
      return "Aborted";
    case ErrorCode::kBusy:
      return "Busy";
  }
  return "Unknown";
}

std::string Error::ToString() const {
  std::string out(ErrorCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

}  // namespace llama
