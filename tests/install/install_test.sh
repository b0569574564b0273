#!/usr/bin/env bash
# Installs a build tree into a scratch prefix and checks what a user gets:
# - the files: the public headers (include/llama/, with the generated version.h), the
#   library (static, or shared with its SONAME), the CMake package, llama_store.pc and
#   pagedump; with LLAMA_INSTALL_INTERNAL_HEADERS=OFF, no internal header at all;
# - a program outside the source tree (tests/install/consumer) built at the compiler's
#   default settings (no -std: C++20 comes from the package) twice, once with
#   find_package(llama_store) and once with pkg-config only, then run: it writes a store
#   and reads it back;
# - the installed pagedump verifies that store;
# - `--version` of pagedump and of every TOOL given prints "<tool> (llama-store) VERSION".
# Usage: install_test.sh BUILD_DIR SOURCE_DIR CXX_COMPILER ["SANITIZER_FLAGS" [TOOL...]]
set -euo pipefail
build_dir="$1"
source_dir="$2"
cxx="$3"
sanitize_flags="${4:-}"
shift 4 || shift $#
tools=("$@")
scratch="$(mktemp -d "${TMPDIR:-/tmp}/llama-install-test.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
prefix="$scratch/prefix"

fail() {
  echo "install_test: $*" >&2
  exit 1
}
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt"; }
version="$(cache_value CMAKE_PROJECT_VERSION)"
[[ -n "$version" ]] || fail "no CMAKE_PROJECT_VERSION in $build_dir/CMakeCache.txt"
soversion="${version%%.*}"

cmake --install "$build_dir" --prefix "$prefix" >"$scratch/install.log"

# ---- The files.
libdir=""
for d in lib lib64 lib/x86_64-linux-gnu; do
  if [[ -f "$prefix/$d/cmake/llama_store/llama_storeConfig.cmake" ]]; then libdir="$prefix/$d"; fi
done
[[ -n "$libdir" ]] || fail "no llama_storeConfig.cmake installed"
test -f "$libdir/pkgconfig/llama_store.pc" || fail "no llama_store.pc in $libdir/pkgconfig"
test -x "$prefix/bin/pagedump" || fail "pagedump is not installed"
test -f "$prefix/include/llama/store.h" || fail "llama/store.h is not installed"
grep -q "^#define LLAMA_VERSION_STRING \"$version\"$" "$prefix/include/llama/version.h" \
  || fail "llama/version.h does not say $version"

shared="$(cache_value LLAMA_BUILD_SHARED)"
if [[ "$shared" == ON ]]; then
  test -f "$libdir/libllama_store.so.$version" || fail "no libllama_store.so.$version"
  test -L "$libdir/libllama_store.so.$soversion" || fail "no libllama_store.so.$soversion link"
  test -L "$libdir/libllama_store.so" || fail "no libllama_store.so link"
  test ! -e "$libdir/libllama_store.a" || fail "a shared build installed libllama_store.a"
  readelf -d "$libdir/libllama_store.so.$version" | grep -q "SONAME.*\[libllama_store.so.$soversion\]" \
    || fail "libllama_store.so's SONAME is not libllama_store.so.$soversion"
else
  test -f "$libdir/libllama_store.a" || fail "no libllama_store.a"
  test ! -e "$libdir/libllama_store.so" || fail "a static build installed libllama_store.so"
fi

# Headers: exactly include/llama/*.h and version.h, plus (stopgap) llama/internal/.
(cd "$source_dir/include" && find llama -type f | sort) >"$scratch/public.txt"
echo llama/version.h >>"$scratch/public.txt"
sort -o "$scratch/public.txt" "$scratch/public.txt"
(cd "$prefix/include" && find . -type f ! -path './llama/internal/*' | sed 's|^\./||' | sort) \
  >"$scratch/installed.txt"
diff -u "$scratch/public.txt" "$scratch/installed.txt" >&2 || fail "installed headers differ from include/llama/"
if [[ "$(cache_value LLAMA_INSTALL_INTERNAL_HEADERS)" == OFF ]]; then
  test ! -e "$prefix/include/llama/internal" || fail "internal headers installed although LLAMA_INSTALL_INTERNAL_HEADERS=OFF"
else
  # The stopgap installs what llama_store compiles, not the extra Envs nor StoreImage.
  test -f "$prefix/include/llama/internal/lss/log/log_writer.h" || fail "the stopgap installed no internal header"
  test -z "$(find "$prefix/include/llama/internal" -path '*/env_extras/*' -o -name store_image.h)" \
    || fail "lss/env_extras/ or store_image.h installed"
fi

# ---- A consumer with find_package (its CMakeLists.txt sets no C++ standard).
cmake -S "$source_dir/tests/install/consumer" -B "$scratch/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_CXX_FLAGS="$sanitize_flags" -DCMAKE_EXE_LINKER_FLAGS="$sanitize_flags" >"$scratch/configure.log" \
  || { cat "$scratch/configure.log"; fail "configuring the find_package consumer failed"; }
cmake --build "$scratch/build" >"$scratch/build.log" || { cat "$scratch/build.log"; fail "building the find_package consumer failed"; }
"$scratch/build/consumer" "$scratch/store"

# ---- The same program with pkg-config only, at the compiler's default settings.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
[[ "$(pkg-config --modversion llama_store)" == "$version" ]] || fail "pkg-config --modversion is not $version"
read -r -a pc_cflags <<<"$(pkg-config --cflags llama_store)"
read -r -a pc_libs <<<"$(pkg-config --libs llama_store)"
read -r -a extra_flags <<<"$sanitize_flags"
"$cxx" "${extra_flags[@]}" "${pc_cflags[@]}" "$source_dir/tests/install/consumer/consumer.cc" \
  -o "$scratch/consumer-pc" "${pc_libs[@]}" >"$scratch/pc-build.log" 2>&1 \
  || { cat "$scratch/pc-build.log"; fail "building the pkg-config consumer failed"; }
# A shared library is found through LD_LIBRARY_PATH (pkg-config adds no rpath).
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$scratch/consumer-pc" "$scratch/store-pc"

# ---- The installed pagedump reads the store the consumer wrote (found by its RPATH when shared).
"$prefix/bin/pagedump" "$scratch/store" --verify --no-progress

# ---- --version of every tool.
for tool in "$prefix/bin/pagedump" "${tools[@]}"; do
  name="$(basename "$tool")"
  got="$("$tool" --version)" || fail "$name --version failed"
  [[ "$got" == "$name (llama-store) $version" ]] || fail "$name --version printed '$got'"
done
echo "install_test: OK ($([[ "$shared" == ON ]] && echo shared || echo static), $version)"
