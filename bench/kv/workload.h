// The comparison's workloads: key and value generation, the scrambled zipfian key chooser
// of YCSB, and a runner that drives an engine from N threads and times the whole run.
//
//   fillseq        N puts, keys in ascending order (each thread a contiguous range)
//   fillrandom     N puts, keys in a random order
//   readrandom     N gets of keys that are all present
//   readmissing    N gets of keys of which half are present
//   ycsb-a         N operations: 50% get, 50% put (update), zipfian keys
//   ycsb-c         N gets, zipfian keys
//   ycsb-e         N operations: 95% short scans (1..100 pairs from a zipfian key), 5% puts
//                  of new keys (ids from the spec's first_new_id on, never loaded before)
//
// Keys are 16 bytes ("k" and 15 decimal digits of the key id, so id order is key order);
// values are `value_bytes` long, cut from a random buffer at an offset the key id picks.
// Every read is checked: a key that must be there and is not aborts the run.
//
// Ownership: a Workload holds only its parameters and the value buffer; engines are
// borrowed for one Run.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench/kv/kv_engine.h"

namespace kvbench {

constexpr std::size_t kKeyBytes = 16;

// The key of id `id` in `out` (16 bytes).
void MakeKey(std::uint64_t id, char* out);

// YCSB's scrambled zipfian generator (Gray et al.'s method, theta 0.99): popular items
// are spread over the key space by a hash.
class ScrambledZipfian {
 public:
  explicit ScrambledZipfian(std::uint64_t items, double theta = 0.99);
  std::uint64_t Next(std::mt19937_64& rng) const;

 private:
  std::uint64_t items_;
  double theta_, alpha_, zetan_, eta_, half_pow_theta_;
};

enum class Kind { kFillSeq, kFillRandom, kReadRandom, kReadMissing, kYcsbA, kYcsbC, kYcsbE };

struct WorkloadSpec {
  std::string name;
  Kind kind;
  std::uint64_t ops;               // total over all threads
  std::uint64_t first_new_id = 0;  // ycsb-e: its new keys' ids are first_new_id .. first_new_id + ops - 1
};

struct RunResult {
  std::uint64_t ops = 0;
  double seconds = 0;
  std::uint64_t found = 0;  // reads that found their key (ycsb-e: pairs scanned)
  double ops_per_sec() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
};

class Workloads {
 public:
  // `keys`: the loaded key ids are 0 .. keys-1.
  Workloads(std::uint64_t keys, std::size_t value_bytes, std::uint64_t seed);

  // Runs `spec` on `engine` from `threads` threads. Errors (engine failures, a present key
  // not found, a ycsb-e whose new ids are not past the loaded ones) end the run.
  Result<RunResult> Run(KvEngine& engine, const WorkloadSpec& spec, int threads);

 private:
  std::string_view ValueFor(std::uint64_t id, std::uint64_t version) const;

  const std::uint64_t keys_;
  const std::size_t value_bytes_;
  const std::uint64_t seed_;
  std::vector<std::uint64_t> permutation_;  // fillrandom's order
  std::string random_bytes_;
  ScrambledZipfian zipf_;
};

}  // namespace kvbench
