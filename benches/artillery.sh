#!/usr/bin/env bash
# Artillery and loadpacer on the same Artillery script (benches/artillery-shop.yml), against
# the same loopback target (loadpacer demo-target on core 0; each generator alone on core 1),
# one arrival rate at a time (RATES, default "50 200 2000" per second, 20 s each). Prints per
# endpoint the requests each sent and their p95, and the arrivals each started against the
# scheduled ones. Artillery (npm `artillery@2`) is installed into benches/.artillery when
# missing; its version is printed. Every address is 127.0.0.1.
# Then each script of the test corpus (tests/fixtures/artillery, CORPUS) runs once with each
# tool against the same target: requests per status code, Artillery's against loadpacer's
# (loadpacer's `after` flow is its teardown, counted with the rest here).
#   benches/artillery.sh            RATES="50 2000" CORPUS="flow" benches/artillery.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${RATES:-"50 200 2000"}
CORPUS=${CORPUS:-"shop flow payload constructs processor captures"}
PORT=18301
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
ART=benches/.artillery/node_modules/.bin/artillery
if [ ! -x "$ART" ]; then
  mkdir -p benches/.artillery
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --ignore-scripts \
    --prefix benches/.artillery artillery@2 >/dev/null 2>&1
fi
cargo build --release -q
LP=target/release/loadpacer
taskset -c 0 $LP demo-target --listen 127.0.0.1:$PORT >/dev/null 2>&1 & echo $! > "$WORK/demo.pid"
sleep 1
echo "artillery $($ART version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1), loadpacer $($LP --version | awk '{print $2}'), $(nproc) cores"
printf '%-6s %-14s %10s %10s %7s %12s %12s\n' "rate/s" "endpoint" "artillery" "loadpacer" "diff" "art p95 ms" "lp p95 ms"
for rate in $RATES; do
  taskset -c 1 "$ART" run -e "r$rate" --output "$WORK/art-$rate.json" benches/artillery-shop.yml > "$WORK/art-$rate.log" 2>&1 || true
  taskset -c 1 $LP run benches/artillery-shop.yml -e "r$rate" -q --out "$WORK/lp-$rate" > "$WORK/lp-$rate.log" 2>&1 || true
  python3 - "$rate" "$WORK/art-$rate.json" "$WORK/lp-$rate/summary.json" <<'PY'
import json, sys
rate, art_file, lp_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
art = json.load(open(art_file))["aggregate"]
lp = json.load(open(lp_file))
counters, summaries = art.get("counters", {}), art.get("summaries", {})
names = {"/auth/login": "post_auth_login", "/orders": "post_orders", "/products": "get_products"}
for path, name in names.items():
    a = sum(v for k, v in counters.items() if k.startswith(f"plugins.metrics-by-endpoint.{path}.codes."))
    a_p95 = summaries.get(f"plugins.metrics-by-endpoint.response_time.{path}", {}).get("p95", float("nan"))
    r = next((r for r in lp["requests"] if r["name"] == name), None)
    l, l_p95 = (r["count"], r["latency"]["p95_ms"]) if r else (0, float("nan"))
    diff = f"{(l - a) / a * 100:+.1f}%" if a else "-"
    print(f"{rate:<6} {path:<14} {a:>10} {l:>10} {diff:>7} {a_p95:>12.1f} {l_p95:>12.1f}")
scheduled = rate * 20
a_started = counters.get("vusers.created", 0)
l_started = lp["totals"]["iterations"] + lp["totals"]["dropped_iterations"]
print(f"{rate:<6} {'arrivals':<14} {a_started:>10} {l_started:>10} {'':>7}   scheduled {scheduled}: "
      f"artillery {a_started / scheduled * 100:.1f} %, loadpacer {l_started / scheduled * 100:.1f} %")
PY
done

echo
printf '%-12s %-10s %10s %10s\n' "script" "status" "artillery" "loadpacer"
export SHOP_API_KEY=k-bench
for script in $CORPUS; do
  file=tests/fixtures/artillery/$script.yml
  taskset -c 1 "$ART" run --target "http://127.0.0.1:$PORT" --output "$WORK/corpus-art-$script.json" "$file" > "$WORK/corpus-art-$script.log" 2>&1 || true
  taskset -c 1 $LP run "$file" --target "http://127.0.0.1:$PORT" -q --out "$WORK/corpus-lp-$script" > "$WORK/corpus-lp-$script.log" 2>&1 || true
  python3 - "$script" "$WORK/corpus-art-$script.json" "$WORK/corpus-lp-$script/summary.json" <<'PY'
import json, sys
from collections import Counter
script, art_file, lp_file = sys.argv[1:4]
try:
    counters = json.load(open(art_file))["aggregate"].get("counters", {})
except (OSError, ValueError, KeyError) as e:
    print(f"{script:<12} artillery wrote no report ({e})"); counters = {}
try:
    lp = json.load(open(lp_file))
except (OSError, ValueError) as e:
    print(f"{script:<12} loadpacer wrote no summary ({e})"); lp = {"requests": []}
art = Counter({k.split(".")[-1]: v for k, v in counters.items() if k.startswith("http.codes.")})
mine = Counter()
for r in lp["requests"] + (lp.get("teardown") or {}).get("requests", []):
    for code, n in (r.get("statuses") or {}).items():
        mine[code] += n
for code in sorted(set(art) | set(mine)):
    print(f"{script:<12} {code:<10} {art[code]:>10} {mine[code]:>10}")
print(f"{script:<12} {'all':<10} {sum(art.values()):>10} {sum(mine.values()):>10}")
PY
done
