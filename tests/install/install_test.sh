#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then configures, builds and runs a program
# outside the source tree that finds llama-store with find_package (tests/install/consumer).
# Usage: install_test.sh BUILD_DIR SOURCE_DIR CXX_COMPILER "SANITIZER_FLAGS"
set -euo pipefail
build_dir="$1"
source_dir="$2"
cxx="$3"
sanitize_flags="${4:-}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/llama-install-test.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

cmake --install "$build_dir" --prefix "$scratch/prefix" >"$scratch/install.log"
test -f "$scratch/prefix/include/llama/store.h"
test -f "$scratch/prefix/lib/cmake/llama_store/llama_storeConfig.cmake" \
  || test -f "$scratch/prefix/lib/x86_64-linux-gnu/cmake/llama_store/llama_storeConfig.cmake"
test -x "$scratch/prefix/bin/pagedump"

cmake -S "$source_dir/tests/install/consumer" -B "$scratch/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_CXX_FLAGS="$sanitize_flags" -DCMAKE_EXE_LINKER_FLAGS="$sanitize_flags" >"$scratch/configure.log" \
  || { cat "$scratch/configure.log"; exit 1; }
cmake --build "$scratch/build" >"$scratch/build.log" || { cat "$scratch/build.log"; exit 1; }
"$scratch/build/consumer" "$scratch/store"
# The installed pagedump reads the store the consumer wrote.
"$scratch/prefix/bin/pagedump" "$scratch/store" --verify --no-progress
