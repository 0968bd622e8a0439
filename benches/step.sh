#!/usr/bin/env bash
# A load step against nginx on loopback: `loadpacer run` of 100 arrivals/s for 3 s, then
# RATE/s for 5 s, generator on core 1 and nginx on core 0. Prints each second's requests,
# p50 and p99 (from the run's own summary) and the open descriptors sampled every 100 ms
# from the process's /metrics, i.e. how many connections the step opened. Every address is
# 127.0.0.1.
#   benches/step.sh
#   RATE=10000 LP=/path/to/loadpacer benches/step.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-20000}
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v nginx >/dev/null || apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
command -v jq >/dev/null || apt-get install -y -qq --no-install-recommends jq >/dev/null
if [ -z "${LP:-}" ]; then
  cargo build --release -q
  LP=$PWD/target/release/loadpacer
fi
. benches/nginx.sh
start_nginx "$WORK" 18185
sleep 1
cat > "$WORK/step.yaml" <<YAML
targets:
  t: { base_url: "http://127.0.0.1:18185", transport: direct }
plans:
  step:
    target: t
    load: { phases: [{ duration: 3s, rate: 100 }, { duration: 5s, rate: $RATE }] }
    scenarios: [{ name: s, steps: [{ request: { name: home, url: / } }] }]
YAML
taskset -c 1 "$LP" run "$WORK/step.yaml" -q --out "$WORK/out" --metrics-listen 127.0.0.1:18186 \
  > "$WORK/run.log" 2>&1 & echo $! > "$WORK/lp.pid"
PID=$(cat "$WORK/lp.pid")
PEAK=0
while kill -0 "$PID" 2>/dev/null; do
  fds=$(curl -s http://127.0.0.1:18186/metrics 2>/dev/null | awk '/^process_open_fds / {print $2}')
  [ -n "$fds" ] && [ "$fds" -gt "$PEAK" ] && PEAK=$fds
  sleep 0.1
done
wait "$PID" || true
printf "%6s %10s %9s %9s\n" second requests "p50 ms" "p99 ms"
jq -r '.windows[] | [(.t_s | floor), .requests, .p50_ms, .p99_ms] | @tsv' "$WORK/out/summary.json" |
  awk '{printf "%6s %10s %9s %9s\n", $1, $2, $3, $4}'
echo "peak open descriptors: $PEAK; result $(jq -r .result "$WORK/out/summary.json"), dropped $(jq -r .totals.dropped_iterations "$WORK/out/summary.json")"
