// Uses an installed llama-store: creates a store in argv[1], appends to a vector, syncs,
// closes, reopens and reads the element back. Exits 0 when it is there and the library it
// runs with is the version of the headers it was compiled with.
#include <cstdio>
#include <memory>
#include <string>

#include "llama/store.h"
#include "llama/vector.h"
#include "llama/version.h"

namespace {
int Fail(const char* what, const llama::Error& e) {
  std::fprintf(stderr, "%s: %s\n", what, e.ToString().c_str());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer DIR\n");
    return 2;
  }
  if (llama::VersionString() != LLAMA_VERSION_STRING) {
    std::fprintf(stderr, "headers say %s, the library %.*s\n", LLAMA_VERSION_STRING,
                 static_cast<int>(llama::VersionString().size()), llama::VersionString().data());
    return 1;
  }
  const std::string dir = argv[1];
  for (int round = 0; round < 2; ++round) {
    auto store = llama::Store::Open(dir);
    if (!store) return Fail("open store", store.error());
    auto vec = llama::Vector::Open(**store, "installed");
    if (!vec) return Fail("open vector", vec.error());
    if (round == 0) {
      auto t = (*vec)->Append("hello from an installed llama-store");
      if (!t) return Fail("Append", t.error());
      if (auto s = (*vec)->Sync(*t); !s) return Fail("Sync", s.error());
      if (auto s = (*vec)->WaitVisible(*t); !s) return Fail("WaitVisible", s.error());
    } else {
      const llama::VectorSnapshot snap = (*vec)->Snapshot();
      auto v = snap.at(0);
      if (!v) return Fail("at", v.error());
      if (snap.size() != 1 || *v != "hello from an installed llama-store") {
        std::fprintf(stderr, "read back %zu elements, first \"%s\"\n", static_cast<std::size_t>(snap.size()),
                     v->c_str());
        return 1;
      }
      std::printf("%s\n", v->c_str());
    }
    if (auto s = (*vec)->Close(); !s) return Fail("close vector", s.error());
    if (auto s = (*store)->Close(); !s) return Fail("close store", s.error());
  }
  return 0;
}
