#!/usr/bin/env bash
# ctest install_package: install the build tree into a temporary prefix, then
# use it the two documented ways and run the README example built each way:
#   1. a separate CMake project: find_package(cairn REQUIRED CONFIG) + cairn::cairn
#   2. g++ -std=c++20 example.cc $(pkg-config --cflags --libs cairn)
# No network. Removes its temporary directory on exit.
#
# usage: install_test.sh BUILD_DIR CONSUMER_SRC EXAMPLE_CC CMAKE CXX LIBDIR [EXTRA_CXXFLAGS]
set -euo pipefail

if [ $# -lt 6 ]; then
  echo "usage: $0 BUILD_DIR CONSUMER_SRC EXAMPLE_CC CMAKE CXX LIBDIR [EXTRA_CXXFLAGS]" >&2
  exit 2
fi
build_dir=$1 consumer_src=$2 example_cc=$3 cmake=$4 cxx=$5 libdir=$6 extra_flags=${7:-}

fail() { echo "install_package: FAILED: $*" >&2; exit 1; }
step() { echo "==> $*"; }

[ -f "$example_cc" ] || fail "$example_cc missing (build the readme_example target first)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

step "cmake --install $build_dir --prefix $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log" >&2; fail "cmake --install"; }

# What must be there.
for f in "include/cairn/store.h" "$libdir/cmake/cairn/cairnConfig.cmake" \
         "$libdir/cmake/cairn/cairnConfigVersion.cmake" "$libdir/cmake/cairn/cairnTargets.cmake" \
         "$libdir/pkgconfig/cairn.pc"; do
  [ -f "$prefix/$f" ] || fail "$f not installed"
done
ls "$prefix/$libdir"/libcairn.* >/dev/null 2>&1 || fail "libcairn not installed in $libdir"
# Only the public headers.
extra_headers=$(find "$prefix/include" -type f ! -path "$prefix/include/cairn/*.h")
[ -z "$extra_headers" ] || fail "unexpected files under include/: $extra_headers"
# The package must not point back into the build or source tree.
if grep -rl -e "$(cd "$build_dir" && pwd)" -e "$(cd "$consumer_src/../../.." && pwd)/include" \
     "$prefix/$libdir/cmake/cairn" "$prefix/$libdir/pkgconfig" >/dev/null; then
  fail "installed package files refer to the build or source tree"
fi

step "CMake consumer: find_package(cairn REQUIRED CONFIG)"
"$cmake" -S "$consumer_src" -B "$tmp/consumer" \
  -DCMAKE_PREFIX_PATH="$prefix" -DEXAMPLE_SOURCE="$example_cc" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$extra_flags" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON >"$tmp/consumer-configure.log" 2>&1 \
  || { cat "$tmp/consumer-configure.log" >&2; fail "consumer configure"; }
found=$(sed -n 's/^cairn_DIR:PATH=//p' "$tmp/consumer/CMakeCache.txt")
[ "$found" = "$prefix/$libdir/cmake/cairn" ] || fail "consumer found cairn in '$found', not in $prefix"
"$cmake" --build "$tmp/consumer" >"$tmp/consumer-build.log" 2>&1 \
  || { cat "$tmp/consumer-build.log" >&2; fail "consumer build"; }
"$tmp/consumer/example" "$tmp/store-cmake" || fail "example built with CMake exited $?"

step "pkg-config: $cxx -std=c++20 example.cc \$(pkg-config --cflags --libs cairn)"
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
pc_flags=$(pkg-config --cflags --libs cairn) || fail "pkg-config cairn"
echo "    pkg-config --cflags --libs cairn: $pc_flags"
case " $pc_flags " in
  *" -I$prefix/include "*) ;;
  *) fail "pkg-config --cflags does not name $prefix/include" ;;
esac
# shellcheck disable=SC2086  # word splitting of the flags is intended
"$cxx" -std=c++20 $extra_flags "$example_cc" $pc_flags -o "$tmp/example-pc" \
  || fail "compiling with pkg-config flags"
"$tmp/example-pc" "$tmp/store-pc" || fail "example built with pkg-config exited $?"

step "install_package: OK"
