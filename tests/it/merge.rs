//! One verdict for a distributed run: four `run --segment i/4` processes against one loopback
//! target, merged by `loadpacer merge` into one summary whose counts add up to the schedule
//! and whose percentiles are those of the four histograms merged in memory.

use crate::support;

use loadpacer::demo::DemoOptions;
use loadpacer::measure::LatencyStats;
use loadpacer::report::Summary;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn plan(target: &str, rate: u32) -> String {
    format!(
        r#"targets:
  demo: {{ base_url: "{target}" }}
plans:
  spread:
    target: demo
    load: {{ phases: [{{ duration: 3s, rate: {rate} }}] }}
    scenarios:
      - name: browse
        steps:
          - request: {{ name: home, url: "/" }}
            check: {{ status: 200 }}
          - request: {{ name: page, url: "/products?page=2" }}
    thresholds:
      - {{ metric: latency, expr: "p(95) < 2s" }}
      - {{ metric: errors, expr: "rate < 0.01" }}
"#
    )
}

async fn loadpacer(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loadpacer"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn read(path: &Path) -> Summary {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn args(parts: &[&str], files: &[PathBuf]) -> Vec<String> {
    parts
        .iter()
        .map(|s| s.to_string())
        .chain(files.iter().map(|f| f.display().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_segments_merge_into_one_exact_run_and_bad_sets_are_refused() {
    let t = support::demo_target(DemoOptions {
        jitter: Duration::from_millis(4),
        ..DemoOptions::default()
    })
    .await;
    let (dir, file) = support::write_config(&plan(&t.url(), 100));
    let file_s = file.display().to_string();
    // Four processes at once, as four pods would be.
    let runs = (1..=4).map(|i| {
        let out = dir.path().join(format!("s{i}"));
        loadpacer(vec![
            "run".into(),
            file_s.clone(),
            "-q".into(),
            "--segment".into(),
            format!("{i}/4"),
            "--out".into(),
            out.display().to_string(),
        ])
    });
    for out in futures_util::future::join_all(runs).await {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let files: Vec<PathBuf> = (1..=4)
        .map(|i| dir.path().join(format!("s{i}/summary.json")))
        .collect();
    let segments: Vec<Summary> = files.iter().map(|f| read(f)).collect();
    support::check_summary_schema(&segments[0]);

    let merged_dir = dir.path().join("merged");
    let out = loadpacer(args(
        &[
            "merge",
            &file_s,
            "--out",
            merged_dir.to_str().unwrap(),
            "--junit",
            dir.path().join("junit.xml").to_str().unwrap(),
        ],
        &files,
    ))
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = read(&merged_dir.join("summary.json"));
    support::check_summary_schema(&merged);
    // 3 s at 100/s: exactly 300 arrivals over the four processes, two requests each.
    assert_eq!(merged.totals.iterations, 300);
    assert_eq!(merged.totals.requests, 600);
    assert_eq!(
        segments.iter().map(|s| s.totals.iterations).sum::<u64>(),
        300
    );
    let m = merged.merged.as_ref().unwrap();
    assert_eq!(
        (m.segments, m.reported.clone(), m.partial),
        (4, vec![1, 2, 3, 4], false)
    );
    assert_eq!(merged.segment.to_string(), "1/1");
    assert!(merged.recorded.is_none());
    // The merged percentiles are those of the four histograms merged in memory.
    let mut total = segments[0].recorded.clone().unwrap().recorder;
    for s in &segments[1..] {
        total.merge(&s.recorded.as_ref().unwrap().recorder);
    }
    // Percentiles exactly; the mean is a float sum whose last bits follow the order in
    // which the histograms were added.
    let same = |a: &LatencyStats, b: &LatencyStats| {
        assert!((a.avg_ms - b.avg_ms).abs() < 1e-9, "{a:?} {b:?}");
        let exact = |s: &LatencyStats| LatencyStats {
            avg_ms: 0.0,
            ..s.clone()
        };
        assert_eq!(exact(a), exact(b));
    };
    same(
        &merged.totals.latency,
        &LatencyStats::of(&total.merged_latency()),
    );
    let home = &merged.requests[0];
    assert_eq!(home.count, 300);
    same(
        &home.latency,
        &LatencyStats::of(&total.requests[0].latency()),
    );
    // Judged once, on the whole run.
    assert_eq!(merged.thresholds.len(), 2);
    assert!(merged
        .thresholds
        .iter()
        .all(|t| t.verdict == loadpacer::judge::Verdict::Pass));
    assert_eq!(merged.result, loadpacer::report::Outcome::Passed);
    let windows: u64 = merged.windows.iter().map(|w| w.requests).sum();
    assert_eq!(windows, 600, "the windows add up too");

    // A missing segment is named; with --partial the run is marked and never passes.
    let three = &files[..3];
    let out = loadpacer(args(&["merge", &file_s], three)).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("segment(s) 4/4 of 4 did not report"), "{err}");
    let partial_dir = dir.path().join("partial");
    let out = loadpacer(args(
        &[
            "merge",
            &file_s,
            "--partial",
            "--out",
            partial_dir.to_str().unwrap(),
        ],
        three,
    ))
    .await;
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("result FAILED (partial: segments missing)"),
        "{printed}"
    );
    assert_eq!(out.status.code(), Some(1));
    let partial = read(&partial_dir.join("summary.json"));
    assert!(partial.merged.as_ref().unwrap().partial);
    assert!(
        partial.reasons[0].starts_with("partial: segment(s) 4/4 of 4 did not report"),
        "{:?}",
        partial.reasons
    );
    assert_eq!(partial.totals.iterations, 225);

    // The same segment twice, and a run that is not a segment, are refused by name.
    let twice = [files[0].clone(), files[1].clone(), files[0].clone()];
    let out = loadpacer(args(&["merge", &file_s], &twice)).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("segment 1/4 reported twice"), "{err}");
    let whole = dir.path().join("whole");
    let out = loadpacer(vec![
        "run".into(),
        file_s.clone(),
        "-q".into(),
        "--out".into(),
        whole.display().to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0));
    let out = loadpacer(args(&["merge", &file_s], &[whole.join("summary.json")])).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a segment of a distributed run"));

    // H9: a segment whose counts disagree (u64::MAX statuses for the requests it recorded)
    // is refused by name, never summed into a wrapped total; H3: a histogram bomb in a file
    // given to merge is refused before it is inflated.
    let mut liar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[1]).unwrap()).unwrap();
    liar["recorded"]["recorder"]["requests"][0]["statuses"] =
        serde_json::json!([[200, u64::MAX - 35]]);
    let lying = dir.path().join("lying.json");
    std::fs::write(&lying, liar.to_string()).unwrap();
    let out = loadpacer(args(
        &["merge", &file_s],
        &[files[0].clone(), lying.clone()],
    ))
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("lying.json: its counts disagree: request 0"),
        "{err}"
    );
    liar["recorded"]["recorder"]["lag"] = serde_json::Value::String(support::histogram_bomb());
    std::fs::write(&lying, liar.to_string()).unwrap();
    let out = loadpacer(args(&["merge", &file_s], &[files[0].clone(), lying])).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("inflates to more than"), "{err}");

    // Segments of another version of the file are refused: the hash names both.
    std::fs::write(&file, plan(&t.url(), 101)).unwrap();
    let out = loadpacer(args(&["merge", &file_s], &files)).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("config hash") && err.contains("every segment must run the same file"),
        "{err}"
    );
}

