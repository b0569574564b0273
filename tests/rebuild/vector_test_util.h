// Shared by the vector tests: the std::vector model of a vector's operations, seeded random
// operations, and small configurations that force deep trees.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "llama/vector.h"
#include "tests/lss/store/store_test_util.h"

namespace llama::vector_test {

using store_test::Scaled;
using store_test::TempDir;
using store_test::TestSeed;

// Applies an entry to the model the way the rebuilder does: all operations or none.
// Returns false (and leaves the model unchanged) when an index is past the end at its turn.
inline bool ApplyToModel(std::vector<std::string>& model, const std::vector<VectorOp>& ops) {
  std::uint64_t size = model.size();
  for (const VectorOp& op : ops) {
    if (op.code == VectorOpCode::kInsert ? op.index > size : HasIndex(op.code) && op.index >= size) return false;
    size = op.code == VectorOpCode::kErase ? size - 1 : op.code == VectorOpCode::kUpdate ? size : size + 1;
  }
  for (const VectorOp& op : ops) {
    switch (op.code) {
      case VectorOpCode::kAppend:
        model.push_back(op.value);
        break;
      case VectorOpCode::kPrepend:
        model.insert(model.begin(), op.value);
        break;
      case VectorOpCode::kInsert:
        model.insert(model.begin() + static_cast<std::ptrdiff_t>(op.index), op.value);
        break;
      case VectorOpCode::kErase:
        model.erase(model.begin() + static_cast<std::ptrdiff_t>(op.index));
        break;
      case VectorOpCode::kUpdate:
        model[op.index] = op.value;
        break;
    }
  }
  return true;
}

// A random operation on a vector of about `size` elements; `invalid_percent` of indexed
// operations aim past the end. Values vary in length (some long) and name their origin.
inline VectorOp RandomOp(std::mt19937_64& rng, std::uint64_t size, const std::string& tag, int invalid_percent = 0,
                         std::size_t max_value = 200) {
  VectorOp op;
  const int kind = static_cast<int>(rng() % 100);
  op.code = kind < 30   ? VectorOpCode::kAppend
            : kind < 40 ? VectorOpCode::kPrepend
            : kind < 65 ? VectorOpCode::kInsert
            : kind < 85 ? VectorOpCode::kErase
                        : VectorOpCode::kUpdate;
  if (size == 0 && (op.code == VectorOpCode::kErase || op.code == VectorOpCode::kUpdate))
    op.code = VectorOpCode::kAppend;
  if (HasIndex(op.code)) {
    const std::uint64_t bound = op.code == VectorOpCode::kInsert ? size + 1 : size;
    op.index =
        static_cast<int>(rng() % 100) < invalid_percent ? bound + rng() % 3 : rng() % std::max<std::uint64_t>(bound, 1);
  }
  if (HasValue(op.code)) {
    const std::size_t len = rng() % 10 == 0 ? rng() % max_value : rng() % 12;
    op.value = tag + ":" + std::string(len, static_cast<char>('a' + rng() % 26));
  }
  return op;
}

inline Result<VectorTicket> Submit(Vector& v, const std::vector<VectorOp>& ops, VectorWriteOptions o = {}) {
  if (ops.size() == 1) {
    const VectorOp& op = ops[0];
    switch (op.code) {
      case VectorOpCode::kAppend:
        return v.Append(op.value, o);
      case VectorOpCode::kPrepend:
        return v.Prepend(op.value, o);
      case VectorOpCode::kInsert:
        return v.Insert(op.index, op.value, o);
      case VectorOpCode::kErase:
        return v.Erase(op.index, o);
      case VectorOpCode::kUpdate:
        return v.Update(op.index, op.value, o);
    }
  }
  VectorWriteBatch batch;
  for (const VectorOp& op : ops) {
    switch (op.code) {
      case VectorOpCode::kAppend:
        batch.Append(op.value);
        break;
      case VectorOpCode::kPrepend:
        batch.Prepend(op.value);
        break;
      case VectorOpCode::kInsert:
        batch.Insert(op.index, op.value);
        break;
      case VectorOpCode::kErase:
        batch.Erase(op.index);
        break;
      case VectorOpCode::kUpdate:
        batch.Update(op.index, op.value);
        break;
    }
  }
  return v.Write(batch, o);
}

inline std::vector<std::string> Contents(const VectorSnapshot& snap) {
  auto all = snap.to_vector();
  EXPECT_TRUE(all.has_value()) << all.error().ToString();
  return all ? *all : std::vector<std::string>{};
}

// Equality with a readable failure: sizes and the first element that differs.
inline ::testing::AssertionResult SameSequence(const std::vector<std::string>& got,
                                               const std::vector<std::string>& want) {
  if (got == want) return ::testing::AssertionSuccess();
  std::size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  auto at = [](const std::vector<std::string>& v, std::size_t k) {
    return k < v.size() ? "\"" + v[k] + "\"" : std::string("(end)");
  };
  return ::testing::AssertionFailure() << "sizes " << got.size() << " vs " << want.size() << "; first difference at "
                                       << i << ": " << at(got, i) << " vs " << at(want, i);
}

// Tree shapes: small ones force deep trees and many splits and merges.
struct Shape {
  std::uint32_t branching;
  std::uint32_t leaf_max_elements;
};
inline std::string ShapeName(const ::testing::TestParamInfo<Shape>& info) {
  return "B" + std::to_string(info.param.branching) + "L" + std::to_string(info.param.leaf_max_elements);
}
// L0: leaves filled to their page, the default.
inline const auto kShapes = ::testing::Values(Shape{3, 2}, Shape{4, 3}, Shape{4, 8}, Shape{32, 64}, Shape{32, 0});

inline StoreOptions VectorStoreOptions(Env* env = nullptr) {
  StoreOptions o;
  o.env = env;
  o.io_backend = IoBackend::kPosix;
  o.segment_size = 1 << 20;
  o.flush_buffer_size = 1 << 20;
  o.cleaner_space_factor = 0;
  return o;
}

inline VectorOptions SmallVector(Shape shape) {
  VectorOptions o;
  o.branching = shape.branching;
  o.leaf_max_elements = shape.leaf_max_elements;
  o.writer_slots = 4;
  o.initial_batch_window = 16;
  o.min_batch_window = 4;
  o.max_delay_us = 500;
  return o;
}

}  // namespace llama::vector_test
