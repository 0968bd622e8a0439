#!/usr/bin/env bash
# Daemon figures on loopback: scheduling lateness over a few hundred fires, /metrics scrape
# time and size with 1,000 scenarios configured, daemon RSS idle and during runs.
#   SECS=60 benches/daemon.sh
#   LP=/path/to/another/loadpacer benches/daemon.sh   (compare two builds)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-60}
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
if [ -z "${LP:-}" ]; then
  cargo build --release -q
  LP=$PWD/target/release/loadpacer
fi
$LP demo-target --listen 127.0.0.1:18190 --latency 2ms >/dev/null 2>&1 & echo $! > "$WORK/demo.pid"

start_daemon() { # config → sets BASE
  $LP serve --config "$1" --listen 127.0.0.1:0 > "$WORK/serve.out" 2>/dev/null & echo $! > "$WORK/serve.pid"
  for _ in $(seq 300); do grep -q http:// "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
  BASE=$(grep -o 'http://[0-9.:]*' "$WORK/serve.out" | head -1)
}
stop_daemon() { kill "$(cat "$WORK/serve.pid")"; wait "$(cat "$WORK/serve.pid")" 2>/dev/null || true; rm "$WORK/serve.pid"; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/"$(cat "$WORK/serve.pid")"/status; }

# 1. Lateness: 10 plans firing every 2 s, each a 1 s run at 5 req/s.
{
  echo "store: { path: $WORK/a.db }"
  echo "limits: { max_concurrent_runs: 10 }"
  echo 'targets: { demo: { base_url: "http://127.0.0.1:18190" } }'
  echo "plans:"
  for i in $(seq 10); do
    echo "  p$i: { target: demo, schedule: { every: 2s, overlap: forbid }, load: { phases: [{ duration: 1s, rate: 5 }] }, scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }] }"
  done
} > "$WORK/a.yaml"
start_daemon "$WORK/a.yaml"
sleep 1; IDLE=$(rss_mib)
PEAK=0
for _ in $(seq "$SECS"); do sleep 1; r=$(rss_mib); PEAK=$(awk -v a="$PEAK" -v b="$r" 'BEGIN{print (b>a)?b:a}'); done
curl -s "$BASE/metrics" > "$WORK/a.metrics"
stop_daemon
python3 - "$WORK/a.metrics" <<'PY'
import re, sys
buckets, count, total = {}, 0, 0.0
for line in open(sys.argv[1]):
    m = re.match(r'loadpacer_schedule_lateness_seconds_bucket\{plan="[^"]+",le="([^"]+)"\} (\S+)', line)
    if m: buckets[m.group(1)] = buckets.get(m.group(1), 0) + float(m.group(2))
    m = re.match(r'loadpacer_schedule_lateness_seconds_(sum|count)\{[^}]*\} (\S+)', line)
    if m and m.group(1) == 'count': count += float(m.group(2))
    if m and m.group(1) == 'sum': total += float(m.group(2))
def q(p):
    for le in sorted((k for k in buckets if k != '+Inf'), key=float):
        if buckets[le] >= p * count: return f"<= {float(le)*1000:g} ms"
    return "> 60 s"
print(f"scheduling: {int(count)} fires, mean lateness {total/count*1000:.2f} ms, p50 {q(0.5)}, p99 {q(0.99)} (bucket bounds)")
PY
echo "daemon RSS: idle $IDLE MiB, peak during runs $PEAK MiB"

# 2. /metrics with 1,000 scenarios (one request each) after a run of them, with the default
#    request-duration buckets and with `request_buckets: [0.1, 0.5]`.
for buckets in default "[0.1, 0.5]"; do
  {
    echo "store: { path: $WORK/b.db }"
    echo 'targets: { demo: { base_url: "http://127.0.0.1:18190" } }'
    echo "plans:"
    echo "  big:"
    echo "    target: demo"
    [ "$buckets" = default ] || echo "    request_buckets: $buckets"
    echo "    load: { phases: [{ duration: 2s, rate: 1000 }] }"
    echo "    scenarios:"
    for i in $(seq 1000); do echo "      - { name: s$i, steps: [{ request: { name: r$i, url: / } }] }"; done
  } > "$WORK/b.yaml"
  rm -f "$WORK"/b.db*
  start_daemon "$WORK/b.yaml"
  BEFORE=$(rss_mib)
  curl -s -XPOST "$BASE/api/v1/plans/big/trigger" >/dev/null
  RUN_PEAK=0
  for _ in $(seq 25); do sleep 0.2; r=$(rss_mib); RUN_PEAK=$(awk -v a="$RUN_PEAK" -v b="$r" 'BEGIN{print (b>a)?b:a}'); done
  for i in $(seq 20); do curl -s -o "$WORK/b.metrics" -w '%{time_total}\n' "$BASE/metrics"; done | sort -n > "$WORK/times"
  echo "/metrics, 1000 scenarios after a run, buckets $buckets: $(wc -c < "$WORK/b.metrics") bytes, $(grep -vc '^#' "$WORK/b.metrics") series, scrape p50 $(awk 'NR==10' "$WORK/times")s max $(tail -1 "$WORK/times")s, RSS before $BEFORE MiB, peak during the run $RUN_PEAK MiB, after $(rss_mib) MiB"
  stop_daemon
