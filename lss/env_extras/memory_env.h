// MemoryEnv: a read-only Env over files held in memory, so the fuzzer can hand pagedump a
// whole store directory made of arbitrary bytes without touching the disk. Only the calls
// an offline reader makes work; every call that would write is refused (kUnsupported,
// "read-only: ...", as ReadOnlyEnvBase refuses them).
//
// Ownership: it owns the file contents; files it opens share them, so they may outlive
// an AddFile that replaces a name but not the MemoryEnv itself.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lss/env_extras/read_only_env.h"

namespace llama::pagedump {

class MemoryEnv final : public ReadOnlyEnvBase {
 public:
  // The one directory this env holds.
  explicit MemoryEnv(std::string dir) : dir_(std::move(dir)) {}

  void AddFile(const std::string& name, std::vector<std::byte> bytes);

  std::string_view backend_name() const override { return "memory"; }
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Result<bool> FileExists(const std::string& path) override;

 private:
  Result<std::unique_ptr<File>> OpenForReading(const std::string& path) override;
  // The name of `path` inside the directory, or "" when it is not a file in it.
  std::string NameOf(const std::string& path) const;

  std::string dir_;
  std::map<std::string, std::shared_ptr<const std::vector<std::byte>>> files_;
};

}  // namespace llama::pagedump
