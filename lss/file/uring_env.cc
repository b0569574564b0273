// UringEnv: file reads, writes and syncs through io_uring (liburing).
//
// The env owns a small pool of rings, each guarded by a mutex. An operation leases one
// ring for its whole duration: it tries every ring once (round robin from a rotating
// start, try_lock), and if all are busy it blocks on the first one it tried. A write batch
// is submitted in rounds of at most kQueueDepth SQEs (one io_uring_submit per round) and
// every completion of a round is reaped before the next one; short writes and requests
// that completed with -EAGAIN / -EINTR are resubmitted in the next round. Because a round
// never has more than kQueueDepth requests in flight, the completion queue (2 x depth)
// cannot overflow.
//
// Directory operations, Size, Truncate, Sync and single writes use plain syscalls
// (lss/file/posix_util.h).
#include <liburing.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>
#include <thread>

#include "llama/env.h"
#include "lss/file/posix_util.h"

namespace llama {
namespace {

using lss_internal::DescribeAt;
using lss_internal::ErrnoError;

constexpr unsigned kRingCount = 4;
constexpr unsigned kQueueDepth = 64;
// One SQE carries a 32-bit length; the kernel caps a transfer at 0x7ffff000 bytes anyway.
constexpr std::size_t kMaxIoBytes = std::size_t{1} << 30;

bool Transient(int err) { return err == EINTR || err == EAGAIN; }

struct Ring {
  std::mutex mu;
  io_uring ring{};
  bool ready = false;  // false after a failed re-initialization; retried on the next lease
};

// A leased ring: exclusive use until destroyed.
struct RingLease {
  Ring* ring;
  std::unique_lock<std::mutex> lock;
};

class RingPool {
 public:
  RingPool() = default;
  RingPool(const RingPool&) = delete;
  RingPool& operator=(const RingPool&) = delete;
  ~RingPool() {
    for (auto& ring : rings_) {
      if (ring->ready) io_uring_queue_exit(&ring->ring);
    }
  }

  // Initializes up to `count` rings. Fails (with the errno of the first ring) only when
  // not even one ring can be created; later failures just leave a smaller pool.
  Status Init(unsigned count) {
    for (unsigned i = 0; i < count; ++i) {
      auto ring = std::make_unique<Ring>();
      const int rc = io_uring_queue_init(kQueueDepth, &ring->ring, 0);
      if (rc < 0) {
        if (i == 0) {
          Error e = ErrnoError(-rc, "io_uring_queue_init");
          return MakeError(ErrorCode::kUnsupported, e.message());
        }
        break;
      }
      ring->ready = true;
      rings_.push_back(std::move(ring));
    }
    return OkStatus();
  }

  io_uring* first() { return &rings_.front()->ring; }

  Result<RingLease> Acquire() {
    const std::size_t n = rings_.size();
    const std::size_t start = next_.fetch_add(1, std::memory_order_relaxed) % n;
    std::optional<RingLease> lease;
    for (std::size_t i = 0; i < n && !lease; ++i) {
      Ring* ring = rings_[(start + i) % n].get();
      std::unique_lock lock(ring->mu, std::try_to_lock);
      if (lock.owns_lock()) lease.emplace(RingLease{ring, std::move(lock)});
    }
    if (!lease) {
      Ring* ring = rings_[start].get();
      lease.emplace(RingLease{ring, std::unique_lock(ring->mu)});
    }
    if (!lease->ring->ready) {
      const int rc = io_uring_queue_init(kQueueDepth, &lease->ring->ring, 0);
      if (rc < 0) {
        return tl::unexpected<Error>(ErrnoError(-rc, "io_uring_queue_init (re-init)"));
      }
      lease->ring->ready = true;
    }
    return std::move(*lease);
  }

