// Checkpoint files: encoding, validation, the durable write protocol, loading with
// fallback, pruning. Layout and rules: docs/FORMAT.md, "Checkpoint file".
//
//   offset  size  field
//        0     4  magic "LLCK" (0x4B434C4C as u32 little-endian)
//        4     2  format version (1, or 2 with writer settings)
//        6     2  header size (56 for version 1, 72 for version 2)
//        8     8  store_id
//       16     8  sequence
//       24     8  scan_start (LssAddress raw)
//       32     4  oldest_segment
//       36     4  reserved (0)
//       40     8  page_count
//       48     4  application_state length
//       52     4  reserved (0)
//       56    16  version 2 only: writer settings { backend requested u8, backend in use
//                 u8, flags u8 (bit 0: fell back), compression level i8, flush buffer size
//                 u32, flush buffers u32, max disk chain u32 }
//       56        page_count x { pid u32, chain length u32, chain length x { address u64,
//                 length u32 } }
//                 application_state bytes
//   size-8     8  XXH3-64 (Checksum64) of every byte before it
#include "lss/recovery/checkpoint.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <utility>

#include "lss/file/file_names.h"
#include "lss/log/log_format.h"
#include "util/byte_io.h"
#include "util/checksum.h"

namespace llama {
namespace {

constexpr std::uint32_t kMagic = 0x4B434C4C;       // "LLCK" as little-endian bytes
constexpr std::uint16_t kVersionPlain = 1;         // no writer settings
constexpr std::uint16_t kVersionWithSettings = 2;  // writer settings after the header

constexpr std::size_t kHeaderSize = 56;
constexpr std::size_t kSettingsSize = 16;  // backend requested, in use, flags, level u8; three u32
constexpr std::uint8_t kFellBackFlag = 1;
constexpr std::uint8_t kMaxBackendCode = 2;

constexpr std::size_t kPageEntrySize = 8;     // pid u32, chain length u32
constexpr std::size_t kRecordEntrySize = 12;  // address u64, length u32
constexpr std::size_t kTrailerSize = 8;
constexpr std::size_t kMinSize = kHeaderSize + kTrailerSize;  // a version 1 file

std::string Hex64(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

// The semantic rules shared by ValidateCheckpoint and DecodeCheckpoint: "" when they hold,
// else what is wrong.
std::string CheckScanStart(const CheckpointData& d) {
  if (!d.scan_start.is_valid()) {
    return "scan start " + Hex64(d.scan_start.raw()) + " is not a valid address";
  }
  if (d.oldest_segment == 0 || d.oldest_segment > d.scan_start.segment()) {
    return "oldest segment " + std::to_string(d.oldest_segment) + " is not in 1..scan start segment " +
           std::to_string(d.scan_start.segment());
  }
  return {};
}

std::string CheckRecord(const CheckpointData& d, PageId pid, const PageDiskRecord& r) {
  const std::string where = "page " + std::to_string(pid) + " record " + Hex64(r.address.raw());
  if (!r.address.is_valid()) return where + " is not a valid address";
  if (r.address.segment() < d.oldest_segment) {
    return where + " is below oldest segment " + std::to_string(d.oldest_segment);
  }
  if (r.length < log_format::kFrameHeaderSize) {
    return where + " length " + std::to_string(r.length) + " is shorter than a frame header";
  }
  if (std::uint64_t{r.address.offset()} + r.length > log_format::kMaxSegmentSize) {
    return where + " length " + std::to_string(r.length) + " runs past the largest segment";
  }
  return {};
}

std::string CheckPages(const CheckpointData& d) {
  for (std::size_t i = 0; i < d.pages.size(); ++i) {
    const CheckpointPage& page = d.pages[i];
    if (i > 0 && page.pid <= d.pages[i - 1].pid) {
      return "page " + std::to_string(page.pid) + " follows page " + std::to_string(d.pages[i - 1].pid) +
             " (pids must strictly increase)";
    }
    if (page.chain.empty()) return "page " + std::to_string(page.pid) + " has an empty chain";
    for (const PageDiskRecord& r : page.chain) {
      if (std::string why = CheckRecord(d, page.pid, r); !why.empty()) return why;
    }
  }
  return {};
}

std::string CheckAppState(std::uint64_t length) {
  if (length > kMaxCheckpointApplicationState) {
    return "application state length " + std::to_string(length) + " exceeds the " +
           std::to_string(kMaxCheckpointApplicationState) + "-byte limit";
  }
  return {};
}

tl::unexpected<Error> Corrupt(const std::string& why) {
  return MakeError(ErrorCode::kCorruption, "checkpoint: " + why);
}

// The whole content of a file. NotFound if it vanished since it was listed.
Result<std::vector<std::byte>> ReadWholeFile(Env& env, const std::string& path) {
  auto file = env.OpenFile(path, OpenMode::kReadOnly);
  LLAMA_RETURN_IF_ERROR(file);
  auto size = (*file)->Size();
  LLAMA_RETURN_IF_ERROR(size);
  std::vector<std::byte> bytes;
  try {
    bytes.resize(static_cast<std::size_t>(*size));
  } catch (const std::bad_alloc&) {
    return MakeError(ErrorCode::kResourceExhausted,
                     "checkpoint: cannot allocate " + std::to_string(*size) + " bytes to read " + path);
  } catch (const std::length_error&) {
    return MakeError(ErrorCode::kResourceExhausted,
                     "checkpoint: cannot allocate " + std::to_string(*size) + " bytes to read " + path);
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = (*file)->ReadAt(done, std::span<std::byte>(bytes).subspan(done));
    LLAMA_RETURN_IF_ERROR(n);
    if (*n == 0) break;  // the file shrank: decoding reports the truncation
    done += *n;
  }
  bytes.resize(done);
  return bytes;
}

struct Candidate {
  std::uint64_t sequence;
  std::string name;
};

// The checkpoint files of `names`, newest first.
std::vector<Candidate> Candidates(const std::vector<std::string>& names) {
  std::vector<Candidate> out;
  for (const std::string& name : names) {
    if (auto seq = ParseCheckpointFileName(name)) out.push_back({*seq, name});
  }
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) { return a.sequence > b.sequence; });
  return out;
}

// Reads and decodes one checkpoint file. The outer Result carries I/O errors; `data` the
// decoded checkpoint or why the file is damaged (the caller names the file). A file that
// vanished since it was listed (a concurrent prune) is `vanished`, neither.
struct Examined {
  bool vanished = false;
  Result<CheckpointData> data = Corrupt("not read");
};

Result<Examined> Examine(Env& env, const std::string& dir, const Candidate& c) {
  Examined out;
  auto bytes = ReadWholeFile(env, PathIn(dir, c.name));
  if (!bytes) {
    if (bytes.error().code() == ErrorCode::kNotFound) {
      out.vanished = true;
      return out;
    }
    return tl::unexpected(bytes.error());
  }
  out.data = DecodeCheckpoint(*bytes);
  if (out.data && out.data->sequence != c.sequence) {
    out.data = Corrupt("sequence " + std::to_string(out.data->sequence) + " does not match the file name");
  }
  return out;
}

}  // namespace

