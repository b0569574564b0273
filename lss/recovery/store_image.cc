#include "lss/recovery/store_image.h"

#include <algorithm>

#include "lss/file/file_names.h"
#include "lss/log/log_format.h"

namespace llama {

using namespace log_format;

namespace {

std::string Hex(std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  for (int shift = 60; shift >= 0; shift -= 4) out += kDigits[(v >> shift) & 0xf];
  return out;
}

Result<std::vector<std::byte>> ReadWholeFile(Env& env, const std::string& path, std::uint64_t limit) {
  auto file = env.OpenFile(path, OpenMode::kReadOnly);
  LLAMA_RETURN_IF_ERROR(file);
  auto size = (*file)->Size();
  LLAMA_RETURN_IF_ERROR(size);
  std::vector<std::byte> bytes(std::min(*size, limit));
  auto n = (*file)->ReadAt(0, bytes);
  LLAMA_RETURN_IF_ERROR(n);
  bytes.resize(*n);
  return bytes;
}

bool SegmentSizeInRange(std::uint32_t size) { return size >= kMinSegmentSize && size <= kMaxSegmentSize; }

}  // namespace

Result<StoreImage> StoreImage::Open(Env& env, const std::string& dir, StoreImageOptions options) {
  auto names = env.ListDir(dir);
  if (!names) {
    if (names.error().code() == ErrorCode::kNotFound) {
      return MakeError(ErrorCode::kNotFound, dir + " does not exist");
    }
    return tl::unexpected(names.error());
  }
  StoreImage image(env, dir);
  LLAMA_RETURN_IF_ERROR(image.LoadIdentity(*names, options));
  image.segments_ = std::make_unique<SegmentSet>(env, dir, image.identity_.store_id, image.identity_.segment_size);
  LLAMA_RETURN_IF_ERROR(image.LoadSegmentFiles());
  LLAMA_RETURN_IF_ERROR(image.LoadCheckpointFiles(*names));
  for (const std::string& name : *names) {
    const StoreFileType type = ParseFileName(name).type;
    if (type != StoreFileType::kIdentity && type != StoreFileType::kSegment && !LooksLikeCheckpointFileName(name)) {
      image.other_files_.push_back(name);
    }
  }
  LLAMA_RETURN_IF_ERROR(image.Recover());
  return image;
}

Status StoreImage::LoadIdentity(const std::vector<std::string>& names, const StoreImageOptions& options) {
  std::vector<std::uint32_t> segment_ids;
  for (const std::string& name : names) {
    if (std::uint32_t id = ParseSegmentFileName(name); id != 0) segment_ids.push_back(id);
  }
  std::sort(segment_ids.begin(), segment_ids.end());
  if (std::find(names.begin(), names.end(), kStoreFileName) == names.end()) {
    std::string message = dir_ + " is not a llama-store (no STORE file)";
    if (!segment_ids.empty()) {
      message += "; it holds " + std::to_string(segment_ids.size()) + " segment files, so STORE may have been deleted";
    }
    return MakeError(ErrorCode::kNotFound, message);
  }
  auto identity = ReadStoreIdentity(*env_, dir_);
  if (identity && identity->has_value() && SegmentSizeInRange((*identity)->segment_size)) {
    identity_ = **identity;
  } else {
    if (!identity) {
      if (identity.error().code() != ErrorCode::kCorruption) return tl::unexpected(identity.error());
      identity_problem_ = identity.error().message();
    } else if (!identity->has_value()) {
      identity_problem_ = dir_ + "/STORE vanished while reading it";
    } else {
      identity_problem_ = dir_ + "/STORE: segment size " + std::to_string((*identity)->segment_size) +
                          " out of range (64 KiB .. 1 GiB)";
    }
    // Every segment header repeats the store id and segment size: take them from the first
    // one that decodes and names its own file.
    for (std::uint32_t id : segment_ids) {
      auto bytes = ReadWholeFile(*env_, PathIn(dir_, SegmentFileName(id)), kSegmentHeaderSize);
      LLAMA_RETURN_IF_ERROR(bytes);
      auto header = DecodeSegmentHeader(*bytes);
      if (header && header->segment_id == id) {
        identity_ = StoreIdentity{header->store_id, header->segment_size};
        identity_problem_ += "; store id and segment size taken from segment " + std::to_string(id) + "'s header";
        break;
      }
    }
    if (identity_.store_id == 0) {
      return MakeError(ErrorCode::kCorruption, identity_problem_ + ", and no segment header can stand in for it");
    }
  }
  if (identity_.segment_size > options.max_segment_size) {
    return MakeError(ErrorCode::kInvalidArgument, dir_ + ": segment size " + std::to_string(identity_.segment_size) +
                                                      " is above this reader's limit of " +
                                                      std::to_string(options.max_segment_size));
  }
  return OkStatus();
}

Status StoreImage::LoadSegmentFiles() {
  auto ids = segments_->ListIds();
  LLAMA_RETURN_IF_ERROR(ids);
  for (std::uint32_t id : *ids) {
    SegmentFileInfo info;
    info.id = id;
    auto file = segments_->Get(id);
    LLAMA_RETURN_IF_ERROR(file);
    auto size = (*file)->Size();
    LLAMA_RETURN_IF_ERROR(size);
    info.file_size = *size;
    std::byte buf[kSegmentHeaderSize];
    auto n = (*file)->ReadAt(0, buf);
    LLAMA_RETURN_IF_ERROR(n);
    auto header = DecodeSegmentHeader(std::span<const std::byte>(buf, *n));
    if (!header) {
      info.header_problem = header.error().message();
    } else {
      info.header = *header;
      if (header->segment_id != id) {
        info.header_problem = "segment header names segment " + std::to_string(header->segment_id);
      } else if (header->store_id != identity_.store_id) {
        info.header_problem =
            "segment header names store " + Hex(header->store_id) + ", not " + Hex(identity_.store_id);
      } else if (header->segment_size != identity_.segment_size) {
        info.header_problem = "segment header says segments are " + std::to_string(header->segment_size) +
                              " bytes, STORE says " + std::to_string(identity_.segment_size);
      }
    }
    segment_files_.push_back(std::move(info));
  }
  return OkStatus();
}

const SegmentFileInfo* StoreImage::segment_file(std::uint32_t id) const {
  auto it = std::lower_bound(segment_files_.begin(), segment_files_.end(), id,
                             [](const SegmentFileInfo& f, std::uint32_t v) { return f.id < v; });
  return it != segment_files_.end() && it->id == id ? &*it : nullptr;
}

Status StoreImage::LoadCheckpointFiles(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (!LooksLikeCheckpointFileName(name)) continue;
    CheckpointFileInfo info;
    info.name = name;
    info.sequence = ParseCheckpointFileName(name);
    auto bytes = ReadWholeFile(*env_, PathIn(dir_, name), UINT64_MAX);
    LLAMA_RETURN_IF_ERROR(bytes);
    info.file_size = bytes->size();
    if (!info.sequence) {
      info.problem = "not a finished checkpoint (a leftover of one being written); never loaded";
      checkpoint_files_.push_back(std::move(info));
      continue;
    }
    auto data = DecodeCheckpoint(*bytes);
    if (!data) {
      info.problem = data.error().message();
    } else if (data->store_id != identity_.store_id) {
      info.problem = "checkpoint of store " + Hex(data->store_id) + ", not " + Hex(identity_.store_id);
    } else if (data->sequence != *info.sequence) {
      info.problem = "checkpoint holds sequence " + std::to_string(data->sequence) + ", its name says " +
                     std::to_string(*info.sequence);
    }
    if (data) info.data = std::move(*data);
    checkpoint_files_.push_back(std::move(info));
  }
  std::sort(
      checkpoint_files_.begin(), checkpoint_files_.end(), [](const CheckpointFileInfo& a, const CheckpointFileInfo& b) {
        return std::pair(a.sequence.value_or(UINT64_MAX), a.name) < std::pair(b.sequence.value_or(UINT64_MAX), b.name);
      });
  return OkStatus();
}

