#!/usr/bin/env bash
# Builds llama-store with one CMake preset (default: debug) and runs the whole test suite.
# Usage: scripts/run-tests.sh [debug|release|asan-ubsan|tsan] [extra ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-debug}"
shift || true
scripts/install-deps.sh
# LLAMA_WERROR=ON (as .ci/run sets it) makes every warning an error.
cmake --preset "$preset" -DLLAMA_WERROR="${LLAMA_WERROR:-OFF}" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
ctest --preset "$preset" -j "$(nproc)" "$@"