Status ValidateCheckpoint(const CheckpointData& data) {
  std::string why = CheckScanStart(data);
  if (why.empty()) why = CheckPages(data);
  if (why.empty()) why = CheckAppState(data.application_state.size());
  if (!why.empty()) return MakeError(ErrorCode::kInvalidArgument, "checkpoint: " + why);
  return OkStatus();
}

// The writer settings' backend codes are IoBackend's values (docs/FORMAT.md, "Writer
// settings"): Store::WriterSettings stores them as they are.
static_assert(static_cast<int>(IoBackend::kAuto) == 0 && static_cast<int>(IoBackend::kIoUring) == 1 &&
              static_cast<int>(IoBackend::kPosix) == 2);

std::string_view CheckpointBackendName(std::uint8_t code, bool requested) {
  // 0 in use means an Env that is neither backend.
  if (code > kMaxBackendCode) return "invalid";
  if (code == 0 && !requested) return "unknown";
  return IoBackendName(static_cast<IoBackend>(code));
}

std::vector<std::byte> EncodeCheckpoint(const CheckpointData& data) {
  const std::size_t header_size = kHeaderSize + (data.settings ? kSettingsSize : 0);
  std::size_t size = header_size + data.application_state.size() + kTrailerSize;
  for (const CheckpointPage& page : data.pages) {
    size += kPageEntrySize + kRecordEntrySize * page.chain.size();
  }
  std::vector<std::byte> out;
  out.reserve(size);
  ByteWriter w(out);
  w.U32(kMagic)
      .U16(data.settings ? kVersionWithSettings : kVersionPlain)
      .U16(static_cast<std::uint16_t>(header_size))
      .U64(data.store_id)
      .U64(data.sequence)
      .U64(data.scan_start.raw())
      .U32(data.oldest_segment)
      .U32(0)  // reserved
      .U64(data.pages.size())
      .U32(static_cast<std::uint32_t>(data.application_state.size()))
      .U32(0);  // reserved
  if (const auto& s = data.settings) {
    w.U8(s->io_backend_requested)
        .U8(s->io_backend_in_use)
        .U8(s->io_fell_back ? kFellBackFlag : 0)
        .U8(static_cast<std::uint8_t>(s->compression_level))
        .U32(s->flush_buffer_size)
        .U32(s->flush_buffers)
        .U32(s->max_disk_chain);
  }
  for (const CheckpointPage& page : data.pages) {
    w.U32(page.pid).U32(static_cast<std::uint32_t>(page.chain.size()));
    for (const PageDiskRecord& r : page.chain) w.U64(r.address.raw()).U32(r.length);
  }
  w.Bytes(data.application_state);
  const std::uint64_t checksum = Checksum64(w.written());
  w.U64(checksum);
  return out;
}

