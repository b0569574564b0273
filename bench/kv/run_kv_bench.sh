#!/usr/bin/env bash
# The key-value comparison in one command: installs the peers' Debian packages if missing,
# builds kv_bench (release), runs it once (every engine, every workload), and writes
# bench/kv/kv_bench.json and the chart bench/kv/kv_bench.svg that the README shows.
# Extra arguments go to kv_bench, e.g. --keys 10000000 for the larger size.
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA_WITH_PEERS=1 scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target kv_bench
build/release/bench/kv/kv_bench --json bench/kv/kv_bench.json "$@"
python3 bench/kv/plot_kv.py bench/kv/kv_bench.json --svg bench/kv/kv_bench.svg
echo "chart: bench/kv/kv_bench.svg"
