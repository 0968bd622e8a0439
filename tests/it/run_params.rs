//! Run-time parameters: `run --target NAME=URL` and `--scale F`, `scale` on the daemon's
//! trigger API within its caps, and `compare` over more than two summaries.

use crate::support;

use loadpacer::demo::DemoOptions;
use std::process::{Command, Output};
use std::time::Duration;

/// Target `api` points at a closed port: only `--target` makes the plan reach anything.
fn plan(closed: &str) -> String {
    plan_at(&format!("http://{closed}"))
}

fn plan_at(url: &str) -> String {
    format!(
        "limits: {{ max_rps: 100, allow_targets: [127.0.0.0/30] }}\ntargets:\n  api: {{ base_url: \"{url}\" }}\nplans:\n  p:\n    target: api\n    load: {{ phases: [{{ duration: 1s, rate: 10 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: / }} }}] }}]\n"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_and_scale_change_one_run_and_are_checked() {
    let t = support::demo_target(DemoOptions::default()).await;
    let yaml = plan(&support::closed_port().to_string());
    let target = format!("api={}", t.url());
    let (out, summary, _dir) =
        support::run_to_summary(&yaml, &["--target", &target, "--scale", "2.5"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary["target"], format!("{}/", t.url()));
    assert_eq!(summary["totals"]["requests"], 25, "10/s × 2.5 for 1 s");
    assert_eq!(summary["totals"]["errors"], 0);

    let (dir, file) = support::write_config(&yaml);
    let file = file.display().to_string();
    for (args, expected) in [
        (
            vec!["--scale", "0"],
            "scale 0 must be a number from 0.001 to 1000",
        ),
        (
            vec!["--scale", "20"],
            "would send 200.0 req/s at its peak, above limits.max_rps (100)",
        ),
        (
            vec!["--target", "nope=http://127.0.0.1:1"],
            "no plan uses a target named \"nope\"; the targets are api",
        ),
        (
            vec!["--target", "api=http://127.0.0.9:1"],
            "host 127.0.0.9 is not in limits.allow_targets (127.0.0.0/30)",
        ),
        (vec!["--target", "api"], "must be NAME=URL"),
    ] {
        let mut all = vec!["run".to_string(), file.clone(), "-q".into()];
        all.extend(args.iter().map(|s| s.to_string()));
        let out = loadpacer(all).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trigger_api_takes_a_scale_within_the_caps() {
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("d.yaml");
    let yaml = plan_at(&t.url());
    std::fs::write(&cfg, format!("store: {{ path: runs.db }}\n{yaml}")).unwrap();
    let d = support::serve(&cfg, &[]);
    let client = reqwest::Client::new();
    let post = |q: &'static str| {
        let (client, base) = (client.clone(), d.base.clone());
        async move {
            let r = client
                .post(format!("{base}/api/v1/plans/p/trigger{q}"))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            (status, body)
        }
    };
    let (status, body) = post("?scale=abc").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("scale must be a number"));
    let (status, body) = post("?scale=50").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("above limits.max_rps (100)"),
        "{body}"
    );
    let (status, body) = post("?scale=3").await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let mut run = serde_json::Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        run = support::get_json(&format!("{}/api/v1/runs/{id}", d.base)).await;
        if run["status"] != "running" {
            break;
        }
    }
    assert_eq!(run["summary"]["totals"]["requests"], 30, "{run}");
    // Not a regular run of the plan: its own config hash, so no baseline mixes the two.
    let hash = run["summary"]["config_hash"].as_str().unwrap();
    assert!(hash.ends_with("-x3"), "{hash}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_shows_three_runs_side_by_side_against_the_first() {
    let t = support::demo_target(DemoOptions::default()).await;
    let yaml = plan(&support::closed_port().to_string());
    let target = format!("api={}", t.url());
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for scale in ["1", "2", "3"] {
        let (out, _, dir) =
            support::run_to_summary(&yaml, &["--target", &target, "--scale", scale]).await;
        assert_eq!(out.status.code(), Some(0));
        files.push(dir.path().join("out/summary.json").display().to_string());
        dirs.push(dir);
    }
    let mut args = vec!["compare".to_string()];
    args.extend(files.iter().cloned());
    let out = loadpacer(args).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("A: p ") && text.contains("C: p "), "{text}");
    let header = text.lines().find(|l| l.starts_with("figure")).unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["figure", "A", "B", "delta", "C", "delta"]
    );
    let throughput = text.lines().find(|l| l.starts_with("throughput")).unwrap();
    assert!(throughput.contains('%'), "{throughput}");
    // More load is not a regression of throughput: exit 0.
    assert_eq!(out.status.code(), Some(0), "{text}");
    let one = loadpacer(vec!["compare".into(), files[0].clone()]).await;
    assert_eq!(one.status.code(), Some(2));
}

/// Issue 24, item 6: a run at `--scale 0.5` says so in its config hash, its throughput
/// thresholds are scaled with the load (and say so), and `compare` with a run at scale 1
/// expects half the throughput instead of calling it a regression.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaled_run_is_judged_and_compared_at_its_scale() {
    let t = support::demo_target(DemoOptions::default()).await;
    let yaml = format!(
        "targets:\n  api: {{ base_url: \"{}\" }}\nplans:\n  p:\n    target: api\n    load: {{ phases: [{{ duration: 3s, rate: 20 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: / }} }}] }}]\n    thresholds: [{{ metric: requests, expr: \"rate > 15\" }}]\n",
        t.url()
    );
    let (out, whole, dir) = support::run_to_summary(&yaml, &[]).await;
    assert_eq!(out.status.code(), Some(0));
    let (out, half, dir2) = support::run_to_summary(&yaml, &["--scale", "0.5"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        half["config_hash"].as_str().unwrap(),
        format!("{}-x0.5", whole["config_hash"].as_str().unwrap())
    );
    assert_eq!(
        half["thresholds"][0]["expr"],
        "rate > 7.5 (rate > 15 scaled ×0.5)"
    );
    let out = loadpacer(vec![
        "compare".into(),
        dir.path().join("out/summary.json").display().to_string(),
        dir2.path().join("out/summary.json").display().to_string(),
    ])
    .await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("ran at scale 0.5 and the baseline at 1"),
        "{said}"
    );
    assert!(!said.contains("REGRESSION"), "{said}");
}
