#!/usr/bin/env bash
# Builds llama-store in release mode and runs the main job (the end-to-end demo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target llama_demo
./build/release/examples/demo/llama_demo "$@"
