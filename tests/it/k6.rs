//! k6 scripts run by loadpacer and by k6 itself (installed by scripts/test.sh from PyPI),
//! against the same loopback demo target: requests per name, check counts, custom metrics,
//! threshold verdicts and exit codes must agree.

use crate::support::*;
use loadpacer::demo::DemoOptions;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

/// What k6 reported: its exit code, requests and checks per name from its JSON output,
/// and its end-of-test metrics (`--summary-export`).
struct K6 {
    exit: i32,
    requests: BTreeMap<String, u64>,
    checks: BTreeMap<String, (u64, u64)>,
    metrics: Value,
}

fn k6(script: &str, base: &str) -> K6 {
    let dir = tempfile::tempdir().unwrap();
    let (points, summary) = (
        dir.path().join("points.json"),
        dir.path().join("summary.json"),
    );
    let out = Command::new("k6")
        .args(["run", "--quiet", "--no-usage-report", "--no-color"])
        .arg(format!("--out=json={}", points.display()))
        .arg(format!("--summary-export={}", summary.display()))
        .args(["-e", &format!("BASE={base}")])
        .arg(fixture(&format!("k6/{script}")))
        .output()
        .expect("k6 runs (scripts/test.sh installs it)");
    let mut requests = BTreeMap::new();
    let mut checks: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in std::fs::read_to_string(&points).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["type"] != "Point" {
            continue;
        }
        let tags = &v["data"]["tags"];
        match v["metric"].as_str() {
            Some("http_reqs") => {
                *requests
                    .entry(tags["name"].as_str().unwrap().to_string())
                    .or_default() += 1
            }
            Some("checks") => {
                let group = tags["group"].as_str().unwrap_or("");
                let name = if group.is_empty() {
                    tags["check"].as_str().unwrap().to_string()
                } else {
                    format!("{group}::{}", tags["check"].as_str().unwrap())
                };
                let e = checks.entry(name).or_default();
                if v["data"]["value"].as_f64() == Some(1.0) {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
            _ => {}
        }
    }
    let metrics = serde_json::from_str::<Value>(&std::fs::read_to_string(&summary).unwrap())
        .unwrap()["metrics"]
        .clone();
    K6 {
        exit: out.status.code().unwrap_or(-1),
        requests,
        checks,
        metrics,
    }
}

/// loadpacer's exit code and summary for the same script; its JUnit report is added to the
/// summary under `_junit` (test-only) for the tests that look at it.
fn lp(script: &str, base: &str) -> (i32, Value) {
    lp_file(&fixture(&format!("k6/{script}")), base)
}

/// [`lp`] for a script anywhere.
fn lp_file(file: &std::path::Path, base: &str) -> (i32, Value) {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let out = loadpacer(&[
        "run",
        file.to_str().unwrap(),
        "-e",
        &format!("BASE={base}"),
        "--out",
        dir.path().to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(dir.path().join("summary.json"))
        .unwrap_or_else(|_| panic!("no summary: {}", String::from_utf8_lossy(&out.stderr)));
    let mut summary: Value = serde_json::from_str(&text).unwrap();
    summary["_junit"] = Value::from(std::fs::read_to_string(&junit).unwrap_or_default());
    (out.status.code().unwrap_or(-1), summary)
}

fn lp_requests(s: &Value) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in s["requests"].as_array().unwrap() {
        *m.entry(r["name"].as_str().unwrap().to_string())
            .or_default() += r["count"].as_u64().unwrap();
    }
    m
}

fn lp_checks(s: &Value) -> BTreeMap<String, (u64, u64)> {
    let mut m: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for c in s["checks"].as_array().into_iter().flatten() {
        let e = m
            .entry(c["name"].as_str().unwrap().to_string())
            .or_default();
        e.0 += c["passed"].as_u64().unwrap();
        e.1 += c["failed"].as_u64().unwrap();
    }
    m
}

fn lp_metric<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["custom_metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no metric {name} in {s}"))
}

fn within(a: u64, b: u64, share: f64) -> bool {
    (a as f64 - b as f64).abs() <= share * a.max(b) as f64
}

/// tests/fixtures/k6/jslib.js with its imports from jslib's origin, as a user writes them.
fn jslib_script(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(fixture("k6/jslib.js")).unwrap();
    let path = dir.join("jslib.js");
    std::fs::write(
        &path,
        text.replace("JSLIB/", loadpacer::script::JSLIB_ORIGIN),
    )
    .unwrap();
    path
}

