#!/usr/bin/env bash
# Fails when a C++ file in the repository is not formatted by .clang-format (clang-format
# 14, Debian 12's). Usage: scripts/check-format.sh [--fix]
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.h' '*.cc' ':!:fuzz/corpus/**' ':!:fuzz/regressions/**')
if [[ "${1:-}" == --fix ]]; then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run --Werror "${files[@]}"
fi
