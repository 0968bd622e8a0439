#!/usr/bin/env bash
# Before/after benchmark of two loadpacer builds on loopback, interleaved so that drift of
# the machine hits both alike: nginx (one worker) on core 0, each generator alone on core 1,
# REPS rounds of { A closed, B closed, A open, B open }, median per row. Installs nginx and
# time (apt) when missing. Every address is 127.0.0.1.
#   benches/ab.sh /path/to/old/loadpacer target/release/loadpacer
set -euo pipefail
A=${1:?usage: benches/ab.sh OLD_BINARY NEW_BINARY}
B=${2:?usage: benches/ab.sh OLD_BINARY NEW_BINARY}
DUR=${DUR:-10}; CONC=${CONC:-50}; RATE=${RATE:-2000}; REPS=${REPS:-3}
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v nginx >/dev/null && [ -x /usr/bin/time ] || {
  apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx-light time jq >/dev/null; }
. "$(cd "$(dirname "$0")" && pwd)/nginx.sh"
start_nginx "$WORK" 18191
sleep 1
URL=http://127.0.0.1:18191/
one() { # label binary mode-args...
  local label=$1 bin=$2; shift 2
  /usr/bin/time -v -o "$WORK/t" taskset -c 1 "$bin" hit "$URL" "$@" -d ${DUR}s -q --json "$WORK/j" >/dev/null 2>&1 || true
  local cpu n
  cpu=$(awk -F: '/User time|System time/ {s+=$2} END {print s}' "$WORK/t")
  n=$(jq -r .requests "$WORK/j")
  echo "$label $(jq -r .rps "$WORK/j") $(awk -v c="$cpu" -v n="$n" 'BEGIN{printf "%.1f", c*1e6/n}') $(jq -r .p50_ms "$WORK/j") $(jq -r .p99_ms "$WORK/j")" >> "$WORK/rows"
}
for _ in $(seq "$REPS"); do
  one "A-closed" "$A" -c "$CONC"; one "B-closed" "$B" -c "$CONC"
  one "A-open" "$A" --rate "$RATE"; one "B-open" "$B" --rate "$RATE"
done
printf "%-10s %10s %12s %8s %8s   (median of %s runs of %s s)\n" build req/s "cpu µs/req" "p50 ms" "p99 ms" "$REPS" "$DUR"
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
for k in A-closed B-closed A-open B-open; do
  col() { grep "^$k " "$WORK/rows" | awk -v c="$1" '{print $c}' | median; }
  printf "%-10s %10.0f %12.1f %8.2f %8.2f\n" "$k" "$(col 2)" "$(col 3)" "$(col 4)" "$(col 5)"
done
echo "A = $A"; echo "B = $B"
echo "runs (build req/s cpu-us/req p50 p99):"; cat "$WORK/rows"