 private:
  std::vector<std::unique_ptr<Ring>> rings_;
  std::atomic<std::size_t> next_{0};
};

// Cannot happen (every round starts with an empty submission queue and uses at most its
// depth), but SQEs already prepared must never be submitted later by another lease: drop
// them with the ring.
Status NoFreeSqe(Ring& ring) {
  io_uring_queue_exit(&ring.ring);
  ring.ready = false;
  return MakeError(ErrorCode::kIOError, "io_uring: no free submission queue entry");
}

// Submits the `count` SQEs prepared on `ring` and reaps exactly as many completions,
// calling on_cqe(user_data, res) for each. Transient submit / wait errors are retried. If
// the kernel refuses a submission outright, the completions of what it did accept are
// still reaped (their buffers belong to the caller), the ring is torn down (dropping the
// unsubmitted SQEs) and the error is returned; the next lease re-creates the ring.
template <typename OnCqe>
Status SubmitAndReap(Ring& ring, unsigned count, std::string_view what, OnCqe&& on_cqe) {
  unsigned submitted = 0;
  std::optional<Error> submit_error;
  while (submitted < count) {
    const int rc = io_uring_submit(&ring.ring);
    if (rc > 0) {
      submitted += static_cast<unsigned>(rc);
    } else if (rc == 0 || Transient(-rc)) {
      std::this_thread::yield();
    } else {
      submit_error = ErrnoError(-rc, std::string("io_uring_submit (") + std::string(what) + ")");
      break;
    }
  }
  for (unsigned reaped = 0; reaped < submitted;) {
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_wait_cqe(&ring.ring, &cqe);
    if (rc < 0) {
      if (Transient(-rc) || rc == -ETIME) continue;
      // A ring that cannot report completions is unusable; requests still in flight are
      // cancelled when the ring is torn down.
      io_uring_queue_exit(&ring.ring);
      ring.ready = false;
      return tl::unexpected<Error>(ErrnoError(-rc, std::string("io_uring_wait_cqe (") + std::string(what) + ")"));
    }
    on_cqe(cqe->user_data, cqe->res);
    io_uring_cqe_seen(&ring.ring, cqe);
    ++reaped;
  }
  if (submit_error) {
    io_uring_queue_exit(&ring.ring);
    ring.ready = false;
    return tl::unexpected<Error>(*submit_error);
  }
  return OkStatus();
}

// Runs one request (prepared by `prep`) until it completes with something other than
// -EAGAIN / -EINTR; returns its result.
template <typename Prep>
Result<int> RunOne(Ring& ring, std::string_view what, Prep&& prep) {
  while (true) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring.ring);
    if (sqe == nullptr) return tl::unexpected<Error>(NoFreeSqe(ring).error());
    prep(sqe);
    sqe->user_data = 0;
    int result = 0;
    Status s = SubmitAndReap(ring, 1, what, [&](std::uint64_t, int res) { result = res; });
    if (!s) return tl::unexpected<Error>(s.error());
    if (result < 0 && Transient(-result)) continue;
    return result;
  }
}

class UringFile final : public lss_internal::FdFile {
 public:
  UringFile(int fd, std::string path, RingPool* pool) : FdFile(fd, std::move(path)), pool_(pool) {}

