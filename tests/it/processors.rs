//! Processors (issue 28): an Artillery script's JavaScript functions, and a native plan's
//! `processor`, run against the demo target; what cannot load or names a missing function is
//! a located error.

use crate::support;
use loadpacer::demo::DemoOptions;

use crate::artillery::{count, fixture, loadpacer, run_file as run};

/// Every order is signed by `beforeRequest` with the token an `afterResponse` read from the
/// login's body (the demo answers 401 without it), and the function steps see the variables
/// the hooks and captures set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artillery_processor_signs_reads_and_checks_with_artillerys_meaning() {
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, s) = run(
        &fixture("processor.yml"),
        dir.path(),
        &["--target", &t.url()],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}\n{s:#}");
    assert_eq!(count(&s, "post_auth_login"), 10, "{s:#}");
    assert_eq!(count(&s, "post_orders"), 10, "{s:#}");
    assert_eq!(s["totals"]["errors"], 0, "{s:#}");
    assert_eq!(
        s["totals"]["failed_iterations"].as_u64().unwrap_or(0),
        0,
        "{s:#}"
    );
    let statuses = s["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "post_orders")
        .map(|r| r["statuses"].clone())
        .unwrap();
    assert_eq!(statuses["201"], 10, "every order was signed: {statuses}");
    let imported = loadpacer(&["import", &fixture("processor.yml")]).await;
    let plan = String::from_utf8_lossy(&imported.stdout);
    for line in [
        "processor: \"./processor.js\"",
        "- function: \"makeUser\"",
        "after_response: [\"countResponse\", \"saveToken\"]",
        "before_request: [\"sign\", \"addNote\"]",
        "- function: \"checkOrder\"",
    ] {
        assert!(plan.contains(line), "{line}\n---\n{plan}");
    }
}

/// A function that fails ends its iteration, counted as failed; when every iteration
/// fails, the run fails and says why; the error is logged once with its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_function_fails_its_iterations_and_is_logged_once() {
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("proc.js"),
        "module.exports = {\n  ok(context, events, next) { context.vars.n = 1; next(); },\n  boom(context, events, next) { throw new Error('the fixture always fails'); },\n};\n",
    )
    .unwrap();
    let config = dir.path().join("plan.yaml");
    std::fs::write(
        &config,
        format!(
            "targets:\n  demo: {{ base_url: \"{}\" }}\nplans:\n  p:\n    target: demo\n    processor: proc.js\n    load: {{ vus: [{{ duration: 1s, target: 2 }}], iterations: 6 }}\n    scenarios:\n      - name: s\n        steps:\n          - function: ok\n          - request: {{ name: home, url: \"/?n={{{{ n }}}}\" }}\n          - function: boom\n",
            t.url()
        ),
    )
    .unwrap();
    let (code, stderr, s) = run(config.to_str().unwrap(), dir.path(), &[]).await;
    assert_eq!(code, Some(1), "{stderr}\n{s:#}");
    assert_eq!(
        count(&s, "home"),
        6,
        "the requests before the failing step ran: {s:#}"
    );
    assert_eq!(s["totals"]["failed_iterations"], 6, "{s:#}");
    assert!(
        s["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("every iteration")),
        "{s:#}"
    );
    let logged = stderr.matches("the fixture always fails").count();
    assert_eq!(logged, 1, "logged once, with its place: {stderr}");
    assert!(stderr.contains("proc.js:3:"), "{stderr}");
}

/// A processor that does not load, a function it does not export, a function without a
/// processor and a package it cannot require are located errors at `validate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processor_errors_are_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("proc.js"),
        "module.exports = { sign(req, context, ee, next) { next(); } };\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("faker.js"),
        "const { faker } = require('@faker-js/faker');\nmodule.exports = {};\n",
    )
    .unwrap();
    let config = dir.path().join("plan.yaml");
    std::fs::write(
        &config,
        "targets:\n  demo: { base_url: \"http://127.0.0.1:9\" }\nplans:\n  a:\n    target: demo\n    processor: proc.js\n    load: { vus: [{ duration: 1s, target: 1 }] }\n    scenarios:\n      - name: s\n        steps:\n          - function: nope\n          - request: { name: r, url: /, before_request: [sign, unsigned] }\n  b:\n    target: demo\n    load: { vus: [{ duration: 1s, target: 1 }] }\n    scenarios:\n      - name: s\n        steps:\n          - function: sign\n  c:\n    target: demo\n    processor: faker.js\n    load: { vus: [{ duration: 1s, target: 1 }] }\n    scenarios:\n      - name: s\n        steps:\n          - request: { name: r, url: / }\n",
    )
    .unwrap();
    let out = loadpacer(&["validate", config.to_str().unwrap()]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for (line, what) in [
        ("11:", "\"nope\" is not a function that"),
        ("12:", "\"unsigned\" is not a function that"),
        ("19:", "the plan has no `processor:`"),
        ("22:", "@faker-js/faker"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("plan.yaml:{line}")) && l.contains(what)),
            "{line} {what}\n---\n{err}"
        );
    }
    // In an Artillery script, a processor that is not there is refused at its line.
    let script = dir.path().join("script.yml");
    let text = std::fs::read_to_string(fixture("processor.yml"))
        .unwrap()
        .replace("./processor.js", "./missing.js");
    std::fs::write(&script, text).unwrap();
    let out = loadpacer(&["validate", script.to_str().unwrap()]).await;
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("script.yml:6:14: ") && said.contains("missing.js"),
        "{said}"
    );
    assert!(
        err.contains("faker.js:1:19:"),
        "the require's own place: {err}"
    );
}