async fn both(script: &'static str) -> (K6, (i32, Value)) {
    let target = demo_target(DemoOptions::default()).await;
    let base = target.url();
    let b = base.clone();
    let theirs = tokio::task::spawn_blocking(move || k6(script, &b))
        .await
        .unwrap();
    let ours = tokio::task::spawn_blocking(move || lp(script, &base))
        .await
        .unwrap();
    (theirs, ours)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vu_loop_with_groups_setup_and_metrics_matches_k6() {
    let (k, (exit, s)) = both("shop.js").await;
    assert_eq!((k.exit, exit), (0, 0), "{s}");
    let ours = lp_requests(&s);
    assert_eq!(ours["login"], 1);
    assert_eq!(k.requests["login"], 1);
    for name in ["products", "order"] {
        assert!(
            within(k.requests[name], ours[name], 0.05),
            "{name}: k6 {:?}, loadpacer {ours:?}",
            k.requests
        );
    }
    let checks = lp_checks(&s);
    assert_eq!(
        checks.keys().collect::<Vec<_>>(),
        k.checks.keys().collect::<Vec<_>>()
    );
    for (name, (passed, failed)) in &checks {
        assert_eq!(*failed, 0, "{name}");
        assert!(
            within(k.checks[name].0, *passed, 0.05),
            "{name}: k6 {:?} loadpacer {passed}",
            k.checks[name]
        );
    }
    let orders = lp_metric(&s, "orders_placed");
    assert_eq!(
        orders["total"].as_f64().unwrap() as u64,
        ours["order"],
        "every order created was counted"
    );
    assert!(within(
        k.metrics["orders_placed"]["count"].as_f64().unwrap() as u64,
        ours["order"],
        0.05
    ));
    assert!(lp_metric(&s, "page_time")["p95"].as_f64().unwrap() > 0.0);
    assert!(
        s["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["verdict"] == "pass"),
        "{}",
        s["thresholds"]
    );
    let by_name = s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["metric"] == "latency{request=products}");
    assert!(
        by_name.is_some_and(|t| t["observed"].as_f64().is_some()),
        "a threshold on one request name is judged: {}",
        s["thresholds"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arrival_rate_run_with_a_failed_threshold_matches_k6() {
    let (k, (exit, s)) = both("arrival.js").await;
    // k6 exits 99 when a threshold fails; loadpacer exits 1 (docs/k6.md).
    assert_eq!((k.exit, exit), (99, 1), "{s}");
    let ours = lp_requests(&s);
    for name in ["health", "missing"] {
        assert!(
            within(k.requests[name], ours[name], 0.02),
            "{name}: k6 {:?} loadpacer {ours:?}",
            k.requests
        );
    }
    assert_eq!(ours["health"], 120, "40/s for 3 s, every arrival sent");
    let checks = lp_checks(&s);
    assert_eq!(checks["missing 200"], (0, ours["missing"]));
    assert_eq!(k.checks["missing 200"].0, 0);
    let failed: Vec<&Value> = s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["verdict"] == "fail")
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "only the checks threshold fails: {}",
        s["thresholds"]
    );
    assert_eq!(failed[0]["metric"], "checks");
    // The script's checks are JUnit cases too, the failing one failed.
    let junit = s["_junit"].as_str().unwrap();
    assert!(
        junit.contains(
            "<testcase classname=\"arrival.checks.steady\" name=\"missing 200\">\n      <failure"
        ),
        "{junit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_iterations_batches_and_failing_iterations_match_k6() {
    let (k, (exit, s)) = both("iterations.js").await;
    assert_eq!((k.exit, exit), (0, 0), "{s}");
    assert_eq!(lp_requests(&s), k.requests);
    assert_eq!(k.requests["health"], 20);
    assert_eq!(lp_checks(&s), k.checks);
    assert_eq!(s["totals"]["iterations"], 20);
    assert_eq!(
        s["totals"]["failed_iterations"], 4,
        "fail() in 4 of 20 iterations"
    );
    let odd = lp_metric(&s, "odd_iterations");
    assert_eq!(
        (odd["count"].as_u64(), odd["ratio"].as_f64()),
        (Some(20), Some(0.5))
    );
    assert_eq!(k.metrics["odd_iterations"]["value"].as_f64(), Some(0.5));
    // expectedStatuses(200, 404): the 404s are no failed requests, in both.
    assert_eq!(s["totals"]["errors"], 0);
}

#[test]
fn script_errors_name_the_place_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let cases = [
        ("syntax.js", "export default function () {\n  let x = ;\n}\n", ":2:"),
        ("browser.js", "import { browser } from 'k6/browser';\nexport default function () {}\n", ":1:25: cannot import k6/browser"),
        ("remote.js", "import papa from 'https://127.0.0.2/papaparse.js';\nexport default function () {}\n", "download it once and import it as a local file"),
        ("init.js", "import http from 'k6/http';\nhttp.get('http://127.0.0.1:9/');\nexport default function () {}\n", ":2:"),
        ("external.js", "export const options = { scenarios: { a: { executor: 'externally-controlled', vus: 1 } } };\nexport default function () {}\n", "externally-controlled is not supported"),
        ("notk6.js", "console.log('hello');\n", "is not a k6 script"),
    ];
    for (name, text, expected) in cases {
        let p = write(name, text);
        let out = loadpacer(&["validate", p.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
        assert!(err.contains(name), "{name} is named: {err}");
    }
}

#[test]
fn the_command_line_overrides_the_scripts_options() {
    let p = fixture("k6/shop.js");
    let out = loadpacer(&[
        "validate",
        p.to_str().unwrap(),
        "--vus",
        "7",
        "--duration",
        "2s",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("peak 7 VUs") && text.contains("2s"), "{text}");
    let out = loadpacer(&[
        "validate",
        p.to_str().unwrap(),
        "--stage",
        "1s:4",
        "--stage",
        "1s:0",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("peak 4 VUs"), "{text}");
    let out = loadpacer(&["validate", p.to_str().unwrap(), "--stage", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DURATION:VUS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jslib_utils_is_built_in_so_its_remote_import_runs_offline() {
    let target = demo_target(DemoOptions::default()).await;
    let base = target.url();
    let dir = tempfile::tempdir().unwrap();
    let script = jslib_script(dir.path());
    let (exit, s) = tokio::task::spawn_blocking(move || lp_file(&script, &base))
        .await
        .unwrap();
    assert_eq!(exit, 0, "{s}");
    let checks = lp_checks(&s);
    assert!(
        checks.values().all(|(p, f)| *p == 5 && *f == 0),
        "{checks:?}"
    );
    assert_eq!(checks.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_whose_every_iteration_throws_never_passes() {
    let target = demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("broken.js");
    std::fs::write(
        &p,
        "import http from 'k6/http';\nexport const options = { iterations: 6, vus: 2 };\nexport default function () {\n  http.get(`${__ENV.BASE}/health`);\n  undefinedFunction();\n}\n",
    )
    .unwrap();
    let base = format!("BASE={}", target.url());
    let out =
        tokio::task::spawn_blocking(move || loadpacer(&["run", p.to_str().unwrap(), "-e", &base]))
            .await
            .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("every iteration failed (6 of 6: an exception"),
        "{stdout}"
    );
    assert!(
        stderr.contains("broken.js:5:"),
        "the place of the error is logged: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_schedules_a_k6_script_by_reference() {
    let t = demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("k6/iterations.js"),
        dir.path().join("iterations.js"),
    )
    .unwrap();
    let config = dir.path().join("loadpacer.yaml");
    std::fs::write(
        &config,
        format!(
            r#"server: {{ listen: "127.0.0.1:0" }}
store: {{ path: runs.db }}
limits: {{ allow_targets: [127.0.0.1] }}
plans:
  fixed:
    description: a k6 script, scheduled
    k6: {{ file: iterations.js, env: {{ BASE: "{}" }} }}
    schedule: {{ every: 1s, overlap: forbid }}
    load: {{ target: 1, duration: 1s }}
"#,
            t.url()
        ),
    )
    .unwrap();
    // What belongs to the script is refused beside it, with the field named.
    let out = loadpacer(&["validate", config.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("plans.fixed.load") && err.contains("its `options` give the load"),
        "{err}"
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("    load: { target: 1, duration: 1s }\n", "");
    std::fs::write(&config, text).unwrap();
    let out = loadpacer(&["validate", config.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = serve(&config, &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let run = loop {
        let runs = get_json(&format!("{}/api/v1/runs?plan=fixed", d.base)).await;
        let done = runs["runs"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["status"] == "passed").cloned());
        if let Some(run) = done {
            break run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no passed run in 30 s: {runs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let one = get_json(&format!(
        "{}/api/v1/runs/{}",
        d.base,
        run["id"].as_str().unwrap()
    ))
    .await;
    let s = &one["summary"];
    assert_eq!(s["totals"]["iterations"], 20, "{s}");
    assert_eq!(lp_requests(s)["health"], 20);
    assert_eq!(lp_checks(s)["missing is expected"], (20, 0));
    // The run's figures are on /metrics under the script's request names.
    let metrics = get_text(&format!("{}/metrics", d.base)).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("loadpacer_http_requests_total{")
                && l.contains("plan=\"fixed\"")
                && l.contains("request=\"health\"")),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("fixed"))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // And its checks, under their own names.
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("loadpacer_checks_total{")
                && l.contains("plan=\"fixed\"")
                && l.contains("check=\"missing is expected\"")
                && l.contains("result=\"pass\"")
                && l.ends_with(" 20")),
        "{}",
        metrics
            .lines()
            .filter(|l| l.starts_with("loadpacer_checks_total"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_lines_are_rate_limited_and_a_slow_setup_is_cut_at_its_timeout() {
    let target = demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let chatty = dir.path().join("chatty.js");
    std::fs::write(
        &chatty,
        "export const options = { iterations: 1 };\nexport default function () {\n  for (let i = 0; i < 1000; i++) console.log(`line ${i}`);\n}\n",
    )
    .unwrap();
    let slow = dir.path().join("slow.js");
    std::fs::write(
        &slow,
        "import http from 'k6/http';\nimport { sleep } from 'k6';\nexport const options = { iterations: 1, setupTimeout: '1s' };\nexport function setup() { sleep(3); }\nexport default function () { http.get(`${__ENV.BASE}/health`); }\n",
    )
    .unwrap();
    let base = format!("BASE={}", target.url());
    let (a, b) = tokio::task::spawn_blocking(move || {
        (
            loadpacer(&["run", chatty.to_str().unwrap()]),
            loadpacer(&["run", slow.to_str().unwrap(), "-e", &base]),
        )
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&a.stderr);
    let lines = err.lines().filter(|l| l.contains("line ")).count();
    assert!(
        (1..=20).contains(&lines),
        "{lines} console lines written: {err}"
    );
    assert!(err.contains("vu=1") && err.contains("iteration=0"), "{err}");
    let out = String::from_utf8_lossy(&b.stdout);
    assert_eq!(b.status.code(), Some(1), "{out}");
    assert!(out.contains("setup() did not finish within 1s"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypto_and_encoding_give_k6s_values() {
    let (k, (exit, s)) = both("crypto.js").await;
    assert_eq!((k.exit, exit), (0, 0), "{s}");
    let ours = lp_checks(&s);
    assert_eq!(ours, k.checks, "k6 {:?}", k.checks);
    assert!(ours.values().all(|(p, f)| *p == 2 && *f == 0), "{ours:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_vu_keeps_its_cookies_as_in_k6() {
    let (k, (exit, s)) = both("cookies.js").await;
    assert_eq!((k.exit, exit), (0, 0), "{s}");
    let ours = lp_checks(&s);
    assert_eq!(ours, k.checks, "k6 {:?}", k.checks);
    assert!(ours.values().all(|(p, f)| *p == 6 && *f == 0), "{ours:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_summary_gets_k6s_data_and_its_files_are_written() {
    let target = demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (theirs, ours) = (dir.path().join("k6.json"), dir.path().join("lp.json"));
    let (base, t, o) = (target.url(), theirs.clone(), ours.clone());
    let (k, l) = tokio::task::spawn_blocking(move || {
        let script = fixture("k6/handle.js");
        let k = Command::new("k6")
            .args(["run", "--quiet", "--no-usage-report"])
            .args(["-e", &format!("BASE={base}")])
            .args(["-e", &format!("OUT={}", t.display())])
            .arg(&script)
            .output()
            .unwrap();
        let l = loadpacer(&[
            "run",
            script.to_str().unwrap(),
            "-e",
            &format!("BASE={base}"),
            "-e",
            &format!("OUT={}", o.display()),
        ]);
        (k, l)
    })
    .await
    .unwrap();
    assert_eq!(k.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&l.stderr);
    assert_eq!(l.status.code(), Some(0), "{stderr}");
    let read = |p: &std::path::Path| {
        serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    assert_eq!(read(&ours), read(&theirs));
    assert_eq!(read(&ours)["group_check"], "ok:3");
    assert!(String::from_utf8_lossy(&l.stdout).contains("custom summary"));
    // jslib's textSummary is built in.
    let base = target.url();
    let out = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let script = jslib_script(dir.path());
        loadpacer(&[
            "run",
            script.to_str().unwrap(),
            "-e",
            &format!("BASE={base}"),
        ])
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("✓ page in range") && text.contains("http_reqs"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_a_script_reads_from_env_are_redacted() {
    let target = demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("token.js");
    std::fs::write(
        &p,
        "import http from 'k6/http';\nexport const options = { iterations: 2 };\nexport default function () {\n  http.get(`${__ENV.BASE}/health?token=${__ENV.API_TOKEN}`);\n}\n",
    )
    .unwrap();
    let (base, out_dir) = (format!("BASE={}", target.url()), dir.path().join("out"));
    let o = out_dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        loadpacer(&[
            "run",
            p.to_str().unwrap(),
            "-e",
            &base,
            "-e",
            "API_TOKEN=s3cr3t-t0k3n",
            "--out",
            o.to_str().unwrap(),
        ])
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let summary = std::fs::read_to_string(out_dir.join("summary.json")).unwrap();
    assert!(
        !summary.contains("s3cr3t-t0k3n") && summary.contains("token=***"),
        "{summary}"
    );
    assert!(!stdout.contains("s3cr3t-t0k3n"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_or_memory_hungry_script_is_stopped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let spin = dir.path().join("spin.js");
    std::fs::write(
        &spin,
        "export const options = { vus: 2, duration: '1s', gracefulStop: '1s' };\nexport default function () {\n  for (;;) { try { while (true) {} } catch (e) {} }\n}\n",
    )
    .unwrap();
    let hungry = dir.path().join("hungry.js");
    std::fs::write(
        &hungry,
        "export const options = { iterations: 1 };\nexport default function () {\n  const keep = [];\n  for (;;) keep.push('x'.repeat(1 << 20));\n}\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (a, b) = tokio::task::spawn_blocking(move || {
        (
            loadpacer(&["run", spin.to_str().unwrap()]),
            loadpacer(&["run", hungry.to_str().unwrap()]),
        )
    })
    .await
    .unwrap();
    // 1 s of load, 1 s of grace, then the spinning VUs are interrupted: the run ends.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(
        a.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&a.stdout)
    );
    let err = String::from_utf8_lossy(&b.stderr);
    assert_eq!(b.status.code(), Some(1), "{err}");
    assert!(
        err.contains("hungry.js:4:") && err.contains("out of memory"),
        "{err}"
    );
}

/// Redirects are followed hop by hop, as k6 does: the same requests per name (each hop is
/// one), the same checks, cookies set by a redirect sent with the next hop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_as_k6_follows_them() {
    let (ours, checks) = same_as_k6("redirects.js").await;
    assert_eq!(ours["login"], 6, "{ours:?}");
    assert!(
        checks.values().all(|(p, f)| *p == 3 && *f == 0),
        "{checks:?}"
    );
}

/// `k6/timers` and the global timers: run after the function returns, in due order, before
/// the iteration ends; an `async` default function is awaited; the same requests and checks
/// as k6's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_and_async_functions_run_as_in_k6() {
    let (ours, _) = same_as_k6("timers.js").await;
    assert_eq!((ours["tick"], ours["later"]), (6, 2), "{ours:?}");
}

/// Runs `script` with k6 and loadpacer: both exit 0 with the same requests per name and the
/// same check counts, which are returned.
async fn same_as_k6(script: &'static str) -> (BTreeMap<String, u64>, BTreeMap<String, (u64, u64)>) {
    let (k, (exit, s)) = both(script).await;
    assert_eq!((k.exit, exit), (0, 0), "{s}");
    let ours = lp_requests(&s);
    assert_eq!(ours, k.requests, "k6 {:?}", k.requests);
    let checks = lp_checks(&s);
    assert_eq!(checks, k.checks, "k6 {:?}", k.checks);
    (ours, checks)
}
