// Seeded randomized decoding: random byte strings (some with Len and PLen made
// consistent, so they get past the length checks) and random single-byte mutations of
// random valid records. None may crash; each either decodes, and then DeltaRecord::Decode
// gives back the same bytes and every rule of a valid record holds, or fails, and then
// DeltaRecord::Decode reports the same error. Mutations whose outcome is known (the Len
// bytes, the LSS Off and PID bytes, an opaque payload byte) are checked against it.
//
// The seed is printed on failure; rerun one with LLAMA_TEST_SEED=<seed>.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>

#include "deltas/typed_deltas.h"
#include "llama/delta_decoder.h"
#include "llama/delta_record.h"
#include "tests/deltas/delta_test_util.h"

namespace llama {
namespace {

using namespace delta_test;

std::vector<std::uint64_t> Seeds() {
  if (const char* env = std::getenv("LLAMA_TEST_SEED"); env != nullptr && *env != '\0') {
    return {std::strtoull(env, nullptr, 0)};
  }
  return {1, 2, 3, 0x11A3A, 20240601};
}

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  std::uint64_t Uniform(std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }
  bool OneIn(std::uint64_t n) { return Uniform(0, n - 1) == 0; }

  LssAddress Address() {
    const std::uint32_t segment = OneIn(4) ? LssAddress::kMaxSegment : static_cast<std::uint32_t>(Uniform(1, 1000));
    return LssAddress::Make(segment, static_cast<std::uint32_t>(Uniform(0, 0xFFFFFFFF)));
  }
  LssAddress MaybeAddress() { return OneIn(3) ? LssAddress() : Address(); }

  Bytes RandomBytes(std::size_t n) {
    Bytes out(n);
    for (auto& b : out) b = static_cast<std::byte>(Uniform(0, 255));
    return out;
  }

  DeltaRecord ValidRecord() {
    const auto pid = static_cast<PageId>(Uniform(0, 0xFFFFFFFF));
    const Bytes payload = RandomBytes(Uniform(0, OneIn(10) ? 300 : 20));
    Result<DeltaRecord> r = MakeError(ErrorCode::kAborted, "unset");
    switch (Uniform(0, 3)) {
      case 0:
        r = DeltaRecord::MakeUpdate(pid, payload, MaybeAddress());
        break;
      case 1:
        r = DeltaRecord::MakeFlush(pid, Address(), MaybeAddress());
        break;
      case 2:
        r = DeltaRecord::MakePartialSwap(pid, Address(), payload, MaybeAddress());
        break;
      default:
        r = DeltaRecord::MakeRelocation(pid, Address(), Address(), MaybeAddress());
        break;
    }
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    if (OneIn(2)) r->SetLssOffset(static_cast<std::uint32_t>(Uniform(0, 0xFFFFFFFF)));
    if (OneIn(2)) r->SetDurable(OneIn(2));
    if (OneIn(2)) r->SetConsolidationEligible(true);
    return std::move(*r);
  }

  // Random bytes; often with Len (and then PLen) set to agree with the length, and packed
  // bits drawn from plausible values, so the later rules get exercised too.
  Bytes RandomString() {
    Bytes out = RandomBytes(Uniform(0, OneIn(4) ? 200 : 60));
    if (out.size() >= 33 && !OneIn(4)) {
      EncodeFixed32(out.data(), static_cast<std::uint32_t>(out.size()));
      if (!OneIn(4)) EncodeFixed32(out.data() + 29, static_cast<std::uint32_t>(out.size() - 33));
      if (OneIn(2)) {
        static constexpr std::uint8_t kKinds[] = {kU, kF, kP | kF, kP, kRe};
        const std::uint8_t flags = static_cast<std::uint8_t>(Uniform(0, 255)) & (kF | kE | kR);
        out[12] = static_cast<std::byte>(kKinds[Uniform(0, 4)] | (OneIn(3) ? flags : 0));
      }
      if (OneIn(2)) EncodeFixed64(out.data() + 13, MaybeAddress().raw());
      if (OneIn(2)) EncodeFixed64(out.data() + 21, MaybeAddress().raw());
      if (out.size() >= 41 && OneIn(2)) EncodeFixed64(out.data() + 33, Address().raw());
      if (out.size() >= 49 && OneIn(2)) EncodeFixed64(out.data() + 41, Address().raw());
    }
    return out;
  }

