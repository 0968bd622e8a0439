//! The binary as a user runs it: exit codes, summary.json, `hit --json`, Ctrl-C, redaction.

use crate::support;

use loadpacer::demo::DemoOptions;
use std::process::Command;
use std::time::Duration;

fn plan_file(
    url: &str,
    load: &str,
    url_path: &str,
    thresholds: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    support::write_config(&format!(
        "targets:\n  t: {{ base_url: \"{url}\", headers: {{ X-Api-Key: \"{{{{ env.LOADPACER_TEST_KEY }}}}\" }} }}\nplans:\n  p:\n    target: t\n    load: {load}\n    scenarios:\n      - name: s\n        steps:\n          - request: {{ name: r, url: \"{url_path}\" }}\n    thresholds: {thresholds}\n"
    ))
}

async fn run_cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loadpacer"))
            .args(&args)
            .env("LOADPACER_TEST_KEY", "k-very-secret-42")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_follow_the_verdict_and_summary_is_written() {
    let t = support::demo_target(DemoOptions::default()).await;
    let (dir, pass) = plan_file(
        &t.url(),
        "{ phases: [{ duration: 1s, rate: 10 }] }",
        "/",
        "[{ metric: latency, expr: \"p(95) < 2s\" }]",
    );
    let out_dir = dir.path().join("out");
    let out = run_cli(vec![
        "run".into(),
        pass.display().to_string(),
        "--out".into(),
        out_dir.display().to_string(),
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("result PASSED") && stdout.contains("s/r"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(out_dir.join("summary.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["result"], "passed");
    assert_eq!(json["requests"][0]["count"], 10);
    assert!(
        !text.contains("k-very-secret-42"),
        "secrets never reach the summary"
    );

    let (_d, fail) = plan_file(
        &t.url(),
        "{ phases: [{ duration: 1s, rate: 10 }] }",
        "/?status=500",
        "[{ metric: errors, expr: \"rate < 0.01\" }]",
    );
    let out = run_cli(vec!["run".into(), fail.display().to_string(), "-q".into()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("✗ FAIL"));

    let out = run_cli(vec![
        "run".into(),
        support::fixture("config/invalid-a05-durations.yaml")
            .display()
            .to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    let out = run_cli(vec![
        "run".into(),
        pass.display().to_string(),
        "--plan".into(),
        "nope".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plans: p"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generator_that_cannot_keep_up_is_invalid_exit_3() {
    // One slot, 1 s responses, 50 arrivals/s: the backlog cannot drain before the grace ends.
    let t = support::demo_target(DemoOptions::default()).await;
    let (_d, p) = plan_file(
        &t.url(),
        "{ phases: [{ duration: 2s, rate: 50 }], max_in_flight: 1, graceful_stop: 1s }",
        "/?delay_ms=1000",
        "[]",
    );
    let out = run_cli(vec!["run".into(), p.display().to_string(), "-q".into()]).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("INVALID"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_writes_the_json_figures() {
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("hit.json");
    let out = run_cli(vec![
        "hit".into(),
        format!("{}/products?page=2", t.url()),
        "-c".into(),
        "4".into(),
        "-n".into(),
        "300".into(),
        "-q".into(),
        "--json".into(),
        json.display().to_string(),
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["requests"], 300);
    assert_eq!(v["errors"], 0);
    for k in ["rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "avg_ms"] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k} in {v}");
    }
    let out = run_cli(vec!["hit".into(), "file:///etc/passwd".into(), "-q".into()]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_gracefully_and_still_writes_the_partial_summary() {
    let t = support::demo_target(DemoOptions::default()).await;
    let (dir, p) = plan_file(
        &t.url(),
        "{ phases: [{ duration: 60s, rate: 20 }] }",
        "/",
        "[]",
    );
    let out_dir = dir.path().join("out");
    let child = Command::new(env!("CARGO_BIN_EXE_loadpacer"))
        .args([
            "run",
            p.to_str().unwrap(),
            "-q",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .env("LOADPACER_TEST_KEY", "x")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = support::interrupt_after(child, Duration::from_secs(2)).await;
    assert_eq!(out.status.code(), Some(130));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(json["result"], "interrupted");
    assert!(
        json["totals"]["requests"].as_u64().unwrap() >= 20,
        "{}",
        json["totals"]
    );
    assert!(json["duration_s"].as_f64().unwrap() < 10.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_metrics_listen_exposes_live_and_final_metrics() {
    use std::io::{BufRead, BufReader};
    let t = support::demo_target(DemoOptions::default()).await;
    let (_dir, p) = plan_file(
        &t.url(),
        "{ phases: [{ duration: 2s, rate: 20 }] }",
        "/",
        "[]",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadpacer"))
        .args([
            "run",
            p.to_str().unwrap(),
            "-q",
            "--segment",
            "1/2",
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-linger",
            "3s",
        ])
        .env("LOADPACER_TEST_KEY", "x")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string() + "/metrics";
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(
        text.contains(r#"loadpacer_runs_total{plan="p",result="passed"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"loadpacer_http_requests_total{plan="p",scenario="s",request="r",method="GET",status="200"} 20"#), "segment 1/2 of 40 arrivals: {text}");
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_flags_a_slowed_target_and_not_an_unchanged_one() {
    let fast = support::demo_target(DemoOptions {
        latency: Duration::from_millis(100),
        ..Default::default()
    })
    .await;
    let slow = support::demo_target(DemoOptions {
        latency: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let load = "{ phases: [{ duration: 2s, rate: 25 }] }";
    let (dir, first) = plan_file(&fast.url(), load, "/", "[]");
    let base = dir.path().join("base");
    let out = run_cli(vec![
        "run".into(),
        first.display().to_string(),
        "-q".into(),
        "--out".into(),
        base.display().to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0));
    let baseline = base.join("summary.json").display().to_string();

    let (_d2, again) = plan_file(&fast.url(), load, "/", "[]");
    let out = run_cli(vec![
        "run".into(),
        again.display().to_string(),
        "-q".into(),
        "--baseline".into(),
        baseline.clone(),
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "unchanged: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let (d3, slowed) = plan_file(&slow.url(), load, "/", "[]");
    let slow_out = d3.path().join("slow");
    let out = run_cli(vec![
        "run".into(),
        slowed.display().to_string(),
        "-q".into(),
        "--baseline".into(),
        baseline.clone(),
        "--out".into(),
        slow_out.display().to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // 50 requests: p50 is judged; p95 and p99 need 200 and 1,000 requests (too_few_samples).
    assert!(stdout.contains("regression: p50"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(slow_out.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["regression"]["regressed"], true);
    assert_eq!(summary["result"], "failed");

    let out = run_cli(vec![
        "compare".into(),
        baseline,
        slow_out.join("summary.json").display().to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("REGRESSION: p50"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d1_generator_confined_to_one_core_is_flagged_and_a_light_run_is_not() {
    // 150,000 arrivals/s on one core cannot be kept (a closed loop costs about 7 µs of CPU
    // a request, so one core tops out near that with nothing else to do; 40,000/s was kept
    // on this machine): dispatch lag, drops or CPU flag the run.
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (heavy, light) = (dir.path().join("heavy.json"), dir.path().join("light.json"));
    let url = format!("{}/", t.url());
    let (u, h) = (url.clone(), heavy.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("taskset")
            .args([
                "-c",
                "0",
                env!("CARGO_BIN_EXE_loadpacer"),
                "hit",
                &u,
                "--rate",
                "150000",
                "-c",
                "200",
                "-d",
                "6s",
                "-q",
                "--json",
                h.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("INVALID")
            && (stdout.contains("dispatch lag")
                || stdout.contains("dropped")
                || stdout.contains("CPU stayed above")),
        "the summary says which limit: {stdout}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&heavy).unwrap()).unwrap();
    assert_eq!(v["result"], "invalid");

    let out = run_cli(vec![
        "hit".into(),
        url,
        "--rate".into(),
        "20".into(),
        "-d".into(),
        "6s".into(),
        "-q".into(),
        "--json".into(),
        light.display().to_string(),
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_watched_process_figures_are_summarised_and_judged() {
    let t = support::demo_target(DemoOptions::default()).await;
    let yaml = format!(
            "host: {{ processes: [loadpacer] }}\ntargets:\n  t: {{ base_url: \"{}\" }}\nplans:\n  p:\n    target: t\n    load: {{ phases: [{{ duration: 6s, rate: 20 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}]\n    thresholds:\n      - {{ metric: process.loadpacer.rss, expr: \"max < 1GiB\" }}\n      - {{ metric: host.cpu, expr: \"max <= 1\" }}\n      - {{ metric: process.loadpacer.rss, expr: \"max < 1KB\" }}\n",
            t.url()
        );
    let (out, s, dir) = support::run_to_summary(&yaml, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("resources: host CPU") && stdout.contains("  loadpacer: CPU"),
        "{stdout}"
    );
    let verdicts: Vec<&str> = s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, vec!["pass", "pass", "fail"]);
    let rss = s["resources"]["processes"][0]["rss_bytes"]["max"]
        .as_f64()
        .unwrap();
    assert!(rss > 1e6, "the watched loadpacer process has an RSS: {rss}");
    assert!(
        s["resources"]["processes"][0]["rss_growth_bytes_per_hour"].is_null(),
        "no growth per hour extrapolated from 6 s"
    );
    assert!(!stdout.contains("MiB/h"), "{stdout}");
    for line in stdout.lines().filter(|l| l.contains("(observed ")) {
        let value = line
            .rsplit("(observed ")
            .next()
            .unwrap()
            .trim_end_matches(')');
        assert!(
            value.ends_with(" MiB") || value.ends_with(" %"),
            "every observed value carries its unit: {line}"
        );
    }

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(dir.path().join("plan.yaml"))
            .unwrap()
            .replace("processes: [loadpacer]", "processes: [postgres]"),
    )
    .unwrap();
    let out = run_cli(vec!["validate".into(), bad.display().to_string()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("process \"loadpacer\" is not watched; add it to host.processes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_monitor_is_polled_during_the_run_and_judged() {
    let t = support::demo_target(DemoOptions::default()).await;
    let yaml = format!(
            "targets:\n  t: {{ base_url: \"{u}\" }}\nplans:\n  p:\n    target: t\n    monitors:\n      page: {{ url: \"{u}/products?page=7\", jsonpath: \"$.page\", every: 200ms }}\n    load: {{ phases: [{{ duration: 2s, rate: 10 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}]\n    thresholds:\n      - {{ metric: monitor.page, expr: \"max < 10\" }}\n      - {{ metric: monitor.page, expr: \"avg > 100\" }}\n",
            u = t.url()
        );
    let (out, s, _dir) = support::run_to_summary(&yaml, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let m = &s["resources"]["monitors"][0];
    assert_eq!(m["value"]["avg"], 7.0, "{m}");
    assert!(m["value"]["samples"].as_u64().unwrap() >= 5, "{m}");
    let verdicts: Vec<&str> = s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, vec!["pass", "fail"]);
}

/// Issue 24, item 17: the progress line says which figure is arrivals and which is
/// requests (an iteration of two requests at 5 arrivals/s sends 10 req/s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_progress_line_names_arrivals_and_requests_apart() {
    let t = support::demo_target(DemoOptions::default()).await;
    let (_dir, file) = support::write_config(&format!(
        "targets:\n  t: {{ base_url: \"{}\" }}\nplans:\n  p:\n    target: t\n    load: {{ phases: [{{ duration: 2s, rate: 5 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: a, url: / }} }}, {{ request: {{ name: b, url: / }} }}] }}]\n",
        t.url()
    ));
    let out = run_cli(vec!["run".into(), file.display().to_string()]).await;
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("target 5.0 arrivals/s") && progress.contains("requests "),
        "{progress}"
    );
    assert!(!progress.contains("achieved"), "{progress}");
}
