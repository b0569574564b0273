// A libFuzzer-free driver: feeds every file of the given corpus directories (or single
// files) to LLVMFuzzerTestOneInput once. Linked with a fuzzer's source it turns the
// committed corpus and the crash regressions into a test that runs in every build, with
// whatever compiler and sanitizers that build uses (fuzz/regressions/README.md).
//
// Usage: <replay> <path>... [--optional <path>...]
// Paths before --optional must exist; paths after it are skipped when missing (a target
// that has no regressions yet). Exits non-zero when a required path is missing or when
// nothing at all was replayed; a failing input aborts inside the fuzzer's checks.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

bool ReadFile(const fs::path& path, std::vector<std::uint8_t>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

// The regular files at `path` (itself, or its directory's entries, sorted for a stable
// order); hidden files such as .gitkeep and README files are not inputs.
std::vector<fs::path> Inputs(const fs::path& path) {
  std::vector<fs::path> files;
  if (fs::is_regular_file(path)) return {path};
  for (const fs::directory_entry& entry : fs::directory_iterator(path)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.starts_with(".") || name.starts_with("README")) continue;
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  bool optional = false;
  std::size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--optional") {
      optional = true;
      continue;
    }
    const fs::path path(arg);
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      if (optional) {
        std::printf("replay: %s does not exist, skipped\n", argv[i]);
        continue;
      }
      std::fprintf(stderr, "replay: %s does not exist\n", argv[i]);
      return 2;
    }
    std::size_t here = 0;
    for (const fs::path& file : Inputs(path)) {
      std::vector<std::uint8_t> bytes;
      if (!ReadFile(file, &bytes)) {
        std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
        return 2;
      }
      std::printf("replay: %s (%zu bytes)\n", file.c_str(), bytes.size());
      std::fflush(stdout);  // so a crash names the input that caused it
      // A heap copy of exactly the input's size, so a sanitizer sees any read past its end.
      auto exact = std::make_unique<std::uint8_t[]>(bytes.size());
      std::copy(bytes.begin(), bytes.end(), exact.get());
      LLVMFuzzerTestOneInput(exact.get(), bytes.size());
      ++here;
    }
    std::printf("replay: %zu input(s) from %s\n", here, argv[i]);
    replayed += here;
  }
  if (replayed == 0) {
    std::fprintf(stderr, "replay: no inputs replayed\n");
    return 2;
  }
  std::printf("replay: %zu input(s), all passed\n", replayed);
  return 0;
}
