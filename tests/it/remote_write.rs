//! `run --remote-write`: a CI run's series land in a real Prometheus (remote-write receiver
//! on), with the daemon's family names and a `source="ci"` label; a receiver that is down or
//! refuses is reported and never changes the verdict.

use crate::support;

use loadpacer::demo::DemoOptions;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PLAN: &str = r#"targets:
  demo: { base_url: "URL" }
plans:
  ci-check:
    target: demo
    load: { phases: [{ duration: 2s, rate: 40 }] }
    scenarios:
      - name: browse
        steps:
          - request: { name: home, url: / }
          - request: { name: page, url: "/products?page=2" }
"#;

async fn run(plan: &std::path::Path, extra: &[String]) -> Output {
    let mut args = vec!["run".to_string(), plan.display().to_string(), "-q".into()];
    args.extend(extra.iter().cloned());
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loadpacer"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ci_run_lands_in_prometheus_by_remote_write() {
    let t = support::demo_target(DemoOptions::default()).await;
    let (dir, plan) = support::write_config(&PLAN.replace("URL", &t.url()));
    let (_prom, addr) = support::prometheus(dir.path(), &[]);
    let url = format!("http://{addr}/api/v1/write");
    let out = run(
        &plan,
        &[
            "--remote-write".into(),
            url.clone(),
            "--remote-write-label".into(),
            "branch=main".into(),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("remote write to {url}: ")) && !stderr.contains("last error"),
        "{stderr}"
    );

    // 2 s at 40/s, two requests each: exactly 160 requests, as the CI run counted them.
    let query = r#"sum(loadpacer_http_requests_total{plan="ci-check",source="ci",job="loadpacer",branch="main"})"#;
    let deadline = Instant::now() + Duration::from_secs(20);
    let value = loop {
        let r = support::prometheus_api(&addr, "query", query).await;
        if let Some(v) = r["data"]["result"][0]["value"][1].as_str() {
            break v.to_string();
        }
        assert!(Instant::now() < deadline, "no remote-written series: {r}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(value, "160");
    // The histogram aggregates as the scraped one does.
    let p95 = support::prometheus_api(
        &addr,
        "query",
        r#"histogram_quantile(0.95, sum by (le) (loadpacer_http_request_duration_seconds_bucket{plan="ci-check",source="ci"}))"#,
    )
    .await;
    let p95: f64 = p95["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(p95 > 0.0 && p95 < 1.0, "{p95}");

    // A receiver that is down: retried, reported, the verdict unchanged (exit 0).
    let down = format!("http://{}/api/v1/write", support::closed_port());
    let started = Instant::now();
    let out = run(&plan, &["--remote-write".into(), down.clone()]).await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("remote write to {down}: 0 of "))
            && stderr.contains("last error: cannot send"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "bounded: {:?}",
        started.elapsed()
    );
    // A receiver that refuses (4xx) is not retried.
    let wrong = format!("http://{addr}/api/v1/nothing-here");
    let out = run(&plan, &["--remote-write".into(), wrong]).await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr.contains("last error: 404"), "{stderr}");
}

/// H8 and the flush budget: credentials in the receiver's URL are never printed, a receiver
/// that accepts and never answers holds the exit at most the 15-s budget past the run, and a
/// URL that is not http(s) is a usage error before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_with_credentials_is_cut_at_the_budget_and_never_shown() {
    let t = support::demo_target(DemoOptions::default()).await;
    let (_dir, plan) = support::write_config(&PLAN.replace("URL", &t.url()));
    let hang = support::fault_server(support::Fault::Hang).await;
    let started = Instant::now();
    let out = run(
        &plan,
        &[
            "--remote-write".into(),
            // The credentials, then the loopback receiver (user and password before 127.0.0.1:PORT).
            format!("http://{}@{hang}/api/v1/write", "writer:s3cr3t-pw"),
        ],
    )
    .await;
    let took = started.elapsed();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "the verdict is the run's: {said}"
    );
    assert!(!said.contains("s3cr3t-pw"), "{said}");
    assert!(said.contains("remote write to http://***@"), "{said}");
    // 2 s of load, then at most 15 s of flushing (and a process start).
    assert!(took < Duration::from_secs(2 + 15 + 3), "exit took {took:?}");
    for bad in ["file:///tmp/metrics", "gopher://127.0.0.1/x", "not a url"] {
        let out = run(&plan, &["--remote-write".into(), bad.into()]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("--remote-write"), "{err}");
    }
}
