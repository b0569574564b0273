#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each briefly on its committed seed corpus.
# Usage: scripts/run-fuzz.sh [seconds per target, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
scripts/install-deps.sh
cmake --preset fuzz -DLLAMA_WERROR="${LLAMA_WERROR:-OFF}" >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
for corpus in fuzz/corpus/*/; do
  name=$(basename "$corpus")
  bin="build/fuzz/fuzz/${name}_fuzzer"
  work=$(mktemp -d)
  echo "fuzz: ${name} for ${seconds}s"
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="build/fuzz/${name}-" \
    "$work" "$corpus" 2>&1 | tail -n 12
  rm -rf "$work"
done
