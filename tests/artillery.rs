//! Artillery scripts as input: translated, validated with errors located in the script, run
//! against the demo target, and printed by `import`.

mod support;

use loadpacer::demo::DemoOptions;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    support::fixture(&format!("artillery/{name}"))
        .display()
        .to_string()
}

async fn loadpacer(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loadpacer"))
            .args(&args)
            .env("SHOP_API_KEY", "k-123")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Runs a script fixture with `extra` arguments and `--out`: the exit status, stderr and the
/// summary.json it wrote.
async fn run_script(name: &str, extra: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let file = fixture(name);
    let mut args = vec![
        "run",
        file.as_str(),
        "-q",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = loadpacer(&args).await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let text = std::fs::read_to_string(out_dir.join("summary.json"))
        .unwrap_or_else(|e| panic!("no summary.json ({e}): {stderr}"));
    (
        out.status.code(),
        stderr,
        serde_json::from_str(&text).unwrap(),
    )
}

/// How many requests named `name` the summary counts (0 when none ran).
fn count(s: &serde_json::Value, name: &str) -> u64 {
    s["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .map_or(0, |r| r["count"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artillery_script_runs_as_it_is_with_its_target_replaced() {
    let t = support::demo_target(DemoOptions::default()).await;
    let (code, stderr, s) = run_script("shop.yml", &["--target", &t.url()]).await;
    assert_eq!(code, Some(0), "{stderr}");
    // The output plugin is named where it is written, and the run goes on.
    assert!(
        stderr.contains("shop.yml:34:7: warning: config.plugins.publish-metrics: not used; loadpacer exports every figure on /metrics"),
        "{stderr}"
    );
    assert_eq!(s["target"], format!("{}/", t.url()));
    // 2 s at 5/s, 2 s ramping 5 → 15/s, a 1 s pause, 10 arrivals in 1 s: 40 arrivals.
    assert_eq!(s["totals"]["iterations"], 40, "{}", s["totals"]);
    // Each buyer logs in (capturing the token) and orders with it: every order is 201.
    assert_eq!(count(&s, "post_auth_login"), count(&s, "post_orders"));
    assert_eq!(count(&s, "post_auth_login") + count(&s, "get_products"), 40);
    assert_eq!(s["totals"]["checks_failed"], 0);
    assert_eq!(s["thresholds"].as_array().unwrap().len(), 3);
    assert_eq!(s["result"], "passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_loops_and_conditions_run_with_artillerys_meaning() {
    let t = support::demo_target(DemoOptions::default()).await;
    let (code, stderr, s) = run_script("flow.yml", &["--target", &t.url()]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(s["totals"]["iterations"], 20, "2 s at 10/s");
    assert_eq!(count(&s, "get_products"), 60, "over 3 pages");
    assert_eq!(count(&s, "get_health"), 40, "count 2");
    assert_eq!(count(&s, "post_auth_login"), 20);
    // An undefined variable renders empty with a warning, as in Artillery.
    assert!(
        stderr.contains("variable \"never_set\" is not defined here; it renders empty"),
        "{stderr}"
    );
    assert_eq!(count(&s, "get"), 20);
    let bob = count(&s, "get_health_2");
    assert!(bob > 0 && bob < 20, "only bob's iterations: {bob}");
    assert_eq!(s["totals"]["errors"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_payload_without_a_header_feeds_its_fields() {
    let t = support::demo_target(DemoOptions::default()).await;
    let (code, stderr, s) = run_script("payload.yml", &["--target", &t.url()]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(count(&s, "post_auth_login"), 9);
    assert_eq!(s["totals"]["checks_failed"], 0);
    let out = loadpacer(&["import", &fixture("payload.yml")]).await;
    let yaml = String::from_utf8_lossy(&out.stdout);
    for part in [
        "file: \"users.csv\"",
        "order: sequential",
        "columns: [\"user\", \"password\"]",
    ] {
        assert!(yaml.contains(part), "{part}\n{yaml}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_overrides_the_phases() {
    let t = support::demo_target(DemoOptions::default()).await;
    let (code, stderr, s) = run_script("shop.yml", &["-e", "staging", "--target", &t.url()]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(s["totals"]["iterations"], 2, "1 s at 2/s");
    let out = loadpacer(&["validate", &fixture("shop.yml"), "-e", "prod"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("-e prod: the script has no environment \"prod\"; it has staging"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_and_untranslated_constructs_are_refused_where_they_are_written() {
    let out = loadpacer(&["validate", &fixture("javascript.yml")]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let file = fixture("javascript.yml");
    for (place, what) in [
        (
            "4:14",
            "a JavaScript processor (\"./helpers.js\") cannot run",
        ),
        ("6:25", "loadpacer never turns TLS verification off"),
        ("12:21", "`beforeScenario` calls JavaScript"),
        ("14:19", "`function` calls JavaScript"),
        ("16:11", "`beforeRequest` calls JavaScript"),
        ("16:11", "{{ $customTime() }} is not translated"),
        ("21:11", "`parallel` is not translated"),
        (
            "24:11",
            "`ifTrue` is not translated: loadpacer's `if:` takes NAME == VALUE",
        ),
    ] {
        let line = format!("{file}:{place}: ");
        assert!(
            err.lines()
                .any(|l| l.starts_with(&line) && l.contains(what)),
            "{line}{what}\n---\n{err}"
        );
    }
    // What the translated plan breaks is reported where the script says it.
    let limit = loadpacer(&["validate", &fixture("shop.yml")]).await;
    assert_eq!(
        limit.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&limit.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let too_fast = dir.path().join("fast.yml");
    let text = std::fs::read_to_string(fixture("shop.yml"))
        .unwrap()
        .replace("arrivalCount: 10", "arrivalCount: 10000000");
    std::fs::write(&too_fast, text).unwrap();
    let out = loadpacer(&["validate", too_fast.to_str().unwrap()]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("fast.yml:14:7: plans.fast.load.phases[3].rate:"),
        "the phase of the script: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_prints_a_plan_that_loads_and_says_what_it_approximated() {
    let out = loadpacer(&["import", &fixture("shop.yml")]).await;
    assert_eq!(out.status.code(), Some(0));
    let yaml = String::from_utf8_lossy(&out.stdout).to_string();
    for part in [
        "base_url: \"http://127.0.0.1:18080\"",
        "\"x-api-key\": \"{{ env.SHOP_API_KEY }}\"",
        "{ name: \"ramp\", duration: 2000ms, rate: 5, ramp_to: 15 }",
        "{ name: \"pause\", duration: 1000ms, rate: 0, ramp_to: 0 }",
        "# maxVusers is per phase in Artillery",
        "\"user\":\"buyer-{{ random_string(10) }}\"",
        "\"item\":\"{{ random_int(1, 100) }}\"",
        "capture: { \"token\": \"$.token\" }",
        "check: { status: 200, header: { content-type: \"json\" }, json: { \"$.token\": exists } }",
        "- think: 100ms",
        "# log: \"ordered\"",
        "- { metric: errors, expr: \"rate <= 0.01\" }",
    ] {
        assert!(yaml.contains(part), "{part}\n---\n{yaml}");
    }
    // The printed plan is a loadpacer file of its own.
    let (dir, file) = support::write_config(&yaml);
    let out = loadpacer(&["validate", file.to_str().unwrap()]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(dir);
    let not = loadpacer(&[
        "import",
        &support::fixture("config/invalid-steps.yaml")
            .display()
            .to_string(),
    ])
    .await;
    assert_eq!(not.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&not.stderr).contains("is not an Artillery script"));
}
