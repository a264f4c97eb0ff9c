#!/bin/sh
# bench/plot.sh [BUILD_DIR] [OUT_DIR]
#
# Durable appends (append-durable, --durability sync, 200 B events) on Cairn
# and every peer compiled into BUILD_DIR/bench/cairn-bench, for 1, 2, 4, 8 and
# 16 writers; the JSON lines go to OUT_DIR/writers.jsonl and the plot to
# OUT_DIR/writers.png (left: events/s; right: p50 and p99 append latency).
# A markdown table of the same figures is printed on stdout.
#
#   BUILD_DIR  default: the build/ directory next to bench/
#   OUT_DIR    default: the directory of this script (bench/)
#
# The stores live in a fresh directory under the current one (cairn-bench's
# default), so the disk measured is the current directory's: cd elsewhere to
# measure another. Environment overrides (for a quick try):
#   WRITERS="1 2 4 8 16"  REPEAT=3  DURATION=2
#   REPLOT=1   skip the benchmark; redraw OUT_DIR/writers.png from OUT_DIR/writers.jsonl
#
# Needs only POSIX sh, awk, sed, cairn-bench and gnuplot. `make bench-plot`
# builds first (and installs gnuplot-nox when run as root on Debian).

set -eu

prog=plot.sh
die() { echo "$prog: $*" >&2; exit 1; }

script_dir=$(cd "$(dirname "$0")" && pwd)
build_dir=${1:-$script_dir/../build}
out_dir=${2:-$script_dir}
writers_list=${WRITERS:-1 2 4 8 16}
repeat=${REPEAT:-3}
duration=${DURATION:-2}

if ! command -v gnuplot >/dev/null 2>&1; then
  die "gnuplot not found: install it (Debian: apt-get install --no-install-recommends gnuplot-nox), or run 'make bench-plot' as root, which does"
fi

[ -d "$out_dir" ] || die "output directory $out_dir does not exist"
jsonl=$out_dir/writers.jsonl
png=$out_dir/writers.png

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-plot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

if [ "${REPLOT:-0}" = 1 ]; then
  [ -s "$jsonl" ] || die "REPLOT=1 but $jsonl is missing or empty"
else
  bench=$build_dir/bench/cairn-bench
  [ -x "$bench" ] || die "$bench not found: build it first (make build, or cmake --build $build_dir --target cairn-bench)"

  # The backends compiled in, from the help text's line
  #   --backend NAME       one of: cairn, rocksdb, leveldb, lmdb, sqlite
  backends=$("$bench" --help 2>&1 | sed -n 's/^ *--backend .*one of: *//p' | tr -d ' ')
  [ -n "$backends" ] || die "could not read the backend list from '$bench --help'"
  peers=$(echo "$backends" | tr ',' '\n' | grep -v '^cairn$' | paste -sd, - || true)
  if [ -n "$peers" ]; then
    backend_args="--compare $peers"
    echo "$prog: Cairn and peers $peers" >&2
  else
    backend_args="--backend cairn"
    echo "$prog: no peer compiled in (install librocksdb-dev libleveldb-dev liblmdb-dev libsqlite3-dev and rebuild); Cairn alone" >&2
  fi

  : > "$tmp/writers.jsonl"
  for w in $writers_list; do
    echo "$prog: == cairn-bench --workload append-durable --durability sync $backend_args --writers $w --repeat $repeat --duration $duration --json" >&2
    # shellcheck disable=SC2086  # backend_args is two words on purpose
    "$bench" --workload append-durable --durability sync $backend_args \
        --writers "$w" --repeat "$repeat" --duration "$duration" --json \
        >> "$tmp/writers.jsonl" || die "cairn-bench failed for $w writer(s)"
  done
  # Replace the previous results only once the whole run succeeded.
  cp "$tmp/writers.jsonl" "$jsonl.tmp" && mv "$jsonl.tmp" "$jsonl"
fi

# One row per JSON line: backend writers events_per_s p50_us p99_us raw_fdatasync_p50_us.
# The lines are flat enough for awk: each key is looked up at its first
# occurrence (the top-level one), p50/p99 inside "latency_us":{...}.
val_fn='
  function val(s, key,   i, r) {
    i = index(s, "\"" key "\":"); if (i == 0) return ""
    r = substr(s, i + length(key) + 3); sub(/[,}].*/, "", r); gsub(/"/, "", r); return r
  }'
awk "$val_fn"'
  NF {
    lat = substr($0, index($0, "\"latency_us\":{"))
    raw = substr($0, index($0, "\"raw\":{"))
    print val($0, "backend"), val($0, "writers"), val($0, "events_per_s"), val(lat, "p50"), val(lat, "p99"), val(raw, "fdatasync_p50_us")
  }' "$jsonl" > "$tmp/rows"
[ -s "$tmp/rows" ] || die "no results in $jsonl"
awk 'NF != 6 || $3 == "" { bad = 1 } END { exit bad }' "$tmp/rows" || die "could not parse $jsonl"

# Backends in the order of the run, Cairn first; one data file each.
backends=$(awk '!seen[$1]++ { print $1 }' "$tmp/rows" | tr '\n' ' ')
colors=""
for b in $backends; do
  awk -v b="$b" '$1 == b { print $2, $3, $4, $5 }' "$tmp/rows" | sort -n > "$tmp/$b.dat"
  case $b in
    cairn)   c='#1f4e9c' ;;
    rocksdb) c='#d62728' ;;
    leveldb) c='#2ca02c' ;;
    lmdb)    c='#9467bd' ;;
    sqlite)  c='#ff7f0e' ;;
    *)       c='#555555' ;;
  esac
  colors="$colors $c"
