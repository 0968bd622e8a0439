#!/usr/bin/env bash
# Held streaming sessions on loopback, side by side in one run:
#   - N WebSocket sessions (default 10,000) each sending a text message every 5 s to the demo
#     target's /ws/echo and counting the echoes, held HOLD s after a RAMP-s ramp:
#     loadpacer, then Artillery's WebSocket engine (npm `artillery`, installed into
#     benches/.artillery when missing; the version is printed);
#   - SSE sessions (default 1,000) on /sse/stream?every=1s: loadpacer only (Artillery has no
#     event-stream engine).
# The target (loadpacer demo-target) runs on core 0, each generator alone on core 1.
# RSS per session is marginal: (peak RSS at N − peak RSS at BASE sessions) / (N − BASE), so
# the process's fixed cost is not spread over the sessions. CPU per message is (user+sys)
# over messages sent plus received. Every address is 127.0.0.1.
#   N=10000 HOLD=30 benches/streams.sh        (SKIP_ARTILLERY=1: loadpacer rows only)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}; BASE=${BASE:-100}; SSE=${SSE:-1000}; HOLD=${HOLD:-30}; RAMP=${RAMP:-10}
PORT=${PORT:-18201}
ulimit -n "$(ulimit -Hn)"  # 10,000 sessions need ~10,000 descriptors per process
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v jq >/dev/null && [ -x /usr/bin/time ] || {
  apt-get update -qq && apt-get install -y -qq --no-install-recommends jq time >/dev/null; }
ART=benches/.artillery/node_modules/.bin/artillery
if [ -z "${SKIP_ARTILLERY:-}" ] && [ ! -x "$ART" ]; then
  mkdir -p benches/.artillery
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --ignore-scripts \
    --prefix benches/.artillery artillery@2 >/dev/null 2>&1 || echo "note: artillery could not be installed; its row is skipped" >&2
fi
cargo build --release -q
LP=target/release/loadpacer
taskset -c 0 $LP demo-target --listen 127.0.0.1:$PORT >/dev/null 2>&1 & echo $! > "$WORK/demo.pid"
sleep 1

# measure NAME CMD...: runs CMD on core 1 under /usr/bin/time; leaves CPU seconds and peak RSS KiB.
measure() {
  local name=$1; shift
  /usr/bin/time -v -o "$WORK/$name.time" taskset -c 1 "$@" > "$WORK/$name.out" 2>&1 || true
  CPU=$(awk -F: '/User time|System time/ {s+=$2} END {print s}' "$WORK/$name.time")
  RSS=$(awk -F: '/Maximum resident/ {print $2+0}' "$WORK/$name.time")
}

# lp_plan NAME SESSIONS STEP: a closed-model plan of SESSIONS VUs ramped over RAMP s, one
# session each, held HOLD s.
lp_plan() {
  cat > "$WORK/$1.yaml" <<EOF
limits: { max_vus: 50000 }
targets: { t: { base_url: "http://127.0.0.1:$PORT", timeout: 30s } }
plans:
  $1:
    target: t
    load: { vus: [{ duration: ${RAMP}s, target: $2 }, { duration: $((HOLD + 5))s, target: $2 }], iterations: $2 }
    scenarios: [{ name: s, steps: [$3] }]
EOF
}
WS_STEP="{ ws: { name: held, path: /ws/echo, actions: [{ hold: { duration: ${HOLD}s, every: 5s, send: ping } }] } }"
SSE_STEP="{ sse: { name: held, path: \"/sse/stream?every=1s\", duration: ${HOLD}s } }"

lp_run() { # NAME SESSIONS STEP -> CPU RSS MSGS
  lp_plan "$1" "$2" "$3"
  measure "$1" $LP run "$WORK/$1.yaml" -q --out "$WORK/$1"
  MSGS=$(jq '[.streams[] | .messages_sent + .messages_received] | add' "$WORK/$1/summary.json")
  OPEN=$(jq '[.streams[] | .sessions] | add' "$WORK/$1/summary.json")
}

printf "%-40s %9s %12s %14s %14s\n" "generator" sessions "peak RSS MiB" "KiB/session" "CPU µs/msg"
row() { # label sessions rss_kib base_rss_kib base_sessions cpu msgs
  awk -v l="$1" -v n="$2" -v r="$3" -v br="$4" -v bn="$5" -v c="$6" -v m="$7" 'BEGIN {
    printf "%-40s %9d %12.1f %14.1f %14.1f\n", l, n, r/1024, (r-br)/(n-bn), (m>0 ? c*1e6/m : 0) }'
}

lp_run ws-base "$BASE" "$WS_STEP"; B_RSS=$RSS
lp_run ws-held "$N" "$WS_STEP"
row "loadpacer $($LP --version | awk '{print $2}') ws ($OPEN opened)" "$N" "$RSS" "$B_RSS" "$BASE" "$CPU" "$MSGS"

if [ -z "${SKIP_ARTILLERY:-}" ] && [ -x "$ART" ]; then
  art_cfg() { # NAME SESSIONS
    cat > "$WORK/$1.yml" <<EOF
config:
  target: "ws://127.0.0.1:$PORT/ws/echo"
  phases: [{ duration: $RAMP, arrivalCount: $2 }]
scenarios:
  - engine: ws
    flow:
      - loop:
          - send: "ping"
          - think: 5
        count: $((HOLD / 5))
EOF
  }
  art_cfg art-base "$BASE"; measure art-base "$ART" run -q "$WORK/art-base.yml"; AB_RSS=$RSS
  art_cfg art-held "$N"
  measure art-held "$ART" run --output "$WORK/art.json" "$WORK/art-held.yml"
  SENT=$(jq '.aggregate.counters["websocket.messages_sent"] // 0' "$WORK/art.json" 2>/dev/null || echo 0)
  # Artillery counts what it sends; the echo of each comes back: twice the sends.
  row "artillery $($ART version 2>/dev/null | awk '/Artillery:/ {print $2}') ws" "$N" "$RSS" "$AB_RSS" "$BASE" "$CPU" "$((SENT * 2))"
fi

lp_run sse-base "$BASE" "$SSE_STEP"; B_RSS=$RSS
lp_run sse-held "$SSE" "$SSE_STEP"
row "loadpacer sse ($OPEN opened)" "$SSE" "$RSS" "$B_RSS" "$BASE" "$CPU" "$MSGS"
echo "(held ${HOLD}s after a ${RAMP}s ramp; marginal RSS over the ${BASE}-session run)"
