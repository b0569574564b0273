// RunPagedump: the whole pagedump command line as a function, so the tests and the fuzzer
// run exactly what the binary runs (tools/pagedump/main.cc only adds the real Env and the
// terminal check). docs/PAGEDUMP.md is its manual.
//
// It only reads: every file is opened through a ReadOnlyEnv over `env`.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "llama/env.h"
#include "lss/log/log_format.h"

namespace llama::pagedump {

inline constexpr int kExitOk = 0;      // the view was shown; --verify found no damage
inline constexpr int kExitDamage = 1;  // --verify found damage (or the store is unreadable)
inline constexpr int kExitUsage = 2;   // a usage error, not a store, an I/O error

// `args` are the arguments after the program name. `progress`: show the progress line on
// `err` during long scans (main passes whether stderr is a terminal). Stores with larger
// segments than `max_segment_size` are refused (the fuzzer bounds its allocations so).
int RunPagedump(const std::vector<std::string>& args, Env& env, std::ostream& out, std::ostream& err, bool progress,
                std::uint32_t max_segment_size = log_format::kMaxSegmentSize);

}  // namespace llama::pagedump
