//! Reports people read: summary.json against its JSON Schema, JUnit XML parsed by an XML
//! parser, the HTML report and the daemon's run pages loaded in headless Chromium, and no
//! HTML injection from config-supplied strings.

use crate::support;

use loadpacer::demo::DemoOptions;
use std::process::Command;

const EVIL: &str = "<script>alert(1)</script>";

fn plan_yaml(url: &str) -> String {
    format!(
        "targets:\n  t: {{ base_url: \"{url}\" }}\nplans:\n  shop:\n    description: \"{EVIL} check\"\n    target: t\n    load: {{ phases: [{{ name: warm-up, duration: 1s, rate: 10 }}, {{ name: peak, duration: 1s, rate: 20 }}] }}\n    scenarios:\n      - name: s\n        steps:\n          - request: {{ name: home, url: / }}\n            check: {{ status: 200, body_contains: \"{EVIL}\" }}\n    thresholds:\n      - {{ metric: latency, expr: \"p(95) < 5s\" }}\n      - {{ metric: errors, expr: \"rate < 0.01\" }}\n"
    )
}

/// Reads every `<testcase>` as (name, failure message).
fn junit_cases(xml: &str) -> Vec<(String, Option<String>)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut cases = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                let name = e
                    .try_get_attribute("name")
                    .unwrap()
                    .unwrap()
                    .unescape_value()
                    .unwrap()
                    .into_owned();
                cases.push((name, None));
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"failure" => {
                let msg = e
                    .try_get_attribute("message")
                    .unwrap()
                    .unwrap()
                    .unescape_value()
                    .unwrap()
                    .into_owned();
                cases.last_mut().unwrap().1 = Some(msg);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_writes_a_valid_summary_junit_and_an_html_report_without_injection() {
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(&plan, plan_yaml(&t.url())).unwrap();
    let (html, junit, out) = (
        dir.path().join("report.html"),
        dir.path().join("junit.xml"),
        dir.path().join("out"),
    );
    let args: Vec<String> = [
        "run",
        plan.to_str().unwrap(),
        "-q",
        "--out",
        out.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--markdown",
        dir.path().join("summary.md").to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let status = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loadpacer"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        status.status.code(),
        Some(1),
        "the body check fails every response: {}",
        String::from_utf8_lossy(&status.stderr)
    );

    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/summary.v1.json");
    let summary_path = out.join("summary.json");
    let v = Command::new("check-jsonschema")
        .args([
            "--schemafile",
            schema.to_str().unwrap(),
            summary_path.to_str().unwrap(),
        ])
        .output()
        .expect("check-jsonschema is installed by scripts/test.sh");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();

    let cases = junit_cases(&std::fs::read_to_string(&junit).unwrap());
    let failed: Vec<_> = cases.iter().filter(|c| c.1.is_some()).collect();
    assert!(
        cases
            .iter()
            .any(|c| c.0 == "latency: p(95) < 5s" && c.1.is_none()),
        "{cases:?}"
    );
    let body_check = failed
        .iter()
        .find(|c| c.0.starts_with("body contains"))
        .expect("failed body check");
    assert_eq!(
        body_check.1.as_deref(),
        Some("expected every response to pass; 30 of 30 failed")
    );
    assert!(
        failed
            .iter()
            .all(|c| c.1.as_ref().unwrap().starts_with("expected")),
        "{failed:?}"
    );

    let raw = std::fs::read_to_string(&html).unwrap();
    assert!(!raw.contains("<script"), "no script in the report");
    assert!(
        !raw.contains("src=\"http") && !raw.contains("href=\"http"),
        "no network fetches"
    );
    let dom = support::chromium(&["--dump-dom", &format!("file://{}", html.display())]);
    assert!(
        dom.contains(&format!("<b>{}</b>", summary["totals"]["requests"])),
        "request count shown"
    );
    assert!(dom.contains("id=\"verdict\">failed<"), "verdict at the top");
    assert!(
        dom.contains("warm-up") && dom.contains("peak"),
        "phases marked on the charts"
    );
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "config strings shown as text"
    );
    assert!(!dom.contains(EVIL), "no HTML injection");
    let shot = dir.path().join("report.png");
    support::chromium(&[
        "--window-size=1280,900",
        &format!("--screenshot={}", shot.display()),
        &format!("file://{}", html.display()),
    ]);
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a screenshot for a person to look at"
    );
    let phone = dir.path().join("phone.png");
    support::chromium(&[
        "--window-size=390,844",
        &format!("--screenshot={}", phone.display()),
        &format!("file://{}", html.display()),
    ]);
    assert!(phone.exists());

    // `loadpacer report` renders the same report from the saved summary.
    let again = dir.path().join("again.html");
    let out = Command::new(env!("CARGO_BIN_EXE_loadpacer"))
        .args([
            "report",
            summary_path.to_str().unwrap(),
            "--html",
            again.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&again).unwrap(), raw);
    let cmp = Command::new(env!("CARGO_BIN_EXE_loadpacer"))
        .args([
            "compare",
            summary_path.to_str().unwrap(),
            summary_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&cmp.stdout).contains("latency p95 (ms)"));

    // The Markdown summary: verdict first, then tables whose rows all have the header's
    // columns; `report --markdown` writes the same from the saved summary.
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.starts_with("### loadpacer: `shop` FAILED\n"), "{md}");
    assert!(md.contains("- checks: 30 of 60 failed"), "{md}");
    assert!(
        md.contains("- check `home: body contains \"<script>alert(1)</script>\"` failed 30 of 30"),
        "inside a code span the text shows as written, never as markup: {md}"
    );
    assert!(md.contains("| s/home | 30 | "), "{md}");
    assert!(md.contains("| `latency p(95) < 5s` | "), "{md}");
    assert_eq!(
        md.matches("<script").count(),
        1,
        "only inside the code span: {md}"
    );
    let mut columns = None;
    for line in md.lines() {
        if line.starts_with('|') {
            let n = line.replace("\\|", "").matches('|').count();
            match columns {
                None => columns = Some(n),
                Some(c) => assert_eq!(n, c, "{line}\n{md}"),
            }
        } else {
            columns = None;
        }
    }
    let again = dir.path().join("again.md");
    let out = Command::new(env!("CARGO_BIN_EXE_loadpacer"))
        .args([
            "report",
            summary_path.to_str().unwrap(),
            "--markdown",
            again.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&again).unwrap(), md);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_serves_run_pages_json_and_junit() {
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("d.yaml");
    std::fs::write(
        &cfg,
        format!("store: {{ path: runs.db }}\n{}", plan_yaml(&t.url())),
    )
    .unwrap();
    let d = support::serve(&cfg, &[]);
    let base = d.base.clone();
    let client = reqwest::Client::new();
    let id = support::trigger(&base, "shop", None).await;
    let stored = support::wait_stored(&base, &id).await;
    assert!(
        stored["summary"]["schema_version"] == 1,
        "run stored: {stored}"
    );
    let b = base.clone();
    let run_id = id.clone();
    let (list, report, plans) = tokio::task::spawn_blocking(move || {
        (
            support::chromium(&["--dump-dom", &format!("{b}/")]),
            support::chromium(&["--dump-dom", &format!("{b}/runs/{id}")]),
            support::chromium(&["--dump-dom", &format!("{b}/plans")]),
        )
    })
    .await
    .unwrap();
    assert!(
        list.contains("id=\"runs\"") && list.contains(">failed<") && list.contains("report</a>"),
        "{list}"
    );
    assert!(
        report.contains("id=\"verdict\">failed<") && report.contains("&lt;script&gt;"),
        "{report}"
    );
    assert!(!report.contains(EVIL) && !plans.contains(EVIL));
    assert!(plans.contains("on demand"), "{plans}");
    let xml = client
        .get(format!("{base}/runs/{run_id}.junit.xml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cases = junit_cases(&xml);
    assert!(
        cases
            .iter()
            .any(|c| c.0.starts_with("body contains") && c.1.is_some()),
        "{cases:?}"
    );
    // Issue 24, item 15: every form docs/api.md names answers.
    for (form, says) in [(".html", "id=\"verdict\""), (".xml", "<testsuite")] {
        let r = client
            .get(format!("{base}/runs/{run_id}{form}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{form}");
        assert!(r.text().await.unwrap().contains(says), "{form}");
    }
    let r = client
        .get(format!("{base}/runs/..%2F..%2Fetc%2Fpasswd"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    drop(d);
}