Status StoreImage::Recover() {
  auto plan = RecoveryPlan::Make(*segments_);
  LLAMA_RETURN_IF_ERROR(plan);
  static_cast<RecoveryPlan&>(recovery_) = std::move(*plan);
  // In the order Store::Open refuses (StoreImpl::AcceptPlan).
  if (!recovery_.corruption.empty()) {
    recovery_.open_failure =
        recovery_.corruption + " (RecoveryMode::kTruncateAtCorruption would open it, dropping them)";
  } else if (recovery_.failure) {
    recovery_.open_failure = recovery_.failure->message();
  }
  return OkStatus();
}

Result<std::vector<std::byte>> StoreImage::ReadSegmentBytes(std::uint32_t id) {
  auto file = segments_->Get(id);
  LLAMA_RETURN_IF_ERROR(file);
  auto size = (*file)->Size();
  LLAMA_RETURN_IF_ERROR(size);
  std::vector<std::byte> bytes(std::min<std::uint64_t>(*size, identity_.segment_size));
  auto n = (*file)->ReadAt(0, bytes);
  LLAMA_RETURN_IF_ERROR(n);
  bytes.resize(*n);
  return bytes;
}

Result<LogRecord> StoreImage::ReadRecord(LssAddress at) { return ReadRecordAt(*segments_, at, identity_.segment_size); }

}  // namespace llama