/// Artillery's strict captures: one that finds nothing ends the scenario there (counted as a
/// failed iteration, logged once); `strict: false` lets the flow go on, and so does
/// `defaults.strictCapture: false` for captures that do not say `strict: true`; `transform`
/// is ignored with a warning, as Artillery 2 ignores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_captures_end_the_flow_and_lenient_ones_do_not() {
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, s) = run(
        &fixture("captures.yml"),
        dir.path(),
        &["--target", &t.url()],
    )
    .await;
    assert_eq!(code, Some(1), "every iteration failed: {stderr}\n{s:#}");
    for (name, n) in [
        ("lenient", 4),
        ("after lenient", 4),
        ("strict", 4),
        ("never sent", 0),
    ] {
        assert_eq!(count(&s, name), n, "{name}: {s:#}");
    }
    assert_eq!(s["totals"]["failed_iterations"], 4, "{s:#}");
    assert_eq!(
        s["totals"]["errors"], 0,
        "a missed capture is not a request error: {s:#}"
    );
    assert_eq!(
        stderr
            .matches("the required capture \"required\" found nothing")
            .count(),
        1,
        "{stderr}"
    );
    let imported = loadpacer(&["import", &fixture("captures.yml")]).await;
    let plan = String::from_utf8_lossy(&imported.stdout);
    assert!(plan.contains("require: [\"first\"]"), "{plan}");
    assert!(plan.contains("require: [\"required\"]"), "{plan}");
    assert!(!plan.contains("\"optional\"]"), "{plan}");
    let script = dir.path().join("transform.yml");
    let text = std::fs::read_to_string(fixture("captures.yml"))
        .unwrap()
        .replace(
            "strict: false",
            "transform: \"this.optional.toUpperCase()\"",
        );
    std::fs::write(&script, text).unwrap();
    let out = loadpacer(&["validate", script.to_str().unwrap()]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("`transform` is ignored, as Artillery 2 ignores it"),
        "{err}"
    );
    // `defaults.strictCapture: false`: only a capture that says `strict: true` is strict.
    let lenient = dir.path().join("lenient.yml");
    let text = std::fs::read_to_string(fixture("captures.yml"))
        .unwrap()
        .replace(
            "  phases:",
            "  defaults:\n    strictCapture: false\n  phases:",
        )
        .replace("as: first", "as: first\n              strict: true");
    std::fs::write(&lenient, text).unwrap();
    let imported = loadpacer(&["import", lenient.to_str().unwrap()]).await;
    let plan = String::from_utf8_lossy(&imported.stdout);
    assert!(plan.contains("require: [\"first\"]"), "{plan}");
    assert!(!plan.contains("require: [\"required\"]"), "{plan}");
}

/// A native plan's `require`: only a capture of the step may be named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_names_a_capture_of_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plan.yaml");
    std::fs::write(
        &config,
        "targets:\n  demo: { base_url: \"http://127.0.0.1:9\" }\nplans:\n  a:\n    target: demo\n    load: { vus: [{ duration: 1s, target: 1 }] }\n    scenarios:\n      - name: s\n        steps:\n          - request: { name: r, url: / }\n            capture: { token: $.token }\n            require: [token, tokn]\n",
    )
    .unwrap();
    let out = loadpacer(&["validate", config.to_str().unwrap()]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("plan.yaml:12:") && err.contains("\"tokn\" is not captured by this step"),
        "{err}"
    );
    assert!(!err.contains("\"token\" is not"), "{err}");
}

/// A payload's `loadAll` with `name`: every row in one variable, looped over, each row's
/// fields read as `{{ $loopElement.user }}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_all_puts_every_row_in_one_variable() {
    let (url, seen) = support::recording_target().await;
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, s) = run(&fixture("loadall.yml"), dir.path(), &["--target", &url]).await;
    assert_eq!(code, Some(0), "{stderr}\n{s:#}");
    assert_eq!(count(&s, "login"), 6, "2 arrivals x 3 rows: {s:#}");
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            "/auth/login?who=ann",
            "/auth/login?who=ann",
            "/auth/login?who=bob",
            "/auth/login?who=bob",
            "/auth/login?who=cyd",
            "/auth/login?who=cyd"
        ]
    );
    let imported = loadpacer(&["import", &fixture("loadall.yml")]).await;
    let plan = String::from_utf8_lossy(&imported.stdout);
    assert!(plan.contains("all_as: \"accounts\""), "{plan}");
}