done
# The disk's own floor: the raw fdatasync p50 measured before each backend's runs, averaged.
awk '{ n[$2]++; t[$2] += $6 } END { for (w in n) print w, t[w] / n[w] }' "$tmp/rows" | sort -n > "$tmp/raw.dat"
xtics=$(awk '{ print $2 }' "$tmp/rows" | sort -n | uniq | paste -sd, -)
xmax=$(awk '$2 > m { m = $2 } END { print m * 1.25 }' "$tmp/rows")

# The machine, as cairn-bench saw it (first line), else this one.
awk "$val_fn"'
  NR == 1 {
    secs = val(substr($0, index($0, "\"repetitions\":[")), "seconds")
    printf "cpus=%s\nkernel=%s\nfs=%s\ndevice=%s\nsize=%s\nreps=%s\nsecs=%.3g\n",
      val($0, "cpus"), val($0, "kernel"), val($0, "fs"), val($0, "device"), val($0, "event_size"), val($0, "repeat"), secs
  }' "$jsonl" | tr -cd 'A-Za-z0-9_=.\n-' > "$tmp/machine"
. "$tmp/machine"
[ -n "$cpus" ] || cpus=$(nproc 2>/dev/null || echo '?')
[ -n "$kernel" ] || kernel=$(uname -r)
day=$(date -r "$jsonl" +%Y-%m-%d 2>/dev/null || date +%Y-%m-%d)
title="Cairn and peers: durable (fdatasync) appends, ${size:-200} B events, median of ${reps:-?} runs of ${secs:-?} s"
subtitle="$day | $cpus CPUs (nproc) | Linux $kernel | ${fs:-?} on ${device:-?}"

cat > "$tmp/plot.gp" <<EOF
set terminal pngcairo size 1600,620 font "sans,11" noenhanced
set output "$tmp/writers.png"
backends = "$backends"
colors = "$colors"
file(i) = "$tmp/" . word(backends, i) . ".dat"
set multiplot layout 1,2 margins 0.05,0.845,0.11,0.86 spacing 0.07 title "$title\n$subtitle" font "sans,13"
set grid
set logscale x 2
set xrange [0.8:$xmax]
set xtics ($xtics)
set xlabel "writers (threads, one synchronous append each)"
set key top left box opaque

set ylabel "events/s"
set yrange [0:*]
set format y "%.0f"
set title "throughput"
plot for [i=1:words(backends)] file(i) using 1:2 with linespoints \
       lw (word(backends, i) eq "cairn" ? 3 : 2) pt 7 ps 0.8 lc rgb word(colors, i) title word(backends, i)

set ylabel "append latency, call to acknowledgement (µs)"
set logscale y
set yrange [*:*]
set format y "%g"
set ytics (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000)
set title "latency: p50 solid, p99 dashed"
set key at screen 0.995,0.86 right top vertical box opaque
plot for [i=1:words(backends)] file(i) using 1:3 with linespoints \
       lw (word(backends, i) eq "cairn" ? 3 : 2) dt 1 pt 7 ps 0.8 lc rgb word(colors, i) title word(backends, i), \
     for [i=1:words(backends)] file(i) using 1:4 with linespoints \
       lw (word(backends, i) eq "cairn" ? 3 : 2) dt 2 pt 6 ps 0.8 lc rgb word(colors, i) notitle, \
     "$tmp/raw.dat" using 1:2 with lines lw 1.5 dt 3 lc rgb "#888888" title "raw fdatasync p50", \
     NaN with lines lw 2 dt 1 lc rgb "black" title "p50", \
     NaN with lines lw 2 dt 2 lc rgb "black" title "p99"
unset multiplot
EOF
gnuplot "$tmp/plot.gp" || die "gnuplot failed on $tmp/plot.gp"
cp "$tmp/writers.png" "$png.tmp" && mv "$png.tmp" "$png"
echo "$prog: wrote $jsonl and $png" >&2

# The same figures as a markdown table: events/s (p50 / p99 µs) per backend and writers.
awk -v wl="$xtics" -v bl="$backends" '
  {
    eps[$1, $2] = $3; p50[$1, $2] = $4; p99[$1, $2] = $5
    if (!($2 in lo) || $6 < lo[$2]) lo[$2] = $6
    if (!($2 in hi) || $6 > hi[$2]) hi[$2] = $6
  }
  END {
    nw = split(wl, w, ","); nb = split(bl, b, " ")
    printf "| backend |"; for (j = 1; j <= nw; j++) printf " %s writer%s |", w[j], (w[j] == 1 ? "" : "s"); print ""
    printf "|---|"; for (j = 1; j <= nw; j++) printf "---:|"; print ""
    for (i = 1; i <= nb; i++) {
      printf "| %s |", b[i]
      for (j = 1; j <= nw; j++)
        if ((b[i], w[j]) in eps) printf " %.0f (%.0f / %.0f) |", eps[b[i], w[j]], p50[b[i], w[j]], p99[b[i], w[j]]
        else printf " - |"
      print ""
    }
    printf "| *raw fdatasync p50, µs* |"; for (j = 1; j <= nw; j++) printf " *%.0f-%.0f* |", lo[w[j]], hi[w[j]]; print ""
  }' "$tmp/rows"