/// The daemon's side: segment processes post their summaries with `--report-to`; the daemon
/// keeps them, stores one merged run when the last arrives, and a partial one at the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_merges_reported_segments_into_one_stored_run() {
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("loadpacer.yaml");
    let yaml = plan(&t.url(), 50).replace(
        "targets:",
        "server: { listen: \"127.0.0.1:0\", token_env: LOADPACER_TEST_TOKEN, segments_deadline: 2s }\nstore: { path: runs.db }\nhost: { interval: 1s }\ntargets:",
    );
    std::fs::write(&config, yaml).unwrap();
    let d = support::serve(&config, &[("LOADPACER_TEST_TOKEN", "t0k3n")]);
    let segment = |i: u32, key: &'static str, token: &'static str| {
        let config = config.display().to_string();
        let base = d.base.clone();
        let out = dir.path().join(format!("{key}-{i}"));
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_loadpacer"))
                .args(["run", &config, "-q", "--segment", &format!("{i}/2")])
                .args(["--report-to", &base, "--run-key", key])
                .args(["--out", out.to_str().unwrap()])
                .env("LOADPACER_TEST_TOKEN", "t0k3n")
                .env("LOADPACER_TOKEN", token)
                .output()
                .unwrap()
        })
    };
    let (a, b) = tokio::join!(segment(1, "job-1", "t0k3n"), segment(2, "job-1", "t0k3n"));
    let (a, b) = (a.unwrap(), b.unwrap());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    assert_eq!(
        (a.status.code(), b.status.code()),
        (Some(0), Some(0)),
        "{said}"
    );
    assert!(said.contains("the run is complete, stored as"), "{said}");
    let runs = support::get_json(&format!("{}/api/v1/runs?plan=spread", d.base)).await;
    let list = runs["runs"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{runs}");
    assert_eq!(list[0]["trigger"], "segments");
    assert_eq!(list[0]["status"], "passed");
    let id = list[0]["id"].as_str().unwrap();
    let one = support::get_json(&format!("{}/api/v1/runs/{id}", d.base)).await;
    // 3 s at 50/s over two processes: the 150 scheduled arrivals, judged once.
    assert_eq!(one["summary"]["totals"]["iterations"], 150, "{one}");
    assert_eq!(
        one["summary"]["merged"]["reported"],
        serde_json::json!([1, 2])
    );
    let metrics = reqwest::get(format!("{}/metrics", d.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"loadpacer_runs_total{plan="spread",result="passed"} 1"#),
        "the merged run counts like any run"
    );

    // A wrong token is refused (and said), and the run's exit code stays the verdict's.
    let wrong = segment(1, "job-2", "nope").await.unwrap();
    assert_eq!(wrong.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("401"));
    // One of two segments: kept, then stored as a partial run at the 2-s deadline.
    let half = segment(1, "job-3", "t0k3n").await.unwrap();
    assert!(
        String::from_utf8_lossy(&half.stderr).contains("1 of 2 segments have reported"),
        "{}",
        String::from_utf8_lossy(&half.stderr)
    );
    // The same segment again, a bad key and an unknown plan are refused by the API.
    let body = std::fs::read_to_string(dir.path().join("job-3-1/summary.json")).unwrap();
    let post_body = |path: String, body: String| {
        reqwest::Client::new()
            .post(format!("{}{path}", d.base))
            .bearer_auth("t0k3n")
            .body(body)
            .send()
    };
    let post = |path: String| post_body(path, body.clone());
    let again = post("/api/v1/plans/spread/segments/job-3".into())
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    assert!(again
        .text()
        .await
        .unwrap()
        .contains("segment 1/2 reported twice"));
    let bad = post("/api/v1/plans/spread/segments/..%2Fx".into())
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = post("/api/v1/plans/nope/segments/job-3".into())
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // H6: job-1 was merged; its segments posted again are refused, and no second run or
    // pending partial run appears.
    for i in [1, 2] {
        let body =
            std::fs::read_to_string(dir.path().join(format!("job-1-{i}/summary.json"))).unwrap();
        let again = post_body("/api/v1/plans/spread/segments/job-1".into(), body)
            .await
            .unwrap();
        assert_eq!(again.status(), 409);
        assert!(again
            .text()
            .await
            .unwrap()
            .contains("already merged into run"));
    }
    // H3: a histogram that inflates to 64 MiB from a few KB is refused before it is
    // allocated, with 413, and counted.
    let mut bomb: serde_json::Value = serde_json::from_str(&body).unwrap();
    bomb["recorded"]["recorder"]["lag"] = serde_json::Value::String(support::histogram_bomb());
    let refused = post_body(
        "/api/v1/plans/spread/segments/job-4".into(),
        bomb.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 413);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("inflates to more than"));
    let metrics = reqwest::get(format!("{}/metrics", d.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"loadpacer_segments_refused_total{reason="too_large"} 1"#,
        r#"loadpacer_segments_refused_total{reason="duplicate"} 3"#,
    ] {
        assert!(metrics.contains(line), "{line}");
    }
    // Duplicates and refused segments never make a run. (The partial run of the missing
    // segment may already be stored when the machine is busy: it is looked for below.)
    let runs = support::get_json(&format!("{}/api/v1/runs?plan=spread", d.base)).await;
    let merged = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "failed")
        .count();
    assert_eq!(merged, 1, "no second merged run: {runs}");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let partial = loop {
        let runs =
            support::get_json(&format!("{}/api/v1/runs?plan=spread&status=failed", d.base)).await;
        if let Some(r) = runs["runs"].as_array().and_then(|r| r.first()) {
            break r.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no partial run stored"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let id = partial["id"].as_str().unwrap();
    let one = support::get_json(&format!("{}/api/v1/runs/{id}", d.base)).await;
    assert_eq!(one["summary"]["merged"]["partial"], true);
    assert_eq!(one["summary"]["totals"]["iterations"], 75);
    assert!(
        one["summary"]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("partial: segment(s) 2/2 of 2 did not report"),
        "{one}"
    );
}
