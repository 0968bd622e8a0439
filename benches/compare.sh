#!/usr/bin/env bash
# Side-by-side generator benchmark on loopback: loadpacer hit vs wrk, wrk2 and oha, one run.
# The target (nginx, one worker) is pinned to core 0, the generator to core 1. Because the
# target's core saturates first on a 2-core machine, CPU µs per request (user+sys ÷ requests)
# is the figure that compares generators. Installs nginx, wrk, time (apt) and oha (cargo)
# when missing, and builds wrk2 (not packaged) into benches/.wrk2 from WRK2_GIT, the git dir
# of a clone or snapshot of giltene/wrk2 you provide (without it the wrk2 rows are skipped).
# Every address is 127.0.0.1.
#   DUR=10 benches/compare.sh
#   BEFORE=/path/to/older/loadpacer benches/compare.sh   # adds that build's rows, same run
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}
CONC=${CONC:-50}
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need wrk || [ ! -x /usr/bin/time ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx-light wrk time >/dev/null
fi
[ -n "${SKIP_OHA:-}" ] || need oha || cargo install oha --locked >/dev/null 2>&1 || echo "note: oha could not be installed; its rows are skipped" >&2
cargo build --release -q
LP=target/release/loadpacer

# wrk2: built once from source (it needs make, a C compiler and OpenSSL's headers).
WRK2=benches/.wrk2/wrk
if [ -z "${SKIP_WRK2:-}" ] && [ ! -x "$WRK2" ]; then
  if [ -n "${WRK2_GIT:-}" ]; then
    apt-get install -y -qq --no-install-recommends make gcc libc6-dev libssl-dev >/dev/null
    rm -rf benches/.wrk2 && mkdir -p benches/.wrk2
    git --git-dir="$WRK2_GIT" archive HEAD | tar -x -C benches/.wrk2
    make -s -C benches/.wrk2 >/dev/null 2>&1 || echo "note: wrk2 did not build; its rows are skipped" >&2
  else
    echo "note: set WRK2_GIT to the git dir of a giltene/wrk2 clone to add wrk2's rows" >&2
  fi
fi

. benches/nginx.sh
start_nginx "$WORK" 18181
taskset -c 0 $LP demo-target --listen 127.0.0.1:18182 --stall 1s/5s & echo $! > "$WORK/demo.pid"
sleep 1
URL=http://127.0.0.1:18181/

# measure NAME -- CMD...: runs CMD on core 1 under /usr/bin/time, leaves CPU s and RSS KiB.
measure() {
  local name=$1; shift; shift
  /usr/bin/time -v -o "$WORK/$name.time" taskset -c 1 "$@" > "$WORK/$name.out" 2>&1 || true
  CPU=$(awk -F: '/User time|System time/ {s+=$2} END {print s}' "$WORK/$name.time")
  RSS=$(awk -F: '/Maximum resident/ {print $2+0}' "$WORK/$name.time")
}
row() { # name requests rps p50_ms p99_ms
  local us; us=$(awk -v c="$CPU" -v n="$2" 'BEGIN { if (n>0) printf "%.1f", c*1e6/n; else print "-" }')
  printf "%-34s %10s %10.0f %10s %8.1f %9.2f %9.2f\n" "$1" "$2" "$3" "$us" "$(awk -v r="$RSS" 'BEGIN{print r/1024}')" "$4" "$5"
  echo "$1 $us" >> "$WORK/us"
}
printf "%-34s %10s %10s %10s %8s %9s %9s\n" tool requests req/s "cpu µs/req" "RSS MiB" "p50 ms" "p99 ms"

measure wrk -- wrk -t1 -c$CONC -d${DUR}s --latency $URL
W=$WORK/wrk.out
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}'; }
row "wrk -c$CONC (closed)" "$(awk '/requests in/ {print $1}' $W)" "$(awk '/Requests\/sec/ {print $2}' $W)" \
  "$(awk '$1=="50%" {print $2}' $W | to_ms)" "$(awk '$1=="99%" {print $2}' $W | to_ms)"

