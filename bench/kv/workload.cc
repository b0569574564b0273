#include "bench/kv/workload.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

namespace kvbench {

namespace {

std::uint64_t Fnv64(std::uint64_t v) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (int i = 0; i < 8; ++i) {
    h ^= v & 0xff;
    h *= 0x100000001B3ull;
    v >>= 8;
  }
  return h;
}

double Zeta(std::uint64_t n, double theta) {
  double sum = 0;
  for (std::uint64_t i = 1; i <= n; ++i) sum += 1.0 / std::pow(static_cast<double>(i), theta);
  return sum;
}

llama::Error Broken(const std::string& what) { return llama::Error(llama::ErrorCode::kCorruption, what); }

}  // namespace

void MakeKey(std::uint64_t id, char* out) {
  out[0] = 'k';
  for (int i = static_cast<int>(kKeyBytes) - 1; i >= 1; --i) {
    out[i] = static_cast<char>('0' + id % 10);
    id /= 10;
  }
}

ScrambledZipfian::ScrambledZipfian(std::uint64_t items, double theta)
    : items_(items), theta_(theta), alpha_(1.0 / (1.0 - theta)), zetan_(Zeta(items, theta)) {
  const double zeta2 = Zeta(2, theta);
  eta_ = (1 - std::pow(2.0 / static_cast<double>(items), 1 - theta)) / (1 - zeta2 / zetan_);
  half_pow_theta_ = 1 + std::pow(0.5, theta);
}

std::uint64_t ScrambledZipfian::Next(std::mt19937_64& rng) const {
  const double u = std::uniform_real_distribution<double>(0, 1)(rng);
  const double uz = u * zetan_;
  std::uint64_t rank;
  if (uz < 1) {
    rank = 0;
  } else if (uz < half_pow_theta_) {
    rank = 1;
  } else {
    rank = static_cast<std::uint64_t>(static_cast<double>(items_) * std::pow(eta_ * u - eta_ + 1, alpha_));
  }
  return Fnv64(std::min(rank, items_ - 1)) % items_;
}

Workloads::Workloads(std::uint64_t keys, std::size_t value_bytes, std::uint64_t seed)
    : keys_(keys), value_bytes_(value_bytes), seed_(seed), permutation_(keys), zipf_(keys) {
  std::mt19937_64 rng(seed);
  for (std::uint64_t i = 0; i < keys; ++i) permutation_[i] = i;
  std::shuffle(permutation_.begin(), permutation_.end(), rng);
  random_bytes_.resize((1u << 20) + value_bytes);
  for (char& c : random_bytes_) c = static_cast<char>('!' + rng() % 90);
}

std::string_view Workloads::ValueFor(std::uint64_t id, std::uint64_t version) const {
  const std::size_t at = static_cast<std::size_t>((id * 7919 + version * 104729) % (1u << 20));
  return std::string_view(random_bytes_).substr(at, value_bytes_);
}

Result<RunResult> Workloads::Run(KvEngine& engine, const WorkloadSpec& spec, int threads) {
  if (spec.kind == Kind::kYcsbE && spec.first_new_id < keys_) {
    return tl::unexpected(llama::Error(llama::ErrorCode::kInvalidArgument, "ycsb-e would insert loaded keys"));
  }
  std::vector<llama::Status> status(static_cast<std::size_t>(threads));
  std::vector<std::uint64_t> found(static_cast<std::size_t>(threads), 0);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  auto body = [&](int t) -> llama::Status {
    std::mt19937_64 rng(seed_ * 1000003 + static_cast<std::uint64_t>(t) * 7 + static_cast<std::uint64_t>(spec.kind));
    const std::uint64_t begin = spec.ops * static_cast<std::uint64_t>(t) / static_cast<std::uint64_t>(threads);
    const std::uint64_t end = spec.ops * static_cast<std::uint64_t>(t + 1) / static_cast<std::uint64_t>(threads);
    char key[kKeyBytes];
    const std::string_view k(key, kKeyBytes);
    std::string value;
    std::vector<std::pair<std::string, std::string>> rows;
    std::uint64_t& hits = found[static_cast<std::size_t>(t)];
    // ycsb-e inserts new keys from first_new_id on, each thread in the stretch of its operations.
    std::uint64_t next_new = spec.first_new_id + begin;
    ready.fetch_add(1);
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    for (std::uint64_t i = begin; i < end; ++i) {
      switch (spec.kind) {
        case Kind::kFillSeq:
        case Kind::kFillRandom: {
          const std::uint64_t id = spec.kind == Kind::kFillSeq ? i % keys_ : permutation_[i % keys_];
          MakeKey(id, key);
          if (auto s = engine.Put(k, ValueFor(id, 0)); !s) return s;
          break;
        }
        case Kind::kReadRandom:
        case Kind::kReadMissing: {
          const bool missing_too = spec.kind == Kind::kReadMissing;
          const std::uint64_t id = rng() % (missing_too ? 2 * keys_ : keys_);
          MakeKey(id, key);
          auto got = engine.Get(k, &value);
          LLAMA_RETURN_IF_ERROR(got);
          if (*got != (id < keys_))
            return tl::unexpected(Broken("a read of key " + std::to_string(id) + " got the wrong answer"));
          hits += *got ? 1 : 0;
          break;
        }
        case Kind::kYcsbA:
        case Kind::kYcsbC: {
          const std::uint64_t id = zipf_.Next(rng);
          MakeKey(id, key);
          if (spec.kind == Kind::kYcsbA && rng() % 2 == 0) {
            if (auto s = engine.Put(k, ValueFor(id, i + 1)); !s) return s;
          } else {
            auto got = engine.Get(k, &value);
            LLAMA_RETURN_IF_ERROR(got);
            if (!*got) return tl::unexpected(Broken("a loaded key was not found"));
            ++hits;
          }
          break;
        }
        case Kind::kYcsbE: {
          if (rng() % 100 < 5) {
            const std::uint64_t id = next_new++;
            MakeKey(id, key);
            if (auto s = engine.Put(k, ValueFor(id, 0)); !s) return s;
          } else {
            MakeKey(zipf_.Next(rng), key);
            if (auto s = engine.Scan(k, 1 + rng() % 100, &rows); !s) return s;
            if (rows.empty() || rows.front().first < k)
              return tl::unexpected(Broken("a scan returned nothing or too early a key"));
            hits += rows.size();
          }
          break;
        }
      }
    }
    return llama::OkStatus();
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] { status[static_cast<std::size_t>(t)] = body(t); });
  }
  while (ready.load() < threads) std::this_thread::yield();
  const auto started = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();
  RunResult result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.ops = spec.ops;
  for (std::size_t t = 0; t < status.size(); ++t) {
    if (!status[t]) return tl::unexpected(status[t].error());
    result.found += found[t];
  }
  return result;
}

}  // namespace kvbench