namespace {

// The frame of a checkpoint file, checked: magic, version, header size, length, checksum
// and reserved bytes, with the rest of the fixed header. Every size is computed in u64
// and compared against the file's size before anything is read.
struct CheckedFrame {
  std::uint16_t version = 0;
  std::size_t header_size = 0;  // with the writer settings of version 2
  std::uint64_t store_id = 0;
  std::uint64_t sequence = 0;
  std::uint64_t scan_start = 0;
  std::uint32_t oldest_segment = 0;
  std::uint64_t page_count = 0;
  std::uint32_t app_len = 0;
  // The bytes after the fixed 56-byte header, up to the trailer: the writer settings of
  // version 2, the page entries, the application state.
  std::span<const std::byte> body;
};

Result<CheckedFrame> CheckFrame(std::span<const std::byte> bytes) {
  const std::uint64_t size = bytes.size();
  if (size < kMinSize) {
    return Corrupt(std::to_string(size) + " bytes is shorter than the " + std::to_string(kMinSize) + "-byte minimum");
  }
  CheckedFrame frame;
  ByteReader r(bytes);
  std::uint32_t magic = 0, reserved1 = 0, reserved2 = 0;
  std::uint16_t header_size = 0;
  if (!r.U32(&magic) || !r.U16(&frame.version) || !r.U16(&header_size) || !r.U64(&frame.store_id) ||
      !r.U64(&frame.sequence) || !r.U64(&frame.scan_start) || !r.U32(&frame.oldest_segment) || !r.U32(&reserved1) ||
      !r.U64(&frame.page_count) || !r.U32(&frame.app_len) || !r.U32(&reserved2)) {
    return Corrupt("header truncated");  // not reached: the size was checked above
  }
  if (magic != kMagic) return Corrupt("bad magic " + Hex64(magic));
  if (frame.version != kVersionPlain && frame.version != kVersionWithSettings) {
    return Corrupt("unknown format version " + std::to_string(frame.version));
  }
  frame.header_size = kHeaderSize + (frame.version == kVersionWithSettings ? kSettingsSize : 0);
  if (header_size != frame.header_size) {
    return Corrupt("header size " + std::to_string(header_size) + ", expected " + std::to_string(frame.header_size) +
                   " for version " + std::to_string(frame.version));
  }
  if (size < frame.header_size + kTrailerSize) {
    return Corrupt(std::to_string(size) + " bytes is shorter than the " +
                   std::to_string(frame.header_size + kTrailerSize) + "-byte minimum of version " +
                   std::to_string(frame.version));
  }
  const std::span<const std::byte> covered = bytes.first(bytes.size() - kTrailerSize);
  std::uint64_t checksum = 0;
  if (!ByteReader(bytes.subspan(covered.size())).U64(&checksum) || checksum != Checksum64(covered)) {
    return Corrupt("checksum mismatch");
  }
  if (reserved1 != 0 || reserved2 != 0) return Corrupt("reserved header bytes are not zero");
  frame.body = covered.subspan(kHeaderSize);
  return frame;
}

// The version 2 writer settings, read from `r`.
Result<CheckpointSettings> DecodeSettings(ByteReader& r) {
  CheckpointSettings w;
  std::uint8_t flags = 0, level = 0;
  if (!r.U8(&w.io_backend_requested) || !r.U8(&w.io_backend_in_use) || !r.U8(&flags) || !r.U8(&level) ||
      !r.U32(&w.flush_buffer_size) || !r.U32(&w.flush_buffers) || !r.U32(&w.max_disk_chain)) {
    return Corrupt("writer settings truncated");  // not reached: CheckFrame checked the size
  }
  w.io_fell_back = (flags & kFellBackFlag) != 0;
  w.compression_level = static_cast<std::int8_t>(level);
  if (w.io_backend_requested > kMaxBackendCode || w.io_backend_in_use > kMaxBackendCode) {
    return Corrupt("writer settings: unknown io backend code " +
                   std::to_string(std::max(w.io_backend_requested, w.io_backend_in_use)));
  }
  if ((flags & ~kFellBackFlag) != 0) {
    return Corrupt("writer settings: unknown flags " + std::to_string(flags));
  }
  return w;
}

// The page entries, `page_count` of them, filling `r` exactly, into d.pages (d's
// oldest_segment already decoded: records are checked against it).
Status DecodePages(ByteReader r, std::uint64_t page_count, CheckpointData& d) {
  // Each page takes at least one page entry and one record entry.
  if (page_count > r.remaining() / (kPageEntrySize + kRecordEntrySize)) {
    return Corrupt("page count " + std::to_string(page_count) + " exceeds file size");
  }
  d.pages.reserve(static_cast<std::size_t>(page_count));
  for (std::uint64_t i = 0; i < page_count; ++i) {
    PageId pid = 0;
    std::uint32_t chain_len = 0;
    if (!r.U32(&pid) || !r.U32(&chain_len)) {
      return Corrupt("page entry " + std::to_string(i) + " exceeds file size");
    }
    CheckpointPage& page = d.pages.emplace_back();
    page.pid = pid;
    if (i > 0 && page.pid <= d.pages[i - 1].pid) {
      return Corrupt("page " + std::to_string(page.pid) + " follows page " + std::to_string(d.pages[i - 1].pid) +
                     " (pids must strictly increase)");
    }
    if (chain_len == 0) return Corrupt("page " + std::to_string(page.pid) + " has an empty chain");
    if (chain_len > r.remaining() / kRecordEntrySize) {
      return Corrupt("page " + std::to_string(page.pid) + " chain length " + std::to_string(chain_len) +
                     " exceeds file size");
    }
    page.chain.reserve(chain_len);
    for (std::uint32_t j = 0; j < chain_len; ++j) {
      PageDiskRecord& rec = page.chain.emplace_back();
      std::uint64_t address = 0;
      (void)r.U64(&address);  // both present: the chain length was checked above
      (void)r.U32(&rec.length);
      rec.address = LssAddress::FromRaw(address);
      if (std::string why = CheckRecord(d, page.pid, rec); !why.empty()) return Corrupt(why);
    }
  }
  if (r.remaining() != 0) {
    return Corrupt(std::to_string(r.remaining()) + " bytes between the page entries and the application state");
  }
  return OkStatus();
}

}  // namespace

