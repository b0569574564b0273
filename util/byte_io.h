// ByteWriter and ByteReader: the one cursor every codec uses to put little-endian
// fixed-width integers and raw bytes into a buffer and take them out again (the byte
// order and widths of include/llama/coding.h, which they are built on).
//
//   std::vector<std::byte> out;
//   ByteWriter w(out);                      // appends to `out`
//   w.U8(tag).U16(key.size()).Bytes(key);
//
//   ByteReader r(out);
//   std::uint8_t tag;
//   std::uint16_t key_len;
//   std::string_view key;
//   if (!r.U8(&tag) || !r.U16(&key_len) || !r.String(key_len, &key)) return Corrupt("truncated");
//
// Neither ever touches a byte outside its buffer. A writer over a fixed span that is
// asked for more than fits writes nothing more and fails (ok() false); a writer
// appending to a vector grows it. A reader asked for more than is left reads nothing,
// leaves the output untouched and returns false; either kind stays failed once it
// failed, so a run of calls can be checked once at the end with ok().
//
// Internal (not part of the public API): the codecs of the page store, the log and the
// access methods use it; none of their formats depends on it beyond the byte order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llama/coding.h"

namespace llama {

class ByteWriter {
 public:
  // Appends to `out`, after the bytes it holds already.
  explicit ByteWriter(std::vector<std::byte>& out) : grow_(&out), start_(out.size()) {}
  // Writes into `out` from its first byte, never past its last.
  explicit ByteWriter(std::span<std::byte> out) : fixed_(out) {}
  ByteWriter(const ByteWriter&) = delete;
  ByteWriter& operator=(const ByteWriter&) = delete;

  ByteWriter& U8(std::uint8_t v) {
    return Fixed(v, [](std::byte* p, std::uint8_t x) { *p = static_cast<std::byte>(x); });
  }
  ByteWriter& U16(std::uint16_t v) { return Fixed(v, EncodeFixed16); }
  ByteWriter& U32(std::uint32_t v) { return Fixed(v, EncodeFixed32); }
  ByteWriter& U64(std::uint64_t v) { return Fixed(v, EncodeFixed64); }
  ByteWriter& Bytes(std::span<const std::byte> bytes) {
    // memcpy from or to a null pointer is undefined even for 0 bytes, and an empty span's
    // data() may be null.
    std::byte* p = nullptr;
    if (Claim(bytes.size(), &p) && !bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
    return *this;
  }
  ByteWriter& Bytes(std::string_view text) { return Bytes(AsBytes(text)); }
  ByteWriter& Zeros(std::size_t n) {
    std::byte* p = nullptr;
    if (Claim(n, &p) && n != 0) std::memset(p, 0, n);
    return *this;
  }
  // Moves past `n` bytes without writing them: bytes already in place in a fixed span
  // (a vector grows by `n` zero bytes).
  ByteWriter& Skip(std::size_t n) {
    std::byte* p = nullptr;
    (void)Claim(n, &p);
    return *this;
  }

  // False once a write did not fit a fixed span; always true when appending to a vector.
  bool ok() const { return ok_; }
  // Bytes written (or skipped) so far by this writer.
  std::size_t size() const { return size_; }
  // Those bytes, valid until the vector written to next grows.
  std::span<const std::byte> written() const {
    if (grow_ != nullptr) return std::span<const std::byte>(*grow_).subspan(start_, size_);
    return fixed_.first(size_);
  }

 private:
  // Writes the sizeof(T) bytes of `v` with `encode`.
  template <typename T, typename Encode>
  ByteWriter& Fixed(T v, Encode encode) {
    std::byte* p = nullptr;
    if (Claim(sizeof(T), &p)) encode(p, v);
    return *this;
  }
  // Room for the next `n` bytes at `*p`; false (and the writer failed) if they do not fit.
  bool Claim(std::size_t n, std::byte** p) {
    if (!ok_) return false;
    if (grow_ != nullptr) {
      grow_->resize(grow_->size() + n);
      *p = grow_->data() + grow_->size() - n;
    } else {
      if (fixed_.size() - size_ < n) {
        ok_ = false;
        return false;
      }
      *p = fixed_.data() + size_;
    }
    size_ += n;
    return true;
  }

  std::vector<std::byte>* grow_ = nullptr;
  std::size_t start_ = 0;  // where this writer's bytes start in *grow_
  std::span<std::byte> fixed_;
  std::size_t size_ = 0;
  bool ok_ = true;
};

// A position in a span: copy a reader to look ahead without moving the original.
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> in) : in_(in) {}

  bool U8(std::uint8_t* v) {
    return Fixed(v, [](const std::byte* p) { return std::to_integer<std::uint8_t>(*p); });
  }
  bool U16(std::uint16_t* v) { return Fixed(v, DecodeFixed16); }
  bool U32(std::uint32_t* v) { return Fixed(v, DecodeFixed32); }
  bool U64(std::uint64_t* v) { return Fixed(v, DecodeFixed64); }
  // The next `n` bytes, as a view into the input.
  bool Bytes(std::size_t n, std::span<const std::byte>* bytes) {
    const std::byte* p = nullptr;
    if (!Take(n, &p)) return false;
    *bytes = {p, n};
    return true;
  }
  // The next `n` bytes as text: a view into the input, or a copy.
  bool String(std::size_t n, std::string_view* text) {
    const std::byte* p = nullptr;
    if (!Take(n, &p)) return false;
    *text = {reinterpret_cast<const char*>(p), n};
    return true;
  }
  bool String(std::size_t n, std::string* text) {
    const std::byte* p = nullptr;
    if (!Take(n, &p)) return false;
    text->assign(reinterpret_cast<const char*>(p), n);
    return true;
  }
  bool Skip(std::size_t n) {
    const std::byte* p = nullptr;
    return Take(n, &p);
  }

  // False once a read ran past the end.
  bool ok() const { return ok_; }
  // Bytes read (or skipped) so far.
  std::size_t position() const { return at_; }
  std::size_t remaining() const { return in_.size() - at_; }
  // The bytes not read yet.
  std::span<const std::byte> rest() const { return in_.subspan(at_); }

 private:
  // Reads sizeof(T) bytes into `*v` with `decode`.
  template <typename T, typename Decode>
  bool Fixed(T* v, Decode decode) {
    const std::byte* p = nullptr;
    if (!Take(sizeof(T), &p)) return false;
    *v = decode(p);
    return true;
  }
  // Consumes the next `n` bytes, found at `*p`; false (and the reader failed) if fewer are
  // left.
  bool Take(std::size_t n, const std::byte** p) {
    if (!ok_ || in_.size() - at_ < n) {
      ok_ = false;
      return false;
    }
    *p = in_.data() + at_;
    at_ += n;
    return true;
  }

  std::span<const std::byte> in_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

}  // namespace llama
