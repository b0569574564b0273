// What the bench/ programs share: a fresh scratch directory and a fatal error.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace llama::bench {

// A fresh, empty directory named after the program, the process and `name`, under
// LLAMA_BENCH_DIR (default: the system temp dir), which picks the file system measured.
inline std::filesystem::path BenchDir(const std::string& name) {
  namespace fs = std::filesystem;
  const char* base = std::getenv("LLAMA_BENCH_DIR");
  fs::path dir = fs::path(base ? base : fs::temp_directory_path().string()) /
                 ("llama-bench-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Benchmarks verify as they go; a failed step ends the run loudly rather than measure a
// broken path.
[[noreturn]] inline void Fail(const char* program, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program, what.c_str());
  std::abort();
}

}  // namespace llama::bench
