// pagedump: the inspector for a llama-store directory on disk (docs/PAGEDUMP.md).
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "llama/env.h"
#include "llama/version.h"
#include "tools/pagedump/pagedump_cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (std::find(args.begin(), args.end(), "--version") != args.end()) {
    std::cout << "pagedump (llama-store) " << llama::VersionString() << "\n";
    return llama::pagedump::kExitOk;
  }
  // Plain POSIX reads: an inspector needs no io_uring, and works where it is refused.
  std::unique_ptr<llama::Env> env = llama::NewPosixEnv();
  return llama::pagedump::RunPagedump(args, *env, std::cout, std::cerr, ::isatty(STDERR_FILENO) == 1);
}
