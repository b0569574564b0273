// A write to a llama::Vector: its operations (VectorOp), an all-or-nothing batch of them
// (VectorWriteBatch), and the ticket a write returns (VectorTicket).
//
// Ownership: plain values. A batch owns copies of its values; a ticket names a write of
// the vector that returned it and means nothing to another vector.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llama {

// The numbers are stored in entries (docs/FORMAT.md, "Vector pages and deltas").
enum class VectorOpCode : std::uint8_t { kAppend = 1, kPrepend = 2, kInsert = 3, kErase = 4, kUpdate = 5 };
inline bool HasIndex(VectorOpCode c) {
  return c == VectorOpCode::kInsert || c == VectorOpCode::kErase || c == VectorOpCode::kUpdate;
}
inline bool HasValue(VectorOpCode c) { return c != VectorOpCode::kErase; }

struct VectorOp {
  VectorOpCode code = VectorOpCode::kAppend;
  std::uint64_t index = 0;  // insert, erase, update
  std::string value;        // append, prepend, insert, update
  friend bool operator==(const VectorOp&, const VectorOp&) = default;
};

// All-or-nothing: every operation applies, in order, or none does.
class VectorWriteBatch {
 public:
  // The same operations as Vector's, named alike.
  void Append(std::string_view v) { ops_.push_back({VectorOpCode::kAppend, 0, std::string(v)}); }
  void Prepend(std::string_view v) { ops_.push_back({VectorOpCode::kPrepend, 0, std::string(v)}); }
  void Insert(std::uint64_t i, std::string_view v) { ops_.push_back({VectorOpCode::kInsert, i, std::string(v)}); }
  void Erase(std::uint64_t i) { ops_.push_back({VectorOpCode::kErase, i, {}}); }
  void Update(std::uint64_t i, std::string_view v) { ops_.push_back({VectorOpCode::kUpdate, i, std::string(v)}); }
  const std::vector<VectorOp>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }

 private:
  std::vector<VectorOp> ops_;
};

// A write's place: its timestamp (unique per vector, the replay order) and the writer
// slot whose buffer page holds it. Vector::Sync and WaitVisible take it.
struct VectorTicket {
  std::uint64_t timestamp = 0;
  std::uint32_t slot = 0;
};

}  // namespace llama
