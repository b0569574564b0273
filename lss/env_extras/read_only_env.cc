#include "lss/env_extras/read_only_env.h"

namespace llama {
namespace {

tl::unexpected<Error> Refuse(std::string_view what, const std::string& path) {
  return MakeError(ErrorCode::kUnsupported, "read-only: refusing to " + std::string(what) + " " + path);
}

class ReadOnlyFile final : public ReadOnlyFileBase {
 public:
  explicit ReadOnlyFile(std::unique_ptr<File> base) : base_(std::move(base)) {}

  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::byte> out) override {
    return base_->ReadAt(offset, out);
  }
  Result<std::uint64_t> Size() override { return base_->Size(); }
  Status Close() override { return base_->Close(); }
  const std::string& path() const override { return base_->path(); }

 private:
  std::unique_ptr<File> base_;
};

}  // namespace

Result<std::unique_ptr<File>> ReadOnlyEnvBase::OpenFile(const std::string& path, OpenMode mode) {
  if (mode == OpenMode::kCreateNew) return Refuse("create", path);
  return OpenForReading(path);
}

Status ReadOnlyEnvBase::CreateDir(const std::string& path) { return Refuse("create directory", path); }
Status ReadOnlyEnvBase::SyncDir(const std::string& path) { return Refuse("sync directory", path); }
Status ReadOnlyEnvBase::DeleteFile(const std::string& path) { return Refuse("delete", path); }
Status ReadOnlyEnvBase::RenameFile(const std::string& from, const std::string& to) {
  return Refuse("rename", from + " to " + to);
}

Status ReadOnlyFileBase::WriteAt(std::span<const WriteRequest>) { return Refuse("write", path()); }
Status ReadOnlyFileBase::Sync() { return Refuse("sync", path()); }
Status ReadOnlyFileBase::Truncate(std::uint64_t) { return Refuse("truncate", path()); }
Status ReadOnlyFileBase::Allocate(std::uint64_t) { return Refuse("fallocate", path()); }

Result<std::unique_ptr<File>> ReadOnlyEnv::OpenForReading(const std::string& path) {
  auto file = base_.OpenFile(path, OpenMode::kReadOnly);
  LLAMA_RETURN_IF_ERROR(file);
  return std::unique_ptr<File>(std::make_unique<ReadOnlyFile>(std::move(*file)));
}

}  // namespace llama
