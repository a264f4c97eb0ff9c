#!/bin/sh
# Builds a fuzzer with clang (libFuzzer, ASan, UBSan) and runs it for a
# bounded time from a seed corpus of real files.
#   run_fuzzer.sh SOURCE_DIR WORK_DIR SECONDS TARGET SEED...
# TARGET: segment (the segment decoder, format/ alone), index (the index
# file readers: format/ and index/, with CRoaring) or dump (the dump tool's
# parsers: tools/inspect*.cc over format/).
set -eu
src=$1 work=$2 seconds=$3 target=$4
shift 4
mkdir -p "$work/corpus"
for seed in "$@"; do cp "$seed" "$work/corpus/"; done
case "$target" in
  segment) sources="$src/format/*.cc" libs="" ;;
  index) sources="$src/format/*.cc $src/index/segment_index.cc $src/index/stream_run.cc $src/index/stream_directory.cc \
$src/index/verified_blocks.cc $src/index/bitmap_index.cc" libs="-lroaring" ;;
  dump) sources="$src/format/*.cc $src/tools/inspect.cc $src/tools/inspect_index.cc $src/tools/inspect_clean.cc \
$src/tools/inspect_subscriptions.cc $src/tools/inspect_snapshots.cc $src/tools/text.cc" libs="" ;;
  *) echo "run_fuzzer.sh: unknown target $target" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086  # the source lists are word-split on purpose
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$src" -I"$src/include" \
  "$src/tests/fuzz/${target}_fuzzer.cc" $sources $libs -o "$work/${target}_fuzzer"
# -timeout: one input taking this long is a finding (a hang), not a slow run.
"$work/${target}_fuzzer" -max_total_time="$seconds" -timeout=20 -max_len=262144 -rss_limit_mb=2048 \
  -print_final_stats=1 "$work/corpus"
