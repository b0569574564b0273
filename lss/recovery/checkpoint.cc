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

#include "llama/coding.h"
#include "lss/log/log_format.h"
#include "util/checksum.h"

namespace llama {
namespace {

constexpr std::uint32_t kMagic = 0x4B434C4C;       // "LLCK" as little-endian bytes
constexpr std::uint16_t kVersionPlain = 1;         // no writer settings
constexpr std::uint16_t kVersionWithSettings = 2;  // writer settings after the header

constexpr std::size_t kMagicOffset = 0;
constexpr std::size_t kVersionOffset = 4;
constexpr std::size_t kHeaderSizeOffset = 6;
constexpr std::size_t kStoreIdOffset = 8;
constexpr std::size_t kSequenceOffset = 16;
constexpr std::size_t kScanStartOffset = 24;
constexpr std::size_t kOldestSegmentOffset = 32;
constexpr std::size_t kReserved1Offset = 36;
constexpr std::size_t kPageCountOffset = 40;
constexpr std::size_t kAppStateLenOffset = 48;
constexpr std::size_t kReserved2Offset = 52;
constexpr std::size_t kHeaderSize = 56;
constexpr std::size_t kSettingsSize = 16;
constexpr std::size_t kBackendRequestedOffset = 0;  // within the settings
constexpr std::size_t kBackendInUseOffset = 1;
constexpr std::size_t kSettingsFlagsOffset = 2;
constexpr std::size_t kCompressionLevelOffset = 3;
constexpr std::size_t kFlushBufferSizeOffset = 4;
constexpr std::size_t kFlushBuffersOffset = 8;
constexpr std::size_t kMaxDiskChainOffset = 12;
static_assert(kMaxDiskChainOffset + 4 == kSettingsSize, "the writer settings are 16 bytes");
constexpr std::uint8_t kFellBackFlag = 1;
constexpr std::uint8_t kMaxBackendCode = 2;

constexpr std::size_t kPageEntrySize = 8;     // pid u32, chain length u32
constexpr std::size_t kRecordEntrySize = 12;  // address u64, length u32
constexpr std::size_t kTrailerSize = 8;
constexpr std::size_t kMinSize = kHeaderSize + kTrailerSize;  // a version 1 file

constexpr std::string_view kNamePrefix = "CHECKPOINT-";
constexpr std::size_t kNameDigits = 16;
constexpr std::string_view kTmpSuffix = ".tmp";

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

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

bool IsCheckpointTmpName(const std::string& name) {
  if (name.size() <= kTmpSuffix.size() ||
      name.compare(name.size() - kTmpSuffix.size(), kTmpSuffix.size(), kTmpSuffix) != 0) {
    return false;
  }
  return ParseCheckpointFileName(name.substr(0, name.size() - kTmpSuffix.size())).has_value();
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
  auto bytes = ReadWholeFile(env, JoinPath(dir, c.name));
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

std::string CheckpointFileName(std::uint64_t sequence) {
  char digits[kNameDigits + 1];
  std::snprintf(digits, sizeof digits, "%016" PRIx64, sequence);
  return std::string(kNamePrefix) + digits;
}

std::optional<std::uint64_t> ParseCheckpointFileName(const std::string& name) {
  if (name.size() != kNamePrefix.size() + kNameDigits || name.compare(0, kNamePrefix.size(), kNamePrefix) != 0) {
    return std::nullopt;
  }
  std::uint64_t sequence = 0;
  for (std::size_t i = kNamePrefix.size(); i < name.size(); ++i) {
    const char c = name[i];
    std::uint64_t digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<std::uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;  // upper case too: one name per sequence
    }
    sequence = sequence * 16 + digit;
  }
  return sequence;
}

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
  std::vector<std::byte> out(size);
  std::byte* p = out.data();
  EncodeFixed32(p + kMagicOffset, kMagic);
  EncodeFixed16(p + kVersionOffset, data.settings ? kVersionWithSettings : kVersionPlain);
  EncodeFixed16(p + kHeaderSizeOffset, static_cast<std::uint16_t>(header_size));
  EncodeFixed64(p + kStoreIdOffset, data.store_id);
  EncodeFixed64(p + kSequenceOffset, data.sequence);
  EncodeFixed64(p + kScanStartOffset, data.scan_start.raw());
  EncodeFixed32(p + kOldestSegmentOffset, data.oldest_segment);
  EncodeFixed32(p + kReserved1Offset, 0);
  EncodeFixed64(p + kPageCountOffset, data.pages.size());
  EncodeFixed32(p + kAppStateLenOffset, static_cast<std::uint32_t>(data.application_state.size()));
  EncodeFixed32(p + kReserved2Offset, 0);
  if (const auto& w = data.settings) {
    std::byte* q = p + kHeaderSize;
    q[kBackendRequestedOffset] = static_cast<std::byte>(w->io_backend_requested);
    q[kBackendInUseOffset] = static_cast<std::byte>(w->io_backend_in_use);
    q[kSettingsFlagsOffset] = static_cast<std::byte>(w->io_fell_back ? kFellBackFlag : 0);
    q[kCompressionLevelOffset] = static_cast<std::byte>(static_cast<std::uint8_t>(w->compression_level));
    EncodeFixed32(q + kFlushBufferSizeOffset, w->flush_buffer_size);
    EncodeFixed32(q + kFlushBuffersOffset, w->flush_buffers);
    EncodeFixed32(q + kMaxDiskChainOffset, w->max_disk_chain);
  }
  std::size_t pos = header_size;
  for (const CheckpointPage& page : data.pages) {
    EncodeFixed32(p + pos, page.pid);
    EncodeFixed32(p + pos + 4, static_cast<std::uint32_t>(page.chain.size()));
    pos += kPageEntrySize;
    for (const PageDiskRecord& r : page.chain) {
      EncodeFixed64(p + pos, r.address.raw());
      EncodeFixed32(p + pos + 8, r.length);
      pos += kRecordEntrySize;
    }
  }
  std::copy(data.application_state.begin(), data.application_state.end(), p + pos);
  pos += data.application_state.size();
  EncodeFixed64(p + pos, Checksum64(std::span<const std::byte>(p, pos)));
  return out;
}

namespace {

// The frame of a checkpoint file, checked: magic, version, header size, length, checksum
// and reserved bytes. Every size is computed in u64 and compared against the file's size
// before anything is read.
struct CheckedFrame {
  std::uint16_t version = 0;
  std::size_t header_size = 0;  // with the writer settings of version 2
  std::uint64_t body_end = 0;   // where the trailer starts
};

Result<CheckedFrame> CheckFrame(std::span<const std::byte> bytes) {
  const std::uint64_t size = bytes.size();
  if (size < kMinSize) {
    return Corrupt(std::to_string(size) + " bytes is shorter than the " + std::to_string(kMinSize) + "-byte minimum");
  }
  const std::byte* p = bytes.data();
  if (const std::uint32_t magic = DecodeFixed32(p + kMagicOffset); magic != kMagic) {
    return Corrupt("bad magic " + Hex64(magic));
  }
  CheckedFrame frame;
  frame.version = DecodeFixed16(p + kVersionOffset);
  if (frame.version != kVersionPlain && frame.version != kVersionWithSettings) {
    return Corrupt("unknown format version " + std::to_string(frame.version));
  }
  frame.header_size = kHeaderSize + (frame.version == kVersionWithSettings ? kSettingsSize : 0);
  if (const std::uint16_t hs = DecodeFixed16(p + kHeaderSizeOffset); hs != frame.header_size) {
    return Corrupt("header size " + std::to_string(hs) + ", expected " + std::to_string(frame.header_size) +
                   " for version " + std::to_string(frame.version));
  }
  if (size < frame.header_size + kTrailerSize) {
    return Corrupt(std::to_string(size) + " bytes is shorter than the " +
                   std::to_string(frame.header_size + kTrailerSize) + "-byte minimum of version " +
                   std::to_string(frame.version));
  }
  frame.body_end = size - kTrailerSize;
  if (DecodeFixed64(p + frame.body_end) !=
      Checksum64(std::span<const std::byte>(p, static_cast<std::size_t>(frame.body_end)))) {
    return Corrupt("checksum mismatch");
  }
  if (DecodeFixed32(p + kReserved1Offset) != 0 || DecodeFixed32(p + kReserved2Offset) != 0) {
    return Corrupt("reserved header bytes are not zero");
  }
  return frame;
}

// The version 2 writer settings, `q` pointing at them.
Result<CheckpointSettings> DecodeSettings(const std::byte* q) {
  CheckpointSettings w;
  w.io_backend_requested = static_cast<std::uint8_t>(q[kBackendRequestedOffset]);
  w.io_backend_in_use = static_cast<std::uint8_t>(q[kBackendInUseOffset]);
  const auto flags = static_cast<std::uint8_t>(q[kSettingsFlagsOffset]);
  w.io_fell_back = (flags & kFellBackFlag) != 0;
  w.compression_level = static_cast<std::int8_t>(static_cast<std::uint8_t>(q[kCompressionLevelOffset]));
  w.flush_buffer_size = DecodeFixed32(q + kFlushBufferSizeOffset);
  w.flush_buffers = DecodeFixed32(q + kFlushBuffersOffset);
  w.max_disk_chain = DecodeFixed32(q + kMaxDiskChainOffset);
  if (w.io_backend_requested > kMaxBackendCode || w.io_backend_in_use > kMaxBackendCode) {
    return Corrupt("writer settings: unknown io backend code " +
                   std::to_string(std::max(w.io_backend_requested, w.io_backend_in_use)));
  }
  if ((flags & ~kFellBackFlag) != 0) {
    return Corrupt("writer settings: unknown flags " + std::to_string(flags));
  }
  return w;
}

// The page entries between `begin` and `end` (exactly), `page_count` of them, into d.pages
// (d's oldest_segment already decoded: records are checked against it).
Status DecodePages(const std::byte* p, std::uint64_t begin, std::uint64_t end, std::uint64_t page_count,
                   CheckpointData& d) {
  // Each page takes at least one page entry and one record entry.
  if (page_count > (end - begin) / (kPageEntrySize + kRecordEntrySize)) {
    return Corrupt("page count " + std::to_string(page_count) + " exceeds file size");
  }
  d.pages.reserve(static_cast<std::size_t>(page_count));
  std::uint64_t pos = begin;
  for (std::uint64_t i = 0; i < page_count; ++i) {
    if (end - pos < kPageEntrySize) {
      return Corrupt("page entry " + std::to_string(i) + " exceeds file size");
    }
    CheckpointPage& page = d.pages.emplace_back();
    page.pid = DecodeFixed32(p + pos);
    const std::uint64_t chain_len = DecodeFixed32(p + pos + 4);
    pos += kPageEntrySize;
    if (i > 0 && page.pid <= d.pages[i - 1].pid) {
      return Corrupt("page " + std::to_string(page.pid) + " follows page " + std::to_string(d.pages[i - 1].pid) +
                     " (pids must strictly increase)");
    }
    if (chain_len == 0) return Corrupt("page " + std::to_string(page.pid) + " has an empty chain");
    if (chain_len > (end - pos) / kRecordEntrySize) {
      return Corrupt("page " + std::to_string(page.pid) + " chain length " + std::to_string(chain_len) +
                     " exceeds file size");
    }
    page.chain.reserve(static_cast<std::size_t>(chain_len));
    for (std::uint64_t j = 0; j < chain_len; ++j) {
      PageDiskRecord& r = page.chain.emplace_back();
      r.address = LssAddress::FromRaw(DecodeFixed64(p + pos));
      r.length = DecodeFixed32(p + pos + 8);
      pos += kRecordEntrySize;
      if (std::string why = CheckRecord(d, page.pid, r); !why.empty()) return Corrupt(why);
    }
  }
  if (pos != end) {
    return Corrupt(std::to_string(end - pos) + " bytes between the page entries and the application state");
  }
  return OkStatus();
}

}  // namespace

Result<CheckpointData> DecodeCheckpoint(std::span<const std::byte> bytes) {
  auto frame = CheckFrame(bytes);
  LLAMA_RETURN_IF_ERROR(frame);
  const std::byte* p = bytes.data();
  CheckpointData d;
  d.store_id = DecodeFixed64(p + kStoreIdOffset);
  d.sequence = DecodeFixed64(p + kSequenceOffset);
  d.scan_start = LssAddress::FromRaw(DecodeFixed64(p + kScanStartOffset));
  d.oldest_segment = DecodeFixed32(p + kOldestSegmentOffset);
  if (frame->version == kVersionWithSettings) {
    auto settings = DecodeSettings(p + kHeaderSize);
    LLAMA_RETURN_IF_ERROR(settings);
    d.settings = *settings;
  }
  const std::uint64_t page_count = DecodeFixed64(p + kPageCountOffset);
  const std::uint64_t app_len = DecodeFixed32(p + kAppStateLenOffset);
  if (std::string why = CheckScanStart(d); !why.empty()) return Corrupt(why);
  if (std::string why = CheckAppState(app_len); !why.empty()) return Corrupt(why);

  // Bytes between the header and the trailer: page entries, then the application state.
  if (app_len > frame->body_end - frame->header_size) {
    return Corrupt("application state length " + std::to_string(app_len) + " exceeds file size");
  }
  const std::uint64_t pages_end = frame->body_end - app_len;
  LLAMA_RETURN_IF_ERROR(DecodePages(p, frame->header_size, pages_end, page_count, d));
  const auto app = bytes.subspan(static_cast<std::size_t>(pages_end), static_cast<std::size_t>(app_len));
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
    if (IsCheckpointTmpName(name)) doomed.push_back(name);
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
    auto s = env.DeleteFile(JoinPath(dir, name));
    if (!s && s.error().code() != ErrorCode::kNotFound) return s;
  }
  if (doomed.empty()) return OkStatus();
  return env.SyncDir(dir);
}

}  // namespace llama
