#include "lss/env_extras/read_only_env.h"

namespace llama {
namespace {

tl::unexpected<Error> Refuse(std::string_view what, const std::string& path) {
  return MakeError(ErrorCode::kUnsupported, "read-only: refusing to " + std::string(what) + " " + path);
}

class ReadOnlyFile final : public File {
 public:
  explicit ReadOnlyFile(std::unique_ptr<File> base) : base_(std::move(base)) {}

  Status WriteAt(std::span<const WriteRequest>) override { return Refuse("write", path()); }
  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::byte> out) override {
    return base_->ReadAt(offset, out);
  }
  Status Sync() override { return Refuse("sync", path()); }
  Result<std::uint64_t> Size() override { return base_->Size(); }
  Status Truncate(std::uint64_t) override { return Refuse("truncate", path()); }
  Status Close() override { return base_->Close(); }
  const std::string& path() const override { return base_->path(); }

 private:
  std::unique_ptr<File> base_;
};

}  // namespace

Result<std::unique_ptr<File>> ReadOnlyEnv::OpenFile(const std::string& path, OpenMode mode) {
  if (mode == OpenMode::kCreateNew) return Refuse("create", path);
  auto file = base_.OpenFile(path, OpenMode::kReadOnly);
  LLAMA_RETURN_IF_ERROR(file);
  return std::unique_ptr<File>(std::make_unique<ReadOnlyFile>(std::move(*file)));
}

Status ReadOnlyEnv::CreateDir(const std::string& path) { return Refuse("create directory", path); }
Status ReadOnlyEnv::SyncDir(const std::string& path) { return Refuse("sync directory", path); }
Status ReadOnlyEnv::DeleteFile(const std::string& path) { return Refuse("delete", path); }
Status ReadOnlyEnv::RenameFile(const std::string& from, const std::string& to) {
  return Refuse("rename", from + " to " + to);
}
Result<std::vector<std::string>> ReadOnlyEnv::ListDir(const std::string& path) { return base_.ListDir(path); }
Result<bool> ReadOnlyEnv::FileExists(const std::string& path) { return base_.FileExists(path); }

}  // namespace llama