  Status WriteAt(std::span<const WriteRequest> batch) override {
    // One request: pwrite(2) itself. A ring saves nothing on a single write and costs a
    // submission, a completion and, for a buffered write the kernel cannot finish without
    // blocking, a worker thread's wake-up: the log's synced writes are one request each.
    if (batch.size() == 1) {
      return fd_.With<Status>("pwrite", [&](int fd) { return lss_internal::FdWriteAll(fd, path(), batch); });
    }
    return fd_.With<Status>("write", [&](int fd) -> Status {
      struct Pending {
        const std::byte* data;
        std::size_t length;
        std::uint64_t offset;
      };
      std::vector<Pending> todo;
      todo.reserve(batch.size());
      for (const WriteRequest& request : batch) {
        if (!request.data.empty()) {
          todo.push_back({request.data.data(), request.data.size(), request.offset});
        }
      }
      if (todo.empty()) return OkStatus();

      Result<RingLease> lease = pool_->Acquire();
      if (!lease) return tl::unexpected<Error>(lease.error());
      Ring& ring = *lease->ring;
      std::vector<Pending> again;
      std::optional<Error> first_error;
      while (!todo.empty()) {
        again.clear();
        bool progress = false;
        for (std::size_t begin = 0; begin < todo.size(); begin += kQueueDepth) {
          const std::size_t end = std::min<std::size_t>(todo.size(), begin + kQueueDepth);
          for (std::size_t i = begin; i < end; ++i) {
            io_uring_sqe* sqe = io_uring_get_sqe(&ring.ring);
            if (sqe == nullptr) return NoFreeSqe(ring);
            const Pending& p = todo[i];
            io_uring_prep_write(sqe, fd, p.data, static_cast<unsigned>(std::min(p.length, kMaxIoBytes)), p.offset);
            sqe->user_data = i;
          }
          Status s =
              SubmitAndReap(ring, static_cast<unsigned>(end - begin), "write", [&](std::uint64_t index, int res) {
                Pending p = todo[index];
                if (res > 0) {
                  progress = true;
                  const auto n = static_cast<std::size_t>(res);
                  if (n < p.length) again.push_back({p.data + n, p.length - n, p.offset + n});
                } else if (res < 0 && Transient(-res)) {
                  again.push_back(p);
                } else if (!first_error) {
                  first_error =
                      res == 0 ? Error(ErrorCode::kIOError, DescribeAt("write", path(), p.offset) + ": wrote 0 bytes")
                               : ErrnoError(-res, DescribeAt("write", path(), p.offset));
                }
              });
          if (!s) return s;
          if (first_error) return tl::unexpected<Error>(*first_error);
        }
        if (!progress) std::this_thread::yield();
        todo.swap(again);
      }
      return OkStatus();
    });
  }

  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::byte> out) override {
    return fd_.With<Result<std::size_t>>("read", [&](int fd) -> Result<std::size_t> {
      if (out.empty()) return std::size_t{0};
      Result<RingLease> lease = pool_->Acquire();
      if (!lease) return tl::unexpected<Error>(lease.error());
      std::size_t done = 0;
      while (done < out.size()) {
        const std::size_t want = std::min(out.size() - done, kMaxIoBytes);
        Result<int> res = RunOne(*lease->ring, "read", [&](io_uring_sqe* sqe) {
          io_uring_prep_read(sqe, fd, out.data() + done, static_cast<unsigned>(want), offset + done);
        });
        if (!res) return tl::unexpected<Error>(res.error());
        if (*res < 0) {
          return tl::unexpected<Error>(ErrnoError(-*res, DescribeAt("read", path(), offset + done)));
        }
        if (*res == 0) break;  // end of file
        done += static_cast<std::size_t>(*res);
      }
      return done;
    });
  }

  // fdatasync(2) itself, not IORING_OP_FSYNC: io_uring always hands a sync to one of its
  // worker threads (it cannot be done without blocking), so the ring adds a thread wake-up
  // and a completion to every group commit and saves nothing (README, synced puts).
  Status Sync() override {
    return fd_.With<Status>("fdatasync", [&](int fd) { return lss_internal::FdSyncData(fd, path()); });
  }

 private:
  RingPool* pool_;  // owned by the env, which outlives its files
};

class UringEnv final : public lss_internal::SyscallDirEnv {
 public:
  // Creates the rings and checks that the kernel runs what we need: the READ, WRITE and
  // FSYNC opcodes (kernel 5.6+) and a NOP round trip (a seccomp profile may allow
  // io_uring_setup yet refuse io_uring_enter).
  Status Init() {
    Status s = pool_.Init(kRingCount);
    if (!s) return s;
    io_uring* ring = pool_.first();
    io_uring_probe* probe = io_uring_get_probe_ring(ring);
    if (probe == nullptr) {
      return MakeError(ErrorCode::kUnsupported, "io_uring: the kernel cannot probe opcodes");
    }
    const bool ops = io_uring_opcode_supported(probe, IORING_OP_READ) &&
                     io_uring_opcode_supported(probe, IORING_OP_WRITE) &&
                     io_uring_opcode_supported(probe, IORING_OP_FSYNC);
    io_uring_free_probe(probe);
    if (!ops) {
      return MakeError(ErrorCode::kUnsupported, "io_uring: the kernel lacks IORING_OP_READ / WRITE / FSYNC");
    }
    Result<RingLease> lease = pool_.Acquire();
    if (!lease) return MakeError(ErrorCode::kUnsupported, lease.error().message());
    Result<int> nop = RunOne(*lease->ring, "nop", [](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
    if (!nop) return MakeError(ErrorCode::kUnsupported, nop.error().message());
    if (*nop < 0) {
      return MakeError(ErrorCode::kUnsupported, ErrnoError(-*nop, "io_uring nop").message());
    }
    return OkStatus();
  }

  std::string_view backend_name() const override { return "io_uring"; }

  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override {
    Result<int> fd = lss_internal::OpenFd(path, mode);
    if (!fd) return tl::unexpected<Error>(fd.error());
    return std::unique_ptr<File>(std::make_unique<UringFile>(*fd, path, &pool_));
  }

 private:
  RingPool pool_;
};

}  // namespace

Result<std::unique_ptr<Env>> NewUringEnv() {
  auto env = std::make_unique<UringEnv>();
  Status s = env->Init();
  if (!s) return tl::unexpected<Error>(s.error());
  return std::unique_ptr<Env>(std::move(env));
}

}  // namespace llama
