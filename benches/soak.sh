#!/usr/bin/env bash
# Soak of the generator itself: `loadpacer run` at RATE req/s against nginx on loopback for
# MINUTES, printing once a minute the process's own figures (RSS and open fds from its
# /metrics, threads from /proc), then RSS growth after the warm-up (the first ten minutes,
# or the first half of a shorter run). Every address is 127.0.0.1.
#   MINUTES=60 RATE=2000 benches/soak.sh
#   LP=/path/to/loadpacer MINUTES=5 benches/soak.sh
#   NGINX_CORE=1 benches/soak.sh   # both on core 1, leaving core 0 to other work
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-60}
RATE=${RATE:-2000}
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v nginx >/dev/null || apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
if [ -z "${LP:-}" ]; then
  cargo build --release -q
  LP=$PWD/target/release/loadpacer
fi
. benches/nginx.sh
start_nginx "$WORK" 18183 "${NGINX_CORE:-0}"
sleep 1
cat > "$WORK/soak.yaml" <<YAML
targets:
  t: { base_url: "http://127.0.0.1:18183" }
plans:
  soak:
    target: t
    load: { phases: [{ duration: ${MINUTES}m, rate: $RATE }] }
    scenarios: [{ name: s, steps: [{ request: { name: home, url: / } }] }]
YAML
taskset -c 1 "$LP" run "$WORK/soak.yaml" -q --out "$WORK/out" --metrics-listen 127.0.0.1:18184 \
  > "$WORK/run.log" 2>&1 & echo $! > "$WORK/lp.pid"
PID=$(cat "$WORK/lp.pid")
WARM=$(( MINUTES >= 20 ? 10 : MINUTES / 2 ))
printf "%6s %9s %8s %8s %6s %12s\n" minute "RSS MiB" "open fds" threads tasks requests
for m in $(seq "$MINUTES"); do
  sleep 60
  curl -s http://127.0.0.1:18184/metrics > "$WORK/m" || true
  rss=$(awk '/^process_resident_memory_bytes / {printf "%.1f", $2/1048576}' "$WORK/m")
  fds=$(awk '/^process_open_fds / {print $2}' "$WORK/m")
  req=$(awk '/^loadpacer_http_requests_total\{/ {s+=$2} END {print s+0}' "$WORK/m")
  thr=$(awk '/^Threads:/ {print $2}' /proc/"$PID"/status 2>/dev/null || echo -)
  tasks=$(awk '/^loadpacer_runtime_alive_tasks / {print $2}' "$WORK/m")
  printf "%6s %9s %8s %8s %6s %12s\n" "$m" "$rss" "$fds" "$thr" "$tasks" "$req"
  echo "$m $rss ${fds:-0} ${tasks:-0}" >> "$WORK/rss"
done
wait "$PID" || true
awk -v w="$WARM" '$1 == w {a=$2} END {if (a > 0) printf "RSS growth after minute %d: %.1f %% (%.1f -> %.1f MiB)\n", w, ($2-a)/a*100, a, $2}' "$WORK/rss"
awk -v w="$WARM" '$1 >= w {if (!n++ || $3 < f0) f0=$3; if ($3 > f1) f1=$3; if (!t0 || $4 < t0) t0=$4; if ($4 > t1) t1=$4}
  END {printf "after minute %d: open fds %d..%d, tasks %d..%d\n", w, f0, f1, t0, t1}' "$WORK/rss"
