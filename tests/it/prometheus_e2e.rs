//! End to end with a real Prometheus: it scrapes a real `serve` process every second with the
//! bundled rules loaded; the recording rules return data and the alerts for a failing plan
//! become pending or firing.

use crate::support;

use loadpacer::demo::DemoOptions;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_daemon_and_the_failing_plan_alerts() {
    let t = support::demo_target(DemoOptions::default()).await;
    // Serves 2 requests at a time for 20 ms each: a true capacity of 100 req/s.
    let small = support::demo_target(DemoOptions {
        latency: Duration::from_millis(20),
        workers: Some(2),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("loadpacer.yaml");
    std::fs::write(
        &config,
        format!(
            "store: {{ path: runs.db }}\nhost: {{ interval: 1s, processes: [loadpacer] }}\nlimits: {{ max_concurrent_runs: 7 }}\ntargets:\n  demo: {{ base_url: \"{}\" }}\n  small: {{ base_url: \"{}\" }}\nplans:\n  limit:\n    target: small\n    schedule: {{ every: 12s, overlap: forbid }}\n    load: {{ preset: breakpoint, rate: 300, duration: 10s, max_in_flight: 2000 }}\n    capacity: {{ expected_peak_rps: 500, sustain: 2, slo: {{ p95: 100ms, error_rate: 0.01 }} }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: / }} }}] }}]\n  steady:\n    target: demo\n    capacity: {{ expected_peak_rps: 500, slo: {{ p95: 1s, error_rate: 0.01 }} }}\n    schedule: {{ every: 13s, overlap: forbid }}\n    load: {{ phases: [{{ duration: 12s, rate: 20 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: / }} }}] }}]\n  healthy:\n    target: demo\n    capacity: {{ expected_peak_rps: 10, slo: {{ p95: 1s, error_rate: 0.01 }} }}\n    regression: {{ window: 3, tolerance: {{ latency: 10, throughput: 0.9, error_rate: 0.5 }} }}\n    schedule: {{ every: 2s, overlap: forbid }}\n    load: {{ phases: [{{ duration: 1s, rate: 20 }}] }}\n    metrics: {{ home_ok: {{ type: rate, help: \"Home answered 200\" }}, home_latency: {{ type: trend, unit: seconds, help: \"Home latency\" }} }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: / }}, check: {{ status: 200 }}, record: [{{ metric: home_ok, from: checks }}, {{ metric: home_latency, from: latency }}] }}] }}]\n    thresholds: [{{ metric: errors, expr: \"rate < 0.01\" }}, {{ metric: home_ok, expr: \"rate > 0.99\" }}]\n  soak:\n    target: demo\n    capacity: {{ expected_peak_rps: 500, slo: {{ p95: 1s, error_rate: 0.01 }} }}\n    schedule: {{ every: 32s, overlap: forbid }}\n    load: {{ preset: soak, rate: 50, duration: 31s }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: / }} }}] }}]\n  streams:\n    target: demo\n    schedule: {{ every: 3s, overlap: forbid }}\n    load: {{ phases: [{{ duration: 2s, rate: 3 }}] }}\n    scenarios: [{{ name: s, steps: [{{ ws: {{ name: ticks, path: \"/ws/ticker?every=50ms\", actions: [{{ send: hi }}, {{ ping: {{}} }}, {{ hold: {{ duration: 1s }} }}] }} }}, {{ ws: {{ name: echo, path: /ws/echo, actions: [{{ send: hi }}, {{ expect: {{ contains: hi, timeout: 2s }} }}] }} }}, {{ sse: {{ name: feed, path: \"/sse/stream?every=50ms\", duration: 1s, events: 5 }} }}] }}]\n  mixed:\n    target: demo\n    schedule: {{ every: 4s, overlap: forbid }}\n    workloads:\n      steady: {{ load: {{ phases: [{{ duration: 1s, rate: 3 }}] }}, scenarios: [{{ name: a, steps: [{{ request: {{ name: home, url: / }} }}] }}] }}\n      users: {{ load: {{ vus: [{{ duration: 1s, target: 1 }}] }}, scenarios: [{{ name: b, steps: [{{ request: {{ name: home, url: / }} }}, {{ think: 300ms }}] }}] }}\n  failing:\n    target: demo\n    schedule: {{ every: 2s, overlap: forbid }}\n    load: {{ phases: [{{ duration: 1s, rate: 20 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: broken, url: \"/?status=500\" }} }}] }}]\n    thresholds: [{{ metric: errors, expr: \"rate < 0.01\" }}]\n",
            t.url(),
            small.url()
        ),
    )
    .unwrap();
    let daemon = support::serve(&config, &[]);
    let addr = daemon.addr.clone();
    // The 31-s soak run starts now rather than at its first 32-s boundary, so its drift gauge
    // exists well before the dashboards are checked. It sends 50 requests a second: with 10 a
    // window's p95 is its slowest request, and one scheduling hiccup in each late window of a
    // busy 2-core machine read as a drift (it did, in 2 of 7 full runs).
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/plans/soak/trigger"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
    let (_prom, prom) = support::prometheus(dir.path(), &[("loadpacer", &addr)]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut alerts = serde_json::Value::Null;
    loop {
        assert!(Instant::now() < deadline, "alerts never fired: {alerts}");
        alerts = support::prometheus_api(&prom, "alerts", "").await;
        let active: Vec<(String, String, String)> = alerts["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                (
                    a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                    a["labels"]["plan"].as_str().unwrap_or("").to_string(),
                    a["state"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let has = |name: &str| {
            active
                .iter()
                .any(|(n, p, s)| n == name && p == "failing" && (s == "firing" || s == "pending"))
        };
        let capacity_alert = active.iter().any(|(n, p, s)| {
            n == "LoadpacerLowCapacityHeadroom" && p == "limit" && (s == "firing" || s == "pending")
        });
        if has("LoadpacerRunFailed")
            && has("LoadpacerThresholdFailed")
            && has("LoadpacerErrorRateHigh")
            && capacity_alert
        {
            assert!(
                !active.iter().any(|(_, p, _)| p == "healthy"),
                "the healthy plan stays silent: {active:?}"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ratio = support::prometheus_api(&prom, "query", "loadpacer:http_error_ratio:rate5m").await;
    let values: Vec<(String, f64)> = ratio["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["plan"].as_str().unwrap().to_string(),
                r["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert!(values.contains(&("failing".into(), 1.0)), "{values:?}");
    assert!(values.contains(&("healthy".into(), 0.0)), "{values:?}");
    let up = support::prometheus_api(&prom, "query", "up{job=\"loadpacer\"}").await;
    assert_eq!(up["data"]["result"][0]["value"][1], "1");

    // A PromQL monitor reads this Prometheus during the healthy plan's runs (after a reload).
    let text = std::fs::read_to_string(&config).unwrap();
    let with_monitor = text.replacen(
        "  healthy:\n    target: demo\n",
        &format!("  healthy:\n    target: demo\n    monitors: {{ scraped: {{ prometheus: \"http://{prom}\", promql: \"sum(up{{job=\\\"loadpacer\\\"}})\", every: 300ms }} }}\n"),
        1,
    );
    assert_ne!(with_monitor, text);
    std::fs::write(&config, with_monitor).unwrap();
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "no run with the PromQL monitor");
        let runs: serde_json::Value =
            support::get_json(&format!("http://{addr}/api/v1/runs?plan=healthy&limit=3")).await;
        let mut found = false;
        for run in runs["runs"].as_array().into_iter().flatten() {
            let one: serde_json::Value = serde_json::from_str(
                &client
                    .get(format!(
                        "http://{addr}/api/v1/runs/{}",
                        run["id"].as_str().unwrap()
                    ))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap(),
            )
            .unwrap();
            let m = &one["summary"]["resources"]["monitors"][0];
            if m["value"]["samples"].as_u64().unwrap_or(0) > 0 {
                assert_eq!(m["value"]["avg"], 1.0, "up of the one scraped agent: {m}");
                found = true;
            }
        }
        if found {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Every panel of every dashboard returns data (variables substituted as "all").
    let queries = support::dashboard_queries();
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let mut empty = Vec::new();
        for (file, title, expr) in &queries {
            let r = support::prometheus_api(&prom, "query", &support::substitute(expr)).await;
            assert_eq!(r["status"], "success", "{file}/{title}: {expr}: {r}");
            if r["data"]["result"].as_array().is_none_or(|a| a.is_empty()) {
                empty.push(format!("{file} / {title}: {expr}"));
            }
        }
        if empty.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "panels without data:\n{}",
            empty.join("\n")
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Plans whose runs never broke their SLO (1-s, 12-s and a 31-s soak run, each with a
    // capacity block) fire none of the capacity, drift or memory-growth alerts; the
    // breakpoint plan that found its limit still does.
    let alerts = support::prometheus_api(&prom, "alerts", "").await;
    let mut capacity_fired_for = Vec::new();
    for a in alerts["data"]["alerts"].as_array().into_iter().flatten() {
        let (name, plan, state) = (
            a["labels"]["alertname"].as_str().unwrap_or(""),
            a["labels"]["plan"].as_str().unwrap_or(""),
            a["state"].as_str().unwrap_or(""),
        );
        if name == "LoadpacerLowCapacityHeadroom" {
            capacity_fired_for.push(plan.to_string());
        }
        // Memory growth has `for: 30m`: a daemon warming up may make it pending, never fire.
        let paging = match name {
            "LoadpacerLowCapacityHeadroom" | "LoadpacerSoakLatencyDrift" => plan != "limit",
            "LoadpacerWatchedProcessMemoryGrowth" => state == "firing",
            _ => false,
        };
        assert!(
            !paging,
            "{name} ({state}) for {plan:?} on healthy runs: {alerts}"
        );
    }
    assert_eq!(capacity_fired_for, vec!["limit"]);
    let bound = support::prometheus_api(&prom, "query", "loadpacer_capacity_lower_bound_rps").await;
    let plans: Vec<&str> = bound["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["metric"]["plan"].as_str())
        .collect();
    assert!(
        plans.contains(&"steady") && plans.contains(&"healthy"),
        "{bound}"
    );

    // User-defined metrics reach Prometheus from the live scrape, aggregatable by `le`.
    let ok = support::prometheus_api(
        &prom,
        "query",
        "sum(loadpacer_custom_home_ok_total{plan=\"healthy\",outcome=\"true\"})",
    )
    .await;
    let n: f64 = ok["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    assert!(n >= 20.0, "{ok}");
    let p95 = support::prometheus_api(
        &prom,
        "query",
        "histogram_quantile(0.95, sum by (le) (loadpacer_custom_home_latency_seconds_bucket{plan=\"healthy\"}))",
    )
    .await;
    let v: f64 = p95["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    assert!(v > 0.0 && v < 5.0, "{p95}");
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    support::promtool_check_metrics(&text);
}
