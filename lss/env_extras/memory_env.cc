#include "lss/env_extras/memory_env.h"

#include <algorithm>
#include <cstring>

namespace llama::pagedump {

namespace {

class MemoryFile final : public ReadOnlyFileBase {
 public:
  MemoryFile(std::string path, std::shared_ptr<const std::vector<std::byte>> bytes)
      : path_(std::move(path)), bytes_(std::move(bytes)) {}

  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::byte> out) override {
    if (offset >= bytes_->size()) return std::size_t{0};
    const std::size_t n = std::min<std::uint64_t>(out.size(), bytes_->size() - offset);
    if (n > 0) std::memcpy(out.data(), bytes_->data() + offset, n);
    return n;
  }
  Result<std::uint64_t> Size() override { return static_cast<std::uint64_t>(bytes_->size()); }
  Status Close() override { return OkStatus(); }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  std::shared_ptr<const std::vector<std::byte>> bytes_;
};

}  // namespace

void MemoryEnv::AddFile(const std::string& name, std::vector<std::byte> bytes) {
  files_[name] = std::make_shared<const std::vector<std::byte>>(std::move(bytes));
}

std::string MemoryEnv::NameOf(const std::string& path) const {
  if (path.size() <= dir_.size() + 1 || path.compare(0, dir_.size(), dir_) != 0 || path[dir_.size()] != '/') {
    return "";
  }
  return path.substr(dir_.size() + 1);
}

Result<std::unique_ptr<File>> MemoryEnv::OpenForReading(const std::string& path) {
  auto it = files_.find(NameOf(path));
  if (it == files_.end()) return MakeError(ErrorCode::kNotFound, "open " + path + ": no such file");
  return std::unique_ptr<File>(std::make_unique<MemoryFile>(path, it->second));
}

Result<std::vector<std::string>> MemoryEnv::ListDir(const std::string& path) {
  if (path != dir_) return MakeError(ErrorCode::kNotFound, "list " + path + ": no such directory");
  std::vector<std::string> names;
  for (const auto& [name, bytes] : files_) names.push_back(name);
  return names;
}

Result<bool> MemoryEnv::FileExists(const std::string& path) { return path == dir_ || files_.contains(NameOf(path)); }

}  // namespace llama::pagedump
