//! Artillery scripts as input: translated, validated with errors located in the script, run
//! against the demo target, and printed by `import`.

use crate::support;

use loadpacer::demo::DemoOptions;
use std::process::{Command, Output};

pub(crate) fn fixture(name: &str) -> String {
    support::fixture(&format!("artillery/{name}"))
        .display()
        .to_string()
}

pub(crate) async fn loadpacer(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loadpacer"))
            .args(&args)
            .env("SHOP_API_KEY", "k-123")
            .env("LOADPACER_TEST_TOKEN", "t0k3n")
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
    run_file(&fixture(name), dir.path(), extra).await
}

/// Runs `file` with `extra` arguments and `--out` into `dir`: the exit status, stderr and
/// the summary.json it wrote.
pub(crate) async fn run_file(
    file: &str,
    dir: &std::path::Path,
    extra: &[&str],
) -> (Option<i32>, String, serde_json::Value) {
    let out_dir = dir.join("out");
    let mut args = vec!["run", file, "-q", "--out", out_dir.to_str().unwrap()];
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
pub(crate) fn count(s: &serde_json::Value, name: &str) -> u64 {
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
        stderr.contains("warning: ") && stderr.contains("shop.yml:34:7: config.plugins.publish-metrics: not used; loadpacer exports every figure on /metrics"),
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
    // Single quotes: Artillery 2.0.21 runs the step every time (benches/artillery.sh counts
    // it), and so does the translation, with a warning where it is written.
    assert_eq!(count(&s, "get_health_3"), 20);
    assert!(
        stderr.contains("flow.yml:")
            && stderr.contains("ifTrue: has single quotes: Artillery runs this step every time"),
        "{stderr}"
    );
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
async fn untranslated_constructs_are_refused_where_they_are_written() {
    let out = loadpacer(&["validate", &fixture("javascript.yml")]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let file = fixture("javascript.yml");
    for (place, what) in [
        ("6:25", "loadpacer never turns TLS verification off"),
        ("16:11", "{{ $customTime() }} is not translated"),
        (
            "24:11",
            "`ifTrue` is not translated: loadpacer's `if:` takes NAME == \"TEXT\"",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_other_construct_of_the_corpus_runs_with_artillerys_meaning() {
    let t = support::demo_target(DemoOptions::default()).await;
    let (code, stderr, s) = run_script("constructs.yml", &["--target", &t.url()]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(s["totals"]["iterations"], 10, "2 s at 5/s");
    for (name, n) in [
        ("post_auth_login", 10), // body + header, captures by json, header and regexp
        ("post_auth_login_2", 10), // a form body, answered 400 as expected
        ("get_products", 20),    // a loop of count 2
        ("post_hooks_hook_deliveries", 10),
        ("put_hooks_0", 10),
        ("patch_hooks_0", 10),
        ("head_nothing", 10),
        ("options_nothing", 10),
        ("get_products_2", 10),
        ("get_health", 10),
    ] {
        assert_eq!(count(&s, name), n, "{name}");
    }
    // Every expectation held: the captured content type equals the expected one, the page
    // captured in the loop equals `$loopCount` each round, and the last round was 1 (so
    // `$loopCount` counts from 0, as Artillery 2.0.21 does: measured by benches/artillery.sh).
    assert_eq!(s["totals"]["checks_failed"], 0, "{}", s["checks"]);
    assert_eq!(s["totals"]["errors"], 0);
    // `before` created the hook the deliveries went to, `after` deleted it.
    assert_eq!(
        support::get_json(&format!("{}/stats", t.url())).await["hooks"],
        0
    );
    // ensure: median, max, p99, and a condition of two comparisons; the `or` condition and
    // the `strict: false` one are warnings where they are written.
    let thresholds: Vec<String> = s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{} {}",
                t["metric"].as_str().unwrap(),
                t["expr"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        thresholds,
        [
            "latency p(99) < 3000ms",
            "latency max < 5000ms",
            "latency p(50) < 1000ms",
            "latency p(95) < 2000ms",
            "requests count >= 10"
        ]
    );
    assert!(stderr.contains("constructs.yml:25:9: ensure.conditions[1]: \"http.response_time.p99 < 1 or http.request_rate > 1\" is not translated"), "{stderr}");
    assert!(stderr.contains("constructs.yml:26:9: ensure.conditions[2]: not translated: a `strict: false` condition"), "{stderr}");
    let out = loadpacer(&["import", &fixture("constructs.yml")]).await;
    let yaml = String::from_utf8_lossy(&out.stdout);
    for part in [
        "\"x-key\": \"{{ env.SHOP_API_KEY }}\"",
        "timeout: 3000ms",
        "index_as: loopCount",
        "query: { \"page\": \"{{ loopCount }}\" }",
        "\"sent\":\"{{ unix_millis() }}\"",
        "capture: { \"token\": \"$.token\", \"ctype\": \"header:content-type\", \"number\": \"regex:tok-([0-9]+)\" }",
        "check: { status: 200, equals: [\"{{ ctype }}\", \"application/json\"] }",
        "form: { \"user\": \"form-user\" }",
    ] {
        assert!(yaml.contains(part), "{part}\n---\n{yaml}");
    }
}

/// A config whose plan is given by an Artillery script, pointed at one of its own targets.
fn referring_config(dir: &std::path::Path, target: &str, extra: &str) -> std::path::PathBuf {
    std::fs::copy(fixture("shop.yml"), dir.join("shop.yml")).unwrap();
    let yaml = format!(
        r#"server: {{ listen: "127.0.0.1:0", token_env: LOADPACER_TEST_TOKEN }}
store: {{ path: runs.db }}
limits: {{ allow_targets: [127.0.0.1] }}
targets:
  demo: {{ base_url: "{target}" }}
plans:
  checkout:
    description: the team's Artillery script, scheduled
    artillery: {{ file: shop.yml, environment: staging }}
    target: demo
    schedule: {{ every: 1s, overlap: forbid }}
{extra}"#
    );
    let path = dir.join("loadpacer.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_schedules_an_artillery_script_by_reference() {
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = referring_config(dir.path(), &t.url(), "");
    let out = loadpacer(&["validate", config.to_str().unwrap()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("checkout"), "{stdout}");
    // The script's warning is named in the script, through the referring config.
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("shop.yml:34:7: config.plugins.publish-metrics"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = support::serve(
        &config,
        &[("LOADPACER_TEST_TOKEN", "t0k3n"), ("SHOP_API_KEY", "k-123")],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let runs = loop {
        let runs = support::get_json(&format!("{}/api/v1/runs?plan=checkout", d.base)).await;
        let finished = runs["runs"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["status"] == "passed"));
        if finished || std::time::Instant::now() > deadline {
            break runs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let run = runs["runs"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["status"] == "passed"))
        .unwrap_or_else(|| panic!("no passed run of the script in 30 s: {runs}"));
    let id = run["id"].as_str().unwrap();
    let one = support::get_json(&format!("{}/api/v1/runs/{id}", d.base)).await;
    // The staging environment: 1 s at 2/s, sent to the config's target.
    assert_eq!(one["summary"]["totals"]["iterations"], 2, "{one}");
    assert_eq!(one["summary"]["target"], format!("{}/", t.url()));
    assert_eq!(one["summary"]["plan"], "checkout");
    drop(d);

    // What the script may not be given beside it, a script that does not load, and a
    // script target outside the allowlist are located errors of the config.
    let bad = referring_config(
        dir.path(),
        &t.url(),
        "    load: { phases: [{ duration: 1s, rate: 1 }] }\n  other:\n    artillery: { file: missing.yml }\n",
    );
    let out = loadpacer(&["validate", bad.to_str().unwrap()]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("plans.checkout.load: comes from the script shop.yml"),
        "{err}"
    );
    assert!(
        err.contains("plans.other.artillery.file:") && err.contains("missing.yml does not load"),
        "{err}"
    );
    assert!(err.contains("missing.yml: cannot read the file"), "{err}");
    let text = std::fs::read_to_string(&bad)
        .unwrap()
        .replace("    target: demo\n", "")
        .replace("[127.0.0.1]", "[127.0.0.2]");
    std::fs::write(&bad, text).unwrap();
    let out = loadpacer(&["validate", bad.to_str().unwrap()]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the script's target http://127.0.0.1:18081/: host 127.0.0.1 is not in limits.allow_targets"), "{err}");
}

/// Issue 25, also seen: `validate` checks an Artillery script in every environment, not only
/// the chosen one (a target loadpacer refuses in `environments.staging` passed before).
#[test]
fn validate_checks_every_environment_of_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("api.yml");
    std::fs::write(
        &script,
        "config:\n  target: \"http://127.0.0.1:9\"\n  phases:\n    - duration: 5\n      arrivalRate: 1\n  environments:\n    staging:\n      target: \"ftp://127.0.0.1:9\"\n    local:\n      target: \"http://127.0.0.1:10\"\nscenarios:\n  - flow:\n      - get:\n          url: \"/\"\n",
    )
    .unwrap();
    let out = support::loadpacer(&["validate", script.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("with -e staging"), "{err}");
    assert!(!err.contains("with -e local"), "{err}");
    let out = support::loadpacer(&["validate", script.to_str().unwrap(), "-e", "local"]);
    assert_eq!(out.status.code(), Some(2), "staging is still checked");
}

/// Issue 28 (its first item): an Artillery script written as JSON is read like its YAML
/// form (it answered "plans: no plan is defined").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_script_runs_like_its_yaml_form() {
    let t = support::demo_target(loadpacer::demo::DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("api.json");
    std::fs::write(
        &script,
        format!(
            "{{\n  \"config\": {{\n    \"target\": \"{}\",\n    \"phases\": [{{ \"duration\": 1, \"arrivalRate\": 5 }}]\n  }},\n  \"scenarios\": [{{ \"flow\": [{{ \"get\": {{ \"url\": \"/\" }} }}] }}]\n}}\n",
            t.url()
        ),
    )
    .unwrap();
    let out = support::loadpacer(&["run", script.to_str().unwrap(), "-q"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("result PASSED"), "{said}");
}

/// Issue 28: a flow of only `log` steps is an iteration that sends nothing (it was "expected
/// sequence start"), and `config.includeFiles`, `version` and unknown plugins are warnings.
#[test]
fn a_log_only_flow_and_cloud_settings_validate_with_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("api.yml");
    std::fs::write(
        &script,
        "config:\n  target: \"http://127.0.0.1:9\"\n  version: 2\n  phases:\n    - duration: 2\n      arrivalRate: 1\n  includeFiles:\n    - data.csv\n  plugins:\n    apdex: {}\n    my-custom: {}\nscenarios:\n  - flow:\n      - log: \"hello\"\n  - flow:\n      - get:\n          url: \"/\"\n",
    )
    .unwrap();
    let out = support::loadpacer(&["validate", script.to_str().unwrap()]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{said}");
    for warned in [
        "config.includeFiles",
        "config.version",
        "config.plugins.apdex",
        "config.plugins.my-custom",
    ] {
        assert!(said.contains(warned), "{warned}: {said}");
    }
    assert!(said.contains("2 scenario(s), 1 request(s)"), "{said}");
}

/// Issue 28: scenario and request names are label values, kept as the script writes them in
/// every output (they were refused unless they matched `[a-zA-Z_][a-zA-Z0-9_.-]*`), escaped
/// where each format needs it; a name no output can show on one line is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_form_names_are_kept_as_written_in_every_output() {
    let t = support::demo_target(loadpacer::demo::DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("signup.yml");
    std::fs::write(
        &script,
        format!(
            "config:\n  target: \"{}\"\n  phases:\n    - duration: 1\n      arrivalRate: 20\n  plugins:\n    expect: {{}}\nscenarios:\n  - name: \"User Registration Flow\"\n    flow:\n      - get:\n          url: \"/\"\n          name: 'Sign up \"new\" <user> | 1'\n          expect:\n            - statusCode: 200\n  - name: \"Test Scenario (4)\"\n    flow:\n      - get:\n          url: \"/\"\n",
            t.url()
        ),
    )
    .unwrap();
    let file = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let (out, html, junit, md) = (file("out"), file("r.html"), file("r.xml"), file("r.md"));
    let run = support::loadpacer(&[
        "run",
        script.to_str().unwrap(),
        "--out",
        &out,
        "--html",
        &html,
        "--junit",
        &junit,
        "--markdown",
        &md,
    ]);
    let console = String::from_utf8_lossy(&run.stdout).to_string();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{console}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let name = "Sign up \"new\" <user> | 1";
    let s: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    let scenarios: Vec<&str> = s["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(scenarios, ["User Registration Flow", "Test Scenario (4)"]);
    assert!(count(&s, name) >= 1, "{s}");
    assert!(console.contains("User Registration Flow/Sign"), "{console}");
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(
        html.contains("Sign up &quot;new&quot; &lt;user&gt; | 1"),
        "the HTML escapes it"
    );
    assert!(!html.contains("<user>"));
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(
        junit.contains("Sign up &quot;new&quot; &lt;user&gt; | 1"),
        "{junit}"
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains(r"Sign up "), "{md}");
    assert!(
        md.contains(r"\| 1"),
        "a pipe cannot break the Markdown table: {md}"
    );

    // Names no output can show on one line are refused where they are written.
    std::fs::write(
        &script,
        "config:\n  target: \"http://127.0.0.1:9\"\n  phases:\n    - duration: 1\n      arrivalRate: 1\nscenarios:\n  - name: \"two\\nlines\"\n    flow:\n      - get:\n          url: \"/\"\n",
    )
    .unwrap();
    let out = support::loadpacer(&["validate", script.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("has a control character"), "{said}");
    // `import` prints only a plan that validates: the same error, no plan.
    let out = support::loadpacer(&["import", script.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("signup.yml:7:") && said.contains("has a control character"),
        "{said}"
    );
    assert!(out.stdout.is_empty());
}

/// Issue 28: a template in `config.variables` is drawn, never sent as its text (it was
/// `/users/%7B%7B%20random_string(8)%20%7D%7D`); the same for a plan's own `variables`, where
/// a template may read another variable, and reading an unknown one is a located error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_in_variables_are_drawn_not_sent_literally() {
    let (url, seen) = support::recording_target().await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("users.yml");
    std::fs::write(
        &script,
        format!(
            "config:\n  target: \"{url}\"\n  phases:\n    - duration: 1\n      arrivalRate: 8\n  variables:\n    userId: \"{{{{ $randomString() }}}}\"\n    kind: [\"a-{{{{ $randomNumber(1, 9) }}}}\", \"b\"]\nscenarios:\n  - flow:\n      - get:\n          url: \"/users/{{{{ userId }}}}?kind={{{{ kind }}}}\"\n"
        ),
    )
    .unwrap();
    let out = support::loadpacer(&["run", script.to_str().unwrap(), "-q"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let paths = seen.lock().unwrap().clone();
    assert_eq!(paths.len(), 8, "{paths:?}");
    let ids: std::collections::BTreeSet<&str> = paths
        .iter()
        .map(|p| p.trim_start_matches("/users/").split('?').next().unwrap())
        .collect();
    let drawn_a = regex::Regex::new(r"\?kind=a-[1-9]$").unwrap();
    for p in &paths {
        assert!(
            !p.contains('{') && !p.contains("%7B"),
            "sent literally: {p}"
        );
        assert!(p.ends_with("?kind=b") || drawn_a.is_match(p), "{p}");
    }
    assert!(
        ids.iter()
            .all(|i| i.len() >= 6 && i.chars().all(|c| c.is_ascii_alphanumeric())),
        "{ids:?}"
    );
    assert!(ids.len() > 1, "drawn per iteration, not once: {ids:?}");

    // loadpacer's own plan variables: a template may read another variable, not an unknown one.
    let (_d, config) = support::write_config(&format!(
        "targets: {{ t: {{ base_url: \"{url}\" }} }}\nplans:\n  p:\n    target: t\n    variables:\n      region: eu\n      host: \"{{{{ region }}}}-{{{{ random_string(4) }}}}\"\n      broken: \"{{{{ nowhere }}}}\"\n    load: {{ phases: [{{ duration: 1s, rate: 1 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: \"/{{{{ host }}}}\" }} }}] }}]\n"
    ));
    let out = support::loadpacer(&["validate", config.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("plans.p.variables.broken: the template reads \"nowhere\", which is not another variable or a data column"),
        "{said}"
    );
    assert!(!said.contains("variables.host"), "{said}");
}

/// Issue 28: config numbers written as templates (`arrivalRate: "{{ $processEnvironment.X }}"`,
/// `duration: "{{ $env.D }}"`, `http.timeout: "{{ myVar }}"`) are resolved when the script is
/// read (they were "not a finite number"); one that cannot be is a located error saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templated_config_values_are_resolved_from_the_environment_and_variables() {
    let t = support::demo_target(loadpacer::demo::DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("env.yml");
    std::fs::write(
        &script,
        format!(
            "config:\n  target: \"{}\"\n  variables:\n    myTimeout: 5\n  http:\n    timeout: \"{{{{ myTimeout }}}}\"\n  phases:\n    - duration: \"{{{{ $env.LP_TEST_DURATION }}}}\"\n      arrivalRate: \"{{{{ $processEnvironment.LP_TEST_RATE }}}}\"\nscenarios:\n  - flow:\n      - get:\n          url: \"/\"\n",
            t.url()
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let run = |envs: Vec<(&'static str, &'static str)>| {
        let (script, out_dir) = (script.clone(), out_dir.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_loadpacer"))
                .args(["run", script.to_str().unwrap(), "-q", "--out"])
                .arg(&out_dir)
                .envs(envs)
                .output()
                .unwrap()
        })
    };
    let out = run(vec![("LP_TEST_DURATION", "2s"), ("LP_TEST_RATE", "6")])
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["totals"]["requests"], 12, "6/s for 2 s");
    let out = run(vec![("LP_TEST_DURATION", "2s")]).await.unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("config.phases[0].arrivalRate: {{ $processEnvironment.LP_TEST_RATE }}: the environment variable LP_TEST_RATE is not set"),
        "{said}"
    );
}

/// Issue 28: the expect plugin's matchers beyond statusCode/contentType/hasProperty become
/// loadpacer checks with the same meaning, judged on every response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expect_plugins_matchers_are_checks_with_artillerys_meaning() {
    let t = support::demo_target(loadpacer::demo::DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("expect.yml");
    std::fs::write(
        &script,
        format!(
            "config:\n  target: \"{}\"\n  phases:\n    - duration: 1\n      arrivalRate: 4\n  plugins:\n    expect: {{}}\nscenarios:\n  - flow:\n      - get:\n          url: \"/products?page=2\"\n          name: good\n          expect:\n            - statusCode: 200\n            - notStatusCode: [404, 500]\n            - hasHeader: content-type\n            - headerEquals: [content-type, application/json]\n            - hasProperty: items\n            - notHasProperty: error\n            - matchesRegexp: '\"page\":2'\n      - get:\n          url: \"/products\"\n          name: bad\n          expect:\n            - notHasProperty: page\n            - hasHeader: x-nope\n            - notStatusCode: 200\n",
            t.url()
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let run = support::loadpacer(&[
        "run",
        script.to_str().unwrap(),
        "-q",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&run.stderr)));
    let checks = |name: &str| -> Vec<(String, u64, u64)> {
        s["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["passed"].as_u64().unwrap(),
                    c["failed"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // One check per matcher, named after what it expects.
    let good = checks("good");
    assert_eq!(good.len(), 7, "{good:?}");
    assert!(good.iter().all(|c| (c.1, c.2) == (4, 0)), "{good:?}");
    let bad = checks("bad");
    let names: Vec<&str> = bad.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "status not in [200]",
            "header x-nope exists",
            "$.page absent"
        ],
        "{bad:?}"
    );
    assert!(bad.iter().all(|c| (c.1, c.2) == (0, 4)), "{bad:?}");
    assert_eq!(run.status.code(), Some(1), "the failed checks fail the run");
}

/// Issue 28: `formData` is a `multipart/form-data` body (it was refused as "not a request
/// field"): text fields, templates and `{ fromFile }` uploads, as the demo shop's /upload
/// counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_data_is_a_multipart_body_with_fields_and_files() {
    let t = support::demo_target(loadpacer::demo::DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cat.txt"), "meow").unwrap();
    let script = dir.path().join("upload.yml");
    let write = |form: &str, files: u32| {
        std::fs::write(
            &script,
            format!(
                "config:\n  target: \"{}\"\n  phases:\n    - duration: 1\n      arrivalRate: 2\n  plugins:\n    expect: {{}}\nscenarios:\n  - flow:\n      - post:\n          url: \"/upload\"\n          formData:\n{form}          capture:\n            - json: \"$.multipart\"\n              as: multipart\n            - json: \"$.files\"\n              as: files\n      - get:\n          url: \"/\"\n          expect:\n            - equals: [\"{{{{ multipart }}}}-{{{{ files }}}}\", \"true-{files}\"]\n",
                t.url()
            ),
        )
        .unwrap()
    };
    // Two text fields (one a template) and no file: still multipart.
    write(
        "            name: \"user-{{ $randomNumber(1, 9) }}\"\n            note: hello\n",
        0,
    );
    let out_dir = dir.path().join("out");
    let run = || {
        support::loadpacer(&[
            "run",
            script.to_str().unwrap(),
            "-q",
            "--out",
            out_dir.to_str().unwrap(),
        ])
    };
    let out = run();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A field and a file.
    write(
        "            note: hello\n            avatar:\n              fromFile: cat.txt\n",
        1,
    );
    let out = run();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let import = support::loadpacer(&["import", script.to_str().unwrap()]);
    let yaml = String::from_utf8_lossy(&import.stdout);
    assert!(
        yaml.contains("multipart: { \"note\": \"hello\" }, files: { \"avatar\": \"cat.txt\" }"),
        "{yaml}"
    );
}

/// Issue 28: scripts meant to be combined run as Artillery runs them: without `phases` one
/// virtual user runs once; `--variables`, `--config FILE`, `--overrides` and `--dotenv` add
/// to and over the script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artillery_flags_combine_scripts_and_a_script_without_phases_runs_once() {
    let (url, seen) = support::recording_target().await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("base.yml");
    std::fs::write(
        &script,
        format!("config:\n  target: \"{url}\"\nscenarios:\n  - flow:\n      - get:\n          url: \"/users/{{{{ user }}}}/{{{{ region }}}}\"\n"),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", script.to_str().unwrap(), "-q"];
        args.extend_from_slice(extra);
        let out = support::loadpacer(&args);
        let said = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(0), "{said}");
        said
    };
    let said = run(&["--variables", r#"{"user": "ann", "region": "us"}"#]);
    assert!(said.contains("config.phases"), "warned: {said}");
    assert_eq!(
        *seen.lock().unwrap(),
        ["/users/ann/us"],
        "one virtual user, once"
    );

    // A config file (phases from a .env value, a variable) under --overrides.
    let settings = dir.path().join("settings.yml");
    std::fs::write(
        &settings,
        "config:\n  phases:\n    - duration: 1\n      arrivalRate: \"{{ $processEnvironment.LP_TEST_ARRIVALS }}\"\n  variables:\n    region: eu\n",
    )
    .unwrap();
    let dotenv = dir.path().join(".env");
    std::fs::write(&dotenv, "# test settings\nLP_TEST_ARRIVALS=3\n").unwrap();
    seen.lock().unwrap().clear();
    run(&[
        "--config",
        settings.to_str().unwrap(),
        "--dotenv",
        dotenv.to_str().unwrap(),
        "--overrides",
        r#"{"config": {"variables": {"user": "bob"}}}"#,
    ]);
    assert_eq!(*seen.lock().unwrap(), ["/users/bob/eu"; 3]);

    let out = support::loadpacer(&["validate", script.to_str().unwrap(), "--variables", "[1]"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--variables must be a JSON object"));
}

/// Issue 28: an Artillery script's errors come all at once, as a loadpacer file's do (it
/// stopped at the first unknown field).
#[test]
fn every_error_of_a_script_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("typos.yml");
    std::fs::write(
        &script,
        "config:\n  target: \"http://127.0.0.1:9\"\n  defualts:\n    headers: {}\n  phases:\n    - duration: 1\n      arrivalRate: 1\n      rampTp: 5\nscenarios:\n  - flow:\n      - get:\n          urll: \"/\"\n",
    )
    .unwrap();
    let out = support::loadpacer(&["validate", script.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{said}");
    for expected in [
        "typos.yml:3:3: unknown field `defualts`; did you mean `defaults`?",
        "typos.yml:8:7: unknown field `rampTp`; did you mean `rampTo`?",
        "typos.yml:12:11: scenarios[0].flow[0].get",
    ] {
        assert!(said.contains(expected), "{expected}\n{said}");
    }
}

/// Issue 28: `payload` as a list of files (each gives its fields, a row per virtual user)
/// and a payload under an environment (it wins, as the environment's phases do).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_lists_and_environment_payloads_feed_their_fields() {
    let (url, seen) = support::recording_target().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.csv"), "ann\nbob\n").unwrap();
    std::fs::write(dir.path().join("regions.csv"), "x\ny\nz\n").unwrap();
    std::fs::write(dir.path().join("eu.csv"), "eva,eu\n").unwrap();
    let script = dir.path().join("payloads.yml");
    std::fs::write(
        &script,
        format!("config:\n  target: \"{url}\"\n  phases:\n    - duration: 1\n      arrivalRate: 6\n  payload:\n    - path: users.csv\n      fields: [user]\n    - path: regions.csv\n      fields: [region]\n      order: sequence\n  environments:\n    eu:\n      payload:\n        path: eu.csv\n        fields: [user, region]\nscenarios:\n  - flow:\n      - get:\n          url: \"/u/{{{{ user }}}}/{{{{ region }}}}\"\n"),
    )
    .unwrap();
    let out = support::loadpacer(&["run", script.to_str().unwrap(), "-q"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let paths = seen.lock().unwrap().clone();
    assert_eq!(paths.len(), 6, "{paths:?}");
    let both = regex::Regex::new(r"^/u/(ann|bob)/[xyz]$").unwrap();
    assert!(paths.iter().all(|p| both.is_match(p)), "{paths:?}");
    let regions: std::collections::BTreeSet<&str> =
        paths.iter().map(|p| &p[p.len() - 1..]).collect();
    assert_eq!(
        regions.len(),
        3,
        "a sequence hands out every row: {paths:?}"
    );
    seen.lock().unwrap().clear();
    let out = support::loadpacer(&["run", script.to_str().unwrap(), "-q", "-e", "eu"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(*seen.lock().unwrap(), ["/u/eva/eu"; 6]);
}

/// Issue 28: an `engine: ws` scenario (Artillery's WebSocket engine) is a loadpacer `ws`
/// session against the demo's echo: its sends, a send that waits for the reply it matches
/// and captures from, think time, a counted loop, all measured as round trips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_engine_scenario_is_a_ws_session() {
    let t = support::demo_target(loadpacer::demo::DemoOptions::default()).await;
    let ws = t.url().replacen("http://", "ws://", 1);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("chat.yml");
    std::fs::write(
        &script,
        format!("config:\n  target: \"{ws}/ws/echo\"\n  phases:\n    - duration: 1\n      arrivalRate: 3\nscenarios:\n  - name: \"Chat session\"\n    engine: ws\n    flow:\n      - send: \"hello\"\n      - send:\n          payload: {{ op: join, room: lobby }}\n          match:\n            json: \"$.op\"\n            value: join\n          capture:\n            json: \"$.room\"\n            as: room\n      - think: 0.1\n      - loop:\n          - send: \"in {{{{ room }}}}\"\n        count: 3\n"),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let run = support::loadpacer(&[
        "run",
        script.to_str().unwrap(),
        "-q",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    let stream = &s["streams"][0];
    assert_eq!(stream["name"], "Chat session", "{s}");
    assert_eq!(stream["protocol"], "ws");
    assert_eq!(stream["sessions"], 3, "{stream}");
    assert_eq!(stream["messages_sent"], 15, "5 sends per session: {stream}");
    assert!(
        stream["rtt"]["p50_ms"].as_f64().is_some(),
        "the awaited reply is a round trip: {stream}"
    );
    let import = support::loadpacer(&["import", script.to_str().unwrap()]);
    let yaml = String::from_utf8_lossy(&import.stdout);
    assert!(yaml.contains("path: \"/ws/echo\""), "{yaml}");
    assert!(yaml.contains("- expect: { timeout: 10s, json: { \"$.op\": \"join\" }, capture: { \"room\": \"$.room\" } }"), "{yaml}");
}

/// Issue 28: a request's `match` (`{ json, value }`) is a check on the response, with or
/// without the expect plugin: a fixed value as a JSON check, a template captured and compared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_match_is_a_check_of_the_json_value() {
    let t = support::demo_target(loadpacer::demo::DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("match.yml");
    std::fs::write(
        &script,
        format!("config:\n  target: \"{}\"\n  phases:\n    - duration: 1\n      arrivalRate: 2\n  variables:\n    page: \"2\"\nscenarios:\n  - flow:\n      - get:\n          url: \"/products?page=2\"\n          name: right\n          match:\n            - json: \"$.page\"\n              value: 2\n            - json: \"$.page\"\n              value: \"{{{{ page }}}}\"\n      - get:\n          url: \"/products?page=2\"\n          name: wrong\n          match:\n            json: \"$.page\"\n            value: 3\n", t.url()),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let run = support::loadpacer(&[
        "run",
        script.to_str().unwrap(),
        "-q",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let s: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("summary.json"))
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&run.stderr))),
    )
    .unwrap();
    let checks = |name: &str| -> Vec<(u64, u64)> {
        s["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["passed"].as_u64().unwrap(), c["failed"].as_u64().unwrap()))
            .collect()
    };
    assert_eq!(checks("right"), [(2, 0), (2, 0)], "{s}");
    assert_eq!(checks("wrong"), [(0, 2)], "{s}");
    assert_eq!(run.status.code(), Some(1), "a failed match fails the run");
}

/// Issue 28: `parallel` sends its requests at once, each on its own connection, and the flow
/// goes on with every one's captures: against a target that takes 600 ms per answer, three
/// requests in parallel take one answer's time, not three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_requests_are_sent_at_once_and_keep_their_captures() {
    let t = support::demo_target(loadpacer::demo::DemoOptions {
        latency: std::time::Duration::from_millis(600),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("parallel.yml");
    std::fs::write(
        &script,
        format!("config:\n  target: \"{}\"\n  phases:\n    - duration: 1\n      arrivalCount: 1\n  plugins:\n    expect: {{}}\nscenarios:\n  - flow:\n      - parallel:\n          - post:\n              url: \"/auth/login\"\n              json: {{ user: ann }}\n              capture:\n                json: \"$.token\"\n                as: token\n          - get:\n              url: \"/products?page=3\"\n              capture:\n                json: \"$.page\"\n                as: page\n          - get:\n              url: \"/health\"\n      - post:\n          url: \"/orders\"\n          headers:\n            Authorization: \"Bearer {{{{ token }}}}\"\n          json: {{ page: \"{{{{ page }}}}\" }}\n          expect:\n            - statusCode: 201\n", t.url()),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let run = support::loadpacer(&[
        "run",
        script.to_str().unwrap(),
        "-q",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&run.stderr).to_string();
    assert_eq!(run.status.code(), Some(0), "{said}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["totals"]["requests"], 4, "{s}");
    assert_eq!(
        s["totals"]["checks_failed"], 0,
        "the order had both captures: {s}"
    );
    // The run lasts its one iteration: three answers at once (600 ms) then the order
    // (600 ms), about 1.2 s; sent in turn they would take 2.4 s.
    let took = s["duration_s"].as_f64().unwrap();
    assert!(took < 2.0, "parallel requests were sent in turn: {took} s");
}
