#!/bin/sh
# Builds the segment decoder fuzzer with clang (libFuzzer, ASan, UBSan) and
# runs it for a bounded time from a seed corpus of real segments.
#   run_fuzzer.sh SOURCE_DIR WORK_DIR SECONDS SEED_SEGMENT...
set -eu
src=$1 work=$2 seconds=$3
shift 3
mkdir -p "$work/corpus"
for seed in "$@"; do cp "$seed" "$work/corpus/"; done
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$src" -I"$src/include" \
  "$src/tests/fuzz/segment_fuzzer.cc" "$src"/format/*.cc -o "$work/segment_fuzzer"
"$work/segment_fuzzer" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
  -print_final_stats=1 "$work/corpus"
