//! Lifecycle steps: `vu_setup` once per virtual user, `teardown` after the load whatever
//! ended it. Real loopback targets, the real binary for the interrupt.

use crate::support;

use loadpacer::demo::DemoOptions;
use loadpacer::report::summary::Outcome;
use loadpacer::run::RunOptions;
use std::process::Command;
use std::time::Duration;

fn opts() -> RunOptions {
    RunOptions {
        workers: 2,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_vu_logs_in_once_and_keeps_its_own_token() {
    let t = support::demo_target(DemoOptions::default()).await;
    let yaml = format!(
        "targets:\n  t: {{ base_url: \"{}\" }}\nplans:\n  p:\n    target: t\n    load: {{ vus: [{{ duration: 2s, target: 4 }}] }}\n    vu_setup:\n      - request: {{ name: login, method: POST, url: /auth/login, json: {{ user: \"u{{{{ vu }}}}\" }} }}\n        check: {{ status: 200 }}\n        capture: {{ token: \"$.token\" }}\n    scenarios:\n      - name: buy\n        steps:\n          - request: {{ name: order, method: POST, url: /orders, headers: {{ Authorization: \"Bearer {{{{ token }}}}\" }} }}\n            check: {{ status: 201 }}\n          - think: 20ms\n",
        t.url()
    );
    let s = support::run_plan(&yaml, None, opts()).await;
    let row = |name: &str| s.requests.iter().find(|r| r.name == name).unwrap();
    let login = row("login");
    assert_eq!(login.scenario, "vu_setup");
    // Four VUs, each logging in once (a ramp from 0 to 4 starts each of them once).
    assert_eq!(login.count, 4, "{:?}", login);
    let order = row("order");
    assert!(order.count >= 20, "{order:?}");
    assert_eq!(order.statuses.get("201"), Some(&order.count), "{order:?}");
    assert_eq!(s.result, Outcome::Passed, "{:?}", s.reasons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vu_whose_setup_fails_runs_no_scenario_and_retries() {
    let t = support::demo_target(DemoOptions::default()).await;
    // The login has no user field: 400 every time, so no VU ever orders.
    let yaml = format!(
        "targets:\n  t: {{ base_url: \"{}\" }}\nplans:\n  p:\n    target: t\n    load: {{ vus: [{{ duration: 1s, target: 2 }}] }}\n    vu_setup:\n      - request: {{ name: login, method: POST, url: /auth/login, json: {{ who: x }} }}\n        capture: {{ token: \"$.token\" }}\n      - think: 50ms\n    scenarios:\n      - name: buy\n        steps:\n          - request: {{ name: order, method: POST, url: /orders, headers: {{ Authorization: \"Bearer {{{{ token }}}}\" }} }}\n",
        t.url()
    );
    let s = support::run_plan(&yaml, None, opts()).await;
    let row = |name: &str| s.requests.iter().find(|r| r.name == name).unwrap();
    assert!(row("login").count >= 4, "retried: {:?}", row("login"));
    assert_eq!(row("order").count, 0);
    assert_eq!(s.result, Outcome::Failed, "all requests failed");
}

fn teardown_plan(base: &str, load: &str, url: &str, extra: &str) -> String {
    format!(
        "targets:\n  t: {{ base_url: \"{base}\" }}\nplans:\n  p:\n    target: t\n    load: {load}\n{extra}    setup:\n      - request: {{ name: create, method: POST, url: /auth/login, json: {{ user: admin }} }}\n        capture: {{ token: \"$.token\" }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: {url} }} }}] }}]\n    teardown:\n      - request: {{ name: delete, method: POST, url: /orders, headers: {{ Authorization: \"Bearer {{{{ token }}}}\" }} }}\n        check: {{ status: 201 }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_runs_after_a_threshold_abort_with_the_setup_captures() {
    let t = support::demo_target(DemoOptions::default()).await;
    let yaml = teardown_plan(
        &t.url(),
        "{ phases: [{ duration: 30s, rate: 20 }] }",
        "/missing",
        "    thresholds: [{ metric: errors, expr: \"rate < 0.01\", abort_on_fail: true, delay_abort_eval: 1s }]\n",
    );
    let s = support::run_plan(&yaml, None, opts()).await;
    assert_eq!(s.result, Outcome::Aborted, "{:?}", s.reasons);
    assert!(s.duration_s < 10.0);
    let td = s.teardown.as_ref().expect("teardown ran");
    assert!(td.passed, "{td:?}");
    assert_eq!(td.requests.len(), 1);
    // The teardown's request used the token captured by setup: 201, not 401.
    assert_eq!(td.requests[0].statuses.get("201"), Some(&1), "{td:?}");
    // Not part of the load's figures.
    assert!(s.requests.iter().all(|r| r.scenario != "teardown"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_teardown_is_reported_and_leaves_a_passed_run_passed() {
    let t = support::demo_target(DemoOptions::default()).await;
    let yaml = teardown_plan(
        &t.url(),
        "{ phases: [{ duration: 1s, rate: 10 }] }",
        "/",
        "",
    )
    .replace("check: { status: 201 }", "check: { status: 204 }");
    let s = support::run_plan(&yaml, None, opts()).await;
    assert_eq!(s.result, Outcome::Passed, "{:?}", s.reasons);
    let td = s.teardown.as_ref().unwrap();
    assert!(!td.passed);
    let why = td.reason.as_deref().unwrap();
    assert!(
        why.contains("status") || why.contains("failed check"),
        "{why}"
    );
    let text = loadpacer::report::console::render(&s);
    assert!(text.contains("teardown: FAILED"), "{text}");
    // Issue 24, item 7: a count and the teardown's duration, never a rate over its own
    // milliseconds.
    let row = text
        .lines()
        .find(|l| l.starts_with("teardown/delete"))
        .unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((cells[1], cells[2]), ("1", "-"), "{row}");
    let html = loadpacer::report::html::render(&s);
    let table = &html[html.find("id=\"teardown-requests\"").unwrap()..];
    assert!(table.contains("<td>1</td><td>-</td>"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_teardown_is_cut_at_its_timeout_keeping_what_it_measured() {
    let t = support::demo_target(DemoOptions::default()).await;
    let yaml = format!(
        "{}      - think: 30s\n    teardown_timeout: 500ms\n",
        teardown_plan(&t.url(), "{ phases: [{ duration: 1s, rate: 5 }] }", "/", "")
    );
    let started = std::time::Instant::now();
    let s = support::run_plan(&yaml, None, opts()).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let td = s.teardown.as_ref().unwrap();
    assert!(!td.passed);
    assert!(
        td.reason
            .as_deref()
            .unwrap()
            .contains("did not finish within 500ms"),
        "{td:?}"
    );
    assert_eq!(
        td.requests[0].count, 1,
        "the request before the hang is kept"
    );
    assert_eq!(s.result, Outcome::Passed, "{:?}", s.reasons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_teardown_when_setup_failed() {
    let t = support::demo_target(DemoOptions::default()).await;
    let yaml = teardown_plan(&t.url(), "{ phases: [{ duration: 1s, rate: 5 }] }", "/", "")
        .replace("json: { user: admin }", "json: { nobody: x }");
    let s = support::run_plan(&yaml, None, opts()).await;
    assert_eq!(s.result, Outcome::Aborted);
    assert!(s.teardown.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_runs_after_ctrl_c_and_lands_in_summary_json() {
    let t = support::demo_target(DemoOptions::default()).await;
    let yaml = teardown_plan(
        &t.url(),
        "{ phases: [{ duration: 60s, rate: 10 }] }",
        "/",
        "",
    );
    let (dir, plan) = support::write_config(&yaml);
    let out_dir = dir.path().join("out");
    let child = Command::new(env!("CARGO_BIN_EXE_loadpacer"))
        .args([
            "run",
            plan.to_str().unwrap(),
            "-q",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let out = support::interrupt_after(child, Duration::from_millis(1500)).await;
    assert_eq!(out.status.code(), Some(130));
    let summary = out_dir.join("summary.json");
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/summary.v1.json");
    support::tool_ok(
        "check-jsonschema",
        &[
            "--schemafile",
            schema.to_str().unwrap(),
            summary.to_str().unwrap(),
        ],
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(json["result"], "interrupted");
    assert_eq!(json["teardown"]["passed"], true, "{}", json["teardown"]);
    assert_eq!(json["teardown"]["requests"][0]["statuses"]["201"], 1);
}

#[test]
fn lifecycle_names_and_variables_are_checked_at_load() {
    let yaml = "targets:\n  t: { base_url: \"http://127.0.0.1:9\" }\nplans:\n  p:\n    target: t\n    load: { phases: [{ duration: 1s, rate: 1 }] }\n    teardown_timeout: 0s\n    vu_setup:\n      - request: { name: login, method: POST, url: /auth/login }\n        capture: { token: \"$.token\" }\n    scenarios:\n      - name: teardown\n        steps: [{ request: { name: a, url: \"/?t={{ token }}\" } }]\n    teardown:\n      - request: { name: b, url: \"/?t={{ token }}\" }\n";
    let err = loadpacer::config::load_str(yaml, "p.yaml", None, &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plans.p.scenarios[0].name") && err.contains("reserved"),
        "{err}"
    );
    // A VU's capture is not visible to the teardown, which no VU runs.
    assert!(
        err.contains("plans.p.teardown[0]") && err.contains("\"token\" is not defined"),
        "{err}"
    );
    assert!(err.contains("plans.p.teardown_timeout"), "{err}");
}
