#include "lss/file/segment_set.h"

#include <algorithm>

#include "lss/file/file_names.h"

namespace llama {

std::string SegmentSet::PathOf(std::uint32_t segment_id) const { return PathIn(dir_, SegmentFileName(segment_id)); }

Result<std::shared_ptr<File>> SegmentSet::Get(std::uint32_t segment_id) {
  std::lock_guard lock(mu_);
  if (auto it = open_.find(segment_id); it != open_.end()) return it->second;
  auto file = env_.OpenFile(PathOf(segment_id), OpenMode::kReadWrite);
  LLAMA_RETURN_IF_ERROR(file);
  std::shared_ptr<File> shared(std::move(*file));
  open_[segment_id] = shared;
  return shared;
}

Result<std::shared_ptr<File>> SegmentSet::Create(std::uint32_t segment_id, LssAddress resume_from) {
  std::lock_guard lock(mu_);
  auto file = env_.OpenFile(PathOf(segment_id), OpenMode::kCreateNew);
  LLAMA_RETURN_IF_ERROR(file);
  std::byte header[log_format::kSegmentHeaderSize];
  EncodeSegmentHeader(SegmentHeader{segment_id, segment_size_, store_id_, resume_from}, header);
  LLAMA_RETURN_IF_ERROR((*file)->WriteAt(0, header));
  if (preallocate_) {
    // Best effort: a file system without fallocate just grows the file as it is written.
    if (auto s = (*file)->Allocate(segment_size_); !s && s.error().code() != ErrorCode::kUnsupported) {
      return tl::unexpected(s.error());
    }
  }
  std::shared_ptr<File> shared(std::move(*file));
  open_[segment_id] = shared;
  return shared;
}

Status SegmentSet::Delete(std::uint32_t segment_id) {
  {
    std::lock_guard lock(mu_);
    open_.erase(segment_id);
  }
  return env_.DeleteFile(PathOf(segment_id));
}

void SegmentSet::Forget(std::uint32_t segment_id) {
  std::lock_guard lock(mu_);
  open_.erase(segment_id);
}

Result<std::vector<std::uint32_t>> SegmentSet::ListIds() {
  auto names = env_.ListDir(dir_);
  LLAMA_RETURN_IF_ERROR(names);
  std::vector<std::uint32_t> ids;
  for (const std::string& name : *names) {
    if (std::uint32_t id = ParseSegmentFileName(name); id != 0) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace llama