Result<CheckpointData> DecodeCheckpoint(std::span<const std::byte> bytes) {
  auto frame = CheckFrame(bytes);
  LLAMA_RETURN_IF_ERROR(frame);
  CheckpointData d;
  d.store_id = frame->store_id;
  d.sequence = frame->sequence;
  d.scan_start = LssAddress::FromRaw(frame->scan_start);
  d.oldest_segment = frame->oldest_segment;
  ByteReader r(frame->body);
  if (frame->version == kVersionWithSettings) {
    auto settings = DecodeSettings(r);
    LLAMA_RETURN_IF_ERROR(settings);
    d.settings = *settings;
  }
  const std::uint64_t app_len = frame->app_len;
  if (std::string why = CheckScanStart(d); !why.empty()) return Corrupt(why);
  if (std::string why = CheckAppState(app_len); !why.empty()) return Corrupt(why);

  // Bytes between the header and the trailer: page entries, then the application state.
  if (app_len > r.remaining()) {
    return Corrupt("application state length " + std::to_string(app_len) + " exceeds file size");
  }
  const std::size_t pages_size = r.remaining() - static_cast<std::size_t>(app_len);
  LLAMA_RETURN_IF_ERROR(DecodePages(ByteReader(r.rest().first(pages_size)), frame->page_count, d));
  std::span<const std::byte> app;
  (void)r.Skip(pages_size);
  (void)r.Bytes(static_cast<std::size_t>(app_len), &app);  // all that is left
  d.application_state.assign(app.begin(), app.end());
  return d;
}