 private:
  std::mt19937_64 rng_;
};

enum class Outcome { kDecoded, kFailed };

// Decodes `bytes` both ways; returns the outcome, or a description of what went wrong.
Outcome Check(const Bytes& bytes, std::string* problem) {
  auto view = DecodeDelta(bytes);
  auto record = DeltaRecord::Decode(bytes);
  if (!view) {
    if (record) {
      *problem = "DecodeDelta failed but DeltaRecord::Decode succeeded";
    } else if (!(record.error() == ToError(view.error()))) {
      *problem = "the two decoders disagree";
    }
    return Outcome::kFailed;
  }
  if (!record) {
    *problem = "DecodeDelta succeeded but DeltaRecord::Decode failed";
    return Outcome::kDecoded;
  }
  if (!SameBytes(record->bytes(), bytes)) *problem = "DeltaRecord::Decode changed the bytes";
  // The rules every valid record obeys, checked through the accessors.
  const DeltaView v = *view;
  const auto plen = static_cast<std::uint64_t>(v.payload_len());
  if (v.len() != bytes.size() || 33 + plen != v.len() || v.payload().size() != plen) {
    *problem = "lengths disagree";
  }
  if ((v.packed_bits() & 0x03) != 0) *problem = "reserved bits set";
  if (v.is_failed_flush() && !v.is_flush()) *problem = "E on a non-Flush";
  if (!v.prior_state().is_null() && !v.prior_state().is_valid()) *problem = "bad prior state";
  if (v.is_partial_swap() != v.last_flushed().is_valid()) *problem = "bad last flushed";
  if (!v.is_partial_swap() && !v.last_flushed().is_null()) *problem = "stray last flushed";
  const int views = UpdateDelta::From(v).has_value() + FlushDelta::From(v).has_value() +
                    PartialSwapDelta::From(v).has_value() + RelocationDelta::From(v).has_value();
  if (views != 1) *problem = "not exactly one typed view";
  if (auto f = FlushDelta::From(v); f && (plen != 8 || !f->flushed_to().is_valid())) {
    *problem = "bad Flush payload";
  }
  if (auto re = RelocationDelta::From(v); re && (plen != 16 || !re->from().is_valid() || !re->to().is_valid())) {
    *problem = "bad Relocation payload";
  }
  return Outcome::kDecoded;
}

TEST(DeltaRandomTest, RandomByteStringsDecodeOrFailCleanly) {
  for (const std::uint64_t seed : Seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with LLAMA_TEST_SEED=" + std::to_string(seed) + ")");
    Generator gen(seed);
    int decoded = 0, failed = 0;
    for (int i = 0; i < 20000; ++i) {
      const Bytes bytes = gen.RandomString();
      std::string problem;
      const Outcome outcome = Check(bytes, &problem);
      ASSERT_TRUE(problem.empty()) << problem << "\ninput " << i << ": " << Hex(bytes);
      (outcome == Outcome::kDecoded ? decoded : failed)++;
    }
    // The generator reaches both sides (else this test would check nothing).
    EXPECT_GT(decoded, 100);
    EXPECT_GT(failed, 100);
  }
}

TEST(DeltaRandomTest, SingleByteMutationsOfValidRecordsDecodeOrFailCleanly) {
  for (const std::uint64_t seed : Seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with LLAMA_TEST_SEED=" + std::to_string(seed) + ")");
    Generator gen(seed);
    int decoded = 0, failed = 0;
    for (int i = 0; i < 20000; ++i) {
      const DeltaRecord original = gen.ValidRecord();
      std::string problem;
      ASSERT_EQ(Check(ToBytes(original.bytes()), &problem), Outcome::kDecoded)
          << "a freshly made record does not decode: " << Hex(original.bytes());
      ASSERT_TRUE(problem.empty()) << problem << "\nrecord " << i << ": " << Hex(original.bytes());

      Bytes mutated = ToBytes(original.bytes());
      const std::size_t at = gen.Uniform(0, mutated.size() - 1);
      const auto flip = static_cast<std::uint8_t>(gen.Uniform(1, 255));  // never a no-op
      mutated[at] ^= static_cast<std::byte>(flip);
      const Outcome outcome = Check(mutated, &problem);
      ASSERT_TRUE(problem.empty()) << problem << "\nmutation " << i << " at byte " << at << ": " << Hex(mutated);
      (outcome == Outcome::kDecoded ? decoded : failed)++;

      // Where the outcome is known, check it.
      const bool opaque_payload = at >= 33 && (original.is_update() || original.is_partial_swap());
      if (at < 4) {
        auto view = DecodeDelta(mutated);
        ASSERT_FALSE(view.has_value()) << "a changed Len decoded: " << Hex(mutated);
        ASSERT_EQ(view.error(), DeltaDecodeError::kLenMismatch) << Hex(mutated);
      } else if ((at >= 4 && at < 12) || opaque_payload) {
        auto view = DecodeDelta(mutated);
        ASSERT_TRUE(view.has_value()) << "changing byte " << at << " must not invalidate a record: " << Hex(mutated);
        EXPECT_EQ(view->kind(), original.kind());
        if (at >= 4 && at < 8) {
          EXPECT_NE(view->lss_offset(), original.lss_offset());
        } else if (at >= 8 && at < 12) {
          EXPECT_NE(view->pid(), original.pid());
        }
      }
    }
    EXPECT_GT(decoded, 1000);
    EXPECT_GT(failed, 1000);
  }
}

}  // namespace
}  // namespace llama
