//! Capacity on loopback: a demo target that serves 4 requests at a time for 20 ms each has a
//! true capacity of 200 req/s; a breakpoint run finds it within 10 % and stops by itself.

mod support;

use loadpacer::demo::DemoOptions;
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakpoint_run_finds_the_known_capacity_and_stops() {
    let t = support::demo_target(DemoOptions {
        latency: Duration::from_millis(20),
        workers: Some(4),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("bp.yaml");
    std::fs::write(
        &plan,
        format!(
            "targets:\n  t: {{ base_url: \"{}\", timeout: 5s }}\nplans:\n  bp:\n    target: t\n    load: {{ preset: breakpoint, rate: 400, duration: 20s, max_in_flight: 2000 }}\n    capacity: {{ expected_peak_rps: 150, monthly_growth: 0.05, sustain: 2, slo: {{ p95: 200ms, error_rate: 0.01 }} }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}]\n",
            t.url()
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let args: Vec<String> = vec![
        "run".into(),
        plan.display().to_string(),
        "-q".into(),
        "--out".into(),
        out_dir.display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loadpacer"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    let cap = &s["capacity"];
    let found = cap["capacity_rps"].as_f64().unwrap();
    assert!(
        (180.0..=220.0).contains(&found),
        "capacity {found} req/s, truth 200: {cap}"
    );
    assert_eq!(cap["breaking_point_reached"], true);
    assert_eq!(cap["limited_by_generator"], false);
    assert!(
        s["duration_s"].as_f64().unwrap() < 18.0,
        "stopped at the breaking point, not at the end"
    );
    let headroom = cap["headroom_ratio"].as_f64().unwrap();
    assert!((headroom - (1.0 - 150.0 / found)).abs() < 1e-9);
    assert_eq!(cap["instances_needed"], 1);
    eprintln!(
        "breakpoint: found {found:.1} req/s (true 200), knee {}, months until exhausted {}",
        cap["knee_rps"], cap["months_until_exhausted"]
    );
}