Status WriteCheckpoint(Env& env, const std::string& dir, const CheckpointData& data) {
  if (auto valid = ValidateCheckpoint(data); !valid) return valid;
  const std::vector<std::byte> bytes = EncodeCheckpoint(data);
  return WriteFileAtomically(env, dir, CheckpointFileName(data.sequence), bytes);
}

Result<LoadedCheckpoint> LoadNewestCheckpoint(Env& env, const std::string& dir, std::uint64_t store_id) {
  auto names = env.ListDir(dir);
  LLAMA_RETURN_IF_ERROR(names);
  LoadedCheckpoint out;
  for (const Candidate& c : Candidates(*names)) {
    auto examined = Examine(env, dir, c);
    LLAMA_RETURN_IF_ERROR(examined);
    if (examined->vanished) continue;
    Result<CheckpointData>& data = examined->data;
    if (!data) {
      out.damaged.push_back(c.name + ": " + data.error().message());
      continue;
    }
    if (store_id != 0 && data->store_id != store_id) {
      out.damaged.push_back(c.name + ": checkpoint: store id " + std::to_string(data->store_id) + " does not match " +
                            std::to_string(store_id));
      continue;
    }
    out.checkpoint = std::move(*data);
    break;
  }
  return out;
}

Status PruneCheckpoints(Env& env, const std::string& dir, std::size_t keep) {
  if (keep == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "checkpoint: prune must keep at least one");
  }
  auto names = env.ListDir(dir);
  LLAMA_RETURN_IF_ERROR(names);
  std::vector<std::string> doomed;
  for (const std::string& name : *names) {
    if (ParseFileName(name).type == StoreFileType::kCheckpointTmp) doomed.push_back(name);
  }
  // Newest first: count valid checkpoints; once `keep` are found, every older checkpoint
  // file goes (valid or not). Damaged files newer than that stay for the store to report.
  std::size_t valid = 0;
  for (const Candidate& c : Candidates(*names)) {
    if (valid >= keep) {
      doomed.push_back(c.name);
      continue;
    }
    auto examined = Examine(env, dir, c);
    LLAMA_RETURN_IF_ERROR(examined);
    if (!examined->vanished && examined->data) ++valid;
  }
  for (const std::string& name : doomed) {
    auto s = env.DeleteFile(PathIn(dir, name));
    if (!s && s.error().code() != ErrorCode::kNotFound) return s;
  }
  if (doomed.empty()) return OkStatus();
  return env.SyncDir(dir);
}

}  // namespace llama
