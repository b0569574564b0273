#include "llama/version.h"

namespace llama {

std::string_view VersionString() noexcept { return LLAMA_VERSION_STRING; }

}  // namespace llama