lp() { # name args...   (LABEL and BIN select another build, e.g. BEFORE's)
  local name=$1; shift
  measure "$name" -- ${BIN:-$LP} hit "$@" -q --json "$WORK/$name.json"
  local j=$WORK/$name.json
  row "${LABEL:-loadpacer} hit $*" "$(jq -r .requests $j)" "$(jq -r .rps $j)" "$(jq -r .p50_ms $j)" "$(jq -r .p99_ms $j)"
  case "$*" in *--rate*) echo "    dispatch lag p99: $(jq -r '.dispatch_lag_p99_ms // "n/a"' $j) ms" ;; esac
}
oha_run() { # name args...
  local name=$1; shift
  need oha && [ -z "${SKIP_OHA:-}" ] || return 0
  measure "$name" -- oha --no-tui --output-format json "$@"
  local j=$WORK/$name.out
  local n; n=$(jq -r '[.statusCodeDistribution[]] | add' $j)
  row "oha $*" "$n" "$(jq -r .summary.requestsPerSec $j)" "$(jq -r '.latencyPercentiles.p50*1000' $j)" "$(jq -r '.latencyPercentiles.p99*1000' $j)"
}
need jq || apt-get install -y -qq --no-install-recommends jq >/dev/null

wrk2_run() { # name rate  (wrk2 is always paced; a rate far above capacity is its closed loop)
  local name=$1 rate=$2; [ -x "$WRK2" ] || return 0
  measure "$name" -- $WRK2 -t1 -c$CONC -d${DUR}s -R"$rate" --latency $URL
  local w=$WORK/$name.out
  row "wrk2 -c$CONC -R$rate" "$(awk '/requests in/ {print $1}' $w)" "$(awk '/Requests\/sec/ {print $2}' $w)" \
    "$(awk '$1=="50.000%" {print $2; exit}' $w | to_ms)" "$(awk '$1=="99.000%" {print $2; exit}' $w | to_ms)"
}

wrk2_run wrk2-closed 1000000
lp lp-closed $URL -c $CONC -d ${DUR}s
oha_run oha-closed -c $CONC -z ${DUR}s $URL
wrk2_run wrk2-open2k 2000
lp lp-open2k $URL --rate 2000 -d ${DUR}s
# The default (auto) wakes exactly at 2,000/s; the 1-ms tick is the cheaper mode.
lp lp-open2k-tick $URL --rate 2000 --dispatch tick -d ${DUR}s
oha_run oha-open2k -q 2000 -c $CONC --latency-correction -z ${DUR}s $URL
wrk2_run wrk2-open20k 20000
lp lp-open20k $URL --rate 20000 -d ${DUR}s
if [ -n "${BEFORE:-}" ]; then
  LABEL=before BIN=$BEFORE lp before-closed $URL -c $CONC -d ${DUR}s
  LABEL=before BIN=$BEFORE lp before-open2k $URL --rate 2000 -d ${DUR}s
  LABEL=before BIN=$BEFORE lp before-open20k $URL --rate 20000 -d ${DUR}s
fi
echo
echo "Coordinated omission: 200 req/s for 15 s, target frozen 1 s of every 5 s (truth: p90 ≈ 500 ms, p99 ≈ 950 ms)"
measure lp-co -- $LP hit http://127.0.0.1:18182/ --rate 200 -d 15s -q --json "$WORK/co.json"
echo "loadpacer hit --rate 200:             p90 $(jq -r .p90_ms $WORK/co.json) ms  p99 $(jq -r .p99_ms $WORK/co.json) ms"
if [ -x "$WRK2" ]; then
  $WRK2 -t1 -c50 -d15s -R200 --latency http://127.0.0.1:18182/ > "$WORK/wrk2-co.out" 2>&1 || true
  echo "wrk2 -R 200:                          p90 $(awk '$1=="90.000%" {print $2; exit}' $WORK/wrk2-co.out | to_ms) ms  p99 $(awk '$1=="99.000%" {print $2; exit}' $WORK/wrk2-co.out | to_ms) ms"
fi
if need oha; then
  oha --no-tui --output-format json -q 200 -c 50 --latency-correction -z 15s http://127.0.0.1:18182/ > "$WORK/oha-co.json" 2>/dev/null || true
  echo "oha -q 200 --latency-correction:      p90 $(jq -r '.latencyPercentiles.p90*1000' $WORK/oha-co.json) ms"
  oha --no-tui --output-format json -q 200 -c 50 -z 15s http://127.0.0.1:18182/ > "$WORK/oha-co2.json" 2>/dev/null || true
  echo "oha -q 200 (no correction):           p90 $(jq -r '.latencyPercentiles.p90*1000' $WORK/oha-co2.json) ms"
fi
