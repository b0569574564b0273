// Errors as values. Every fallible call in llama-store returns a Status or a Result<T>;
// both are [[nodiscard]], so an ignored I/O or decode error is a compile-time warning.
//
// Result<T> is tl::expected<T, Error> (Debian's libexpected-dev), chosen over std::expected
// because clang 14 (which builds the fuzzers) cannot use libstdc++'s <expected>.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

namespace llama {

enum class ErrorCode : std::uint8_t {
  kInvalidArgument,    // the caller passed something that can never work
  kCorruption,         // bytes that do not decode: a damaged file or a wrong buffer
  kNotFound,           // a page id that is not allocated, a missing file
  kResourceExhausted,  // out of page ids, reader slots, memory budget
  kIOError,            // the operating system reported an I/O failure
  kNoSpace,            // the device is full
  kUnsupported,        // a feature the kernel or build does not offer
  kAborted,            // closed, or stopped accepting work after an earlier fatal error
  kBusy,               // lost to concurrent changes too often in a row: the same call can succeed later
};

std::string_view ErrorCodeName(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Corruption: delta record Len 12 is shorter than the 33-byte header"
  std::string ToString() const;

  friend bool operator==(const Error&, const Error&) = default;

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result : public tl::expected<T, Error> {
 public:
  using tl::expected<T, Error>::expected;
};

class [[nodiscard]] Status : public tl::expected<void, Error> {
 public:
  using tl::expected<void, Error>::expected;
};

inline tl::unexpected<Error> MakeError(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error(code, std::move(message)));
}

inline Status OkStatus() { return {}; }

// Returns from the enclosing function (which returns a Status or a Result) with the error
// of `expr`, a Status or Result, when it holds one. `expr` is evaluated once and not
// copied: a named Result stays usable after the check.
//
//     auto page = ReadPage(pid);
//     LLAMA_RETURN_IF_ERROR(page);
//     LLAMA_RETURN_IF_ERROR(file->Sync());
#define LLAMA_RETURN_IF_ERROR(expr)                                               \
  do {                                                                            \
    if (auto&& llama_checked_ = (expr); !llama_checked_) {                        \
      return ::tl::unexpected<::llama::Error>(std::move(llama_checked_).error()); \
    }                                                                             \
  } while (0)

}  // namespace llama