done

# 3. /metrics with 1,000 plans that have not run yet (a plan exports run figures from its
#    first run on).
{
  echo "store: { path: $WORK/c.db }"
  echo "limits: { max_rps: 1000000 }"
  echo 'targets: { demo: { base_url: "http://127.0.0.1:18190" } }'
  echo "plans:"
  for i in $(seq 1000); do
    echo "  p$i: { target: demo, load: { phases: [{ duration: 1s, rate: 5 }] }, scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }] }"
  done
} > "$WORK/c.yaml"
start_daemon "$WORK/c.yaml"
curl -s -o "$WORK/c.metrics" "$BASE/metrics"
echo "/metrics, 1000 plans before any run: $(wc -c < "$WORK/c.metrics") bytes, $(grep -vc '^#' "$WORK/c.metrics") series"
stop_daemon

# 4. A fleet: PLANS (default 10,000) small plans on staggered daily cron schedules (each a 2 s
#    run at 5 req/s): config load time (`validate`), idle RSS, /metrics and /api/v1/plans size
#    and time (20 requests each: p50 and max).
PLANS=${PLANS:-10000}
python3 - "$PLANS" "$WORK" > "$WORK/d.yaml" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
print(f"store: {{ path: {work}/d.db }}")
print("limits: { max_rps: 1000000 }")
print('targets: { demo: { base_url: "http://127.0.0.1:18190" } }')
print("plans:")
for i in range(n):
    m, h = i % 60, (i // 60) % 24
    print(f'  probe-{i}: {{ target: demo, schedule: {{ cron: "{m} {h} * * *" }}, load: {{ phases: [{{ duration: 2s, rate: 5 }}] }}, scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}] }}')
PY
LOAD=$( { /usr/bin/time -f '%e s, %M KiB max RSS' $LP validate "$WORK/d.yaml" >/dev/null; } 2>&1 | tail -1)
echo "fleet of $PLANS plans: $(wc -c < "$WORK/d.yaml") bytes of config, validate $LOAD"
start_daemon "$WORK/d.yaml"
for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
sleep 2
for path in /metrics /api/v1/plans; do
  for i in $(seq 20); do curl -s -o "$WORK/d.out" -w '%{time_total}\n' "$BASE$path"; done | sort -n > "$WORK/times"
  echo "fleet $path: $(wc -c < "$WORK/d.out") bytes, p50 $(awk 'NR==10' "$WORK/times")s max $(tail -1 "$WORK/times")s"
done
echo "fleet daemon RSS idle: $(rss_mib) MiB"
stop_daemon

# 5. A burst: BURST (default 500) plans due in the same second (a 6-field cron, 20 s ahead),
#    each a 2 s run at 5 req/s, all admitted (limits.max_concurrent_runs = BURST): how late
#    each started after its fire time (the lateness histogram, by bucket bound) and how many
#    were skipped.
BURST=${BURST:-500}
python3 - "$BURST" "$WORK" > "$WORK/e.yaml" <<'PY'
import sys, datetime
n, work = int(sys.argv[1]), sys.argv[2]
due = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=20)
print(f"store: {{ path: {work}/e.db }}")
print(f"limits: {{ max_rps: 1000000, max_concurrent_runs: {n} }}")
print('targets: { demo: { base_url: "http://127.0.0.1:18190" } }')
print("plans:")
for i in range(n):
    print(f'  burst-{i}: {{ target: demo, schedule: {{ cron: "{due.second} {due.minute} {due.hour} * * *", overlap: forbid }}, load: {{ phases: [{{ duration: 2s, rate: 5 }}] }}, scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}] }}')
PY
start_daemon "$WORK/e.yaml"
sleep 27
curl -s "$BASE/metrics" > "$WORK/e.metrics"
stop_daemon
python3 - "$WORK/e.metrics" "$BURST" <<'PY'
import re, sys
buckets, count, skipped = {}, 0.0, 0.0
for line in open(sys.argv[1]):
    m = re.match(r'loadpacer_schedule_lateness_seconds_bucket\{plan="[^"]+",le="([^"]+)"\} (\S+)', line)
    if m: buckets[m.group(1)] = buckets.get(m.group(1), 0) + float(m.group(2))
    m = re.match(r'loadpacer_schedule_lateness_seconds_count\{[^}]*\} (\S+)', line)
    if m: count += float(m.group(1))
    m = re.match(r'loadpacer_schedule_runs_skipped_total\{[^}]*\} (\S+)', line)
    if m: skipped += float(m.group(1))
def q(p):
    for le in sorted((k for k in buckets if k != '+Inf'), key=float):
        if buckets[le] >= p * count: return f"<= {float(le)*1000:g} ms"
    return "beyond the largest bucket"
print(f"burst of {sys.argv[2]} plans due in one second: {int(count)} fired, {int(skipped)} skipped, lateness p50 {q(0.5)}, p99 {q(0.99)}, max {q(1.0)} (bucket bounds)")
PY
