//! The target's own resources through a real Prometheus: it scrapes a loopback exporter that
//! serves cAdvisor-, kube-state-metrics- and node_exporter-named series with known values; a
//! breakpoint run reads them back through PromQL, judges and charts them, and derives its
//! sizing from them.

use crate::support;

use loadpacer::demo::DemoOptions;
use loadpacer::judge::Verdict;
use loadpacer::run::RunOptions;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Two pods of `api` in namespace `shop` using 0.4 cores and 200 MB each (limit 512 MB), 3
/// restarts that do not change, both ready; a pod elsewhere with large figures that the
/// selector must leave out; a node 25 % busy with 25 % of its memory used.
fn exposition(t: f64) -> String {
    let mut o = String::new();
    for pod in ["api-1", "api-2"] {
        let l = format!("namespace=\"shop\",pod=\"{pod}\",container=\"app\"");
        o += &format!("container_cpu_usage_seconds_total{{{l}}} {}\n", 0.4 * t);
        o += &format!("container_memory_working_set_bytes{{{l}}} 200000000\n");
        o += &format!(
            "kube_pod_container_resource_limits{{{l},resource=\"memory\",unit=\"byte\"}} 512000000\n"
        );
        o += &format!("kube_pod_container_status_restarts_total{{{l}}} 3\n");
        o += &format!(
            "kube_pod_status_ready{{namespace=\"shop\",pod=\"{pod}\",condition=\"true\"}} 1\n"
        );
    }
    let other = "namespace=\"batch\",pod=\"api-9\",container=\"app\"";
    o += &format!("container_cpu_usage_seconds_total{{{other}}} {}\n", 7.0 * t);
    o += &format!("container_memory_working_set_bytes{{{other}}} 9000000000\n");
    o += &format!(
        "node_cpu_seconds_total{{cpu=\"0\",mode=\"idle\"}} {}\n",
        0.75 * t
    );
    o += "node_memory_MemTotal_bytes 8000000000\nnode_memory_MemAvailable_bytes 6000000000\n";
    o
}

/// A loopback exporter serving [`exposition`] at the time of each scrape.
async fn exporter() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let body = exposition(started.elapsed().as_secs_f64());
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breakpoint_run_reads_judges_and_sizes_from_the_targets_resources() {
    let exporter = exporter().await;
    let dir = tempfile::tempdir().unwrap();
    let (_prom, prom) = support::prometheus(dir.path(), &[("kube", &exporter)]);
    // rate() divides by its whole range: wait until the series is older than the run's
    // `rate_window` (5 s), so that it gives the known 0.8 cores (a real cAdvisor series is
    // older than any window).
    let query =
        "sum(rate(container_cpu_usage_seconds_total{namespace=\"shop\",pod=~\"api-.*\"}[5s]))";
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = support::prometheus_api(&prom, "query", query).await;
        let v: Option<f64> = r["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok());
        if v.is_some_and(|v| (v - 0.8).abs() < 0.01) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no steady rate from Prometheus: {r}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Serves 2 requests at a time for 20 ms each: a true capacity of 100 req/s.
    let small = support::demo_target(DemoOptions {
        latency: Duration::from_millis(20),
        workers: Some(2),
        ..Default::default()
    })
    .await;
    let yaml = format!(
        "targets:\n  t: {{ base_url: \"{}\" }}\nplans:\n  p:\n    target: t\n    load: {{ preset: breakpoint, rate: 300, duration: 10s, max_in_flight: 2000 }}\n    capacity: {{ expected_peak_rps: 150, sustain: 2, slo: {{ p95: 100ms, error_rate: 0.01 }} }}\n    resources:\n      prometheus: \"http://{prom}\"\n      kubernetes: {{ namespace: shop, pods: \"api-.*\" }}\n      nodes: [\"{exporter}\"]\n      every: 500ms\n      rate_window: 5s\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: / }} }}] }}]\n    thresholds:\n      - {{ metric: target.cpu_cores, expr: \"max < 1\" }}\n      - {{ metric: target.memory, expr: \"max < 512MB\" }}\n      - {{ metric: target.restarts, expr: \"max == 0\" }}\n      - {{ metric: node.cpu, expr: \"max < 0.5\" }}\n",
        small.url()
    );
    let s = support::run_plan(&yaml, None, RunOptions::default()).await;

    // Read back through PromQL: the two selected pods only, per poll.
    let r = s.resources.as_ref().unwrap();
    let series = |name: &str| -> Vec<f64> {
        let m = r.monitors.iter().find(|m| m.name == name).unwrap();
        assert!(m.series.len() >= 3, "{name}: {:?}", m.series);
        m.series.iter().map(|p| p.value.unwrap()).collect()
    };
    let cpu = series("target.cpu_cores");
    assert!(
        cpu.iter().all(|v| (v - 0.8).abs() < 0.02),
        "0.4 cores × 2 pods: {cpu:?}"
    );
    assert!(series("target.memory").iter().all(|v| *v == 400e6));
    assert!(series("target.memory_limit").iter().all(|v| *v == 1024e6));
    assert!(series("target.ready_replicas").iter().all(|v| *v == 2.0));
    assert!(
        series("target.restarts").iter().all(|v| *v == 0.0),
        "3 restarts before the run, none during it"
    );
    for v in series("node.cpu") {
        assert!((v - 0.25).abs() < 0.02, "{v}");
    }
    assert!(series("node.memory")
        .iter()
        .all(|v| (*v - 0.25).abs() < 1e-9));
    // Judged.
    for t in &s.thresholds {
        assert_eq!(t.verdict, Verdict::Pass, "{t:?}");
    }

    // Sized: arithmetic on those known values at the capacity the run found.
    let c = s.capacity.as_ref().unwrap();
    let cap = c.capacity_rps.expect("the breakpoint found the limit");
    assert!((60.0..=140.0).contains(&cap), "{cap}");
    let z = c.sizing.as_ref().expect("a sizing");
    assert!(z.derived);
    assert_eq!(z.at_rps, cap);
    assert!((z.cpu_cores - 0.8).abs() < 0.02);
    assert_eq!(z.memory_bytes, Some(400e6));
    assert_eq!(z.replicas, Some(2.0));
    assert!((z.cpu_cores_per_100_rps - z.cpu_cores / cap * 100.0).abs() < 1e-9);
    assert_eq!(z.memory_bytes_per_100_rps, Some(400e6 / cap * 100.0));
    let n = (150.0 * 1.2 / (cap / 2.0)).ceil() as u64;
    assert_eq!(z.replicas_for_peak, Some(n));
    let request = z.cpu_request_per_pod.unwrap();
    assert!((request - z.cpu_cores / cap * 180.0 / n as f64).abs() < 1e-9);
    assert_eq!(z.memory_limit_per_pod, Some(200e6 * 1.2));
    assert!(z.note.starts_with("derived:"), "{}", z.note);

    // Charted and shown.
    let html = loadpacer::report::html::render(&s);
    assert!(html.contains("id=\"monitor-target.cpu_cores\"") && html.contains("id=\"sizing\""));
    let console = loadpacer::report::console::render(&s);
    assert!(
        console.contains(&format!(
            "for 180 req/s (the expected peak + 20 %) run {n} replicas"
        )),
        "{console}"
    );
    // Issue 24, item 2: one answer. Capacity measured on 2 replicas is 2 instances' worth,
    // so the instances needed are the replicas the sizing derived, and the console says so.
    assert_eq!(c.instances_needed, Some(n), "{c:?}");
    assert!(
        console.contains(&format!(
            "instances needed: {n} (capacity measured on 2 replicas"
        )),
        "{console}"
    );
    // Issue 24, item 8: observed values of the target's figures carry their units.
    let memory = s
        .thresholds
        .iter()
        .find(|t| t.metric == "target.memory")
        .unwrap();
    assert_eq!(
        memory.observed_text().as_deref(),
        Some("381.5 MiB"),
        "{memory:?}"
    );
    let cpu = s
        .thresholds
        .iter()
        .find(|t| t.metric == "target.cpu_cores")
        .unwrap();
    assert!(cpu.observed_text().unwrap().ends_with(" cores"), "{cpu:?}");
    assert!(
        console.contains("monitor target.memory: avg 381.5 MiB max 381.5 MiB"),
        "{console}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_that_is_down_leaves_the_figures_missing_and_the_run_going() {
    let t = support::demo_target(DemoOptions::default()).await;
    let closed = support::closed_port();
    let yaml = format!(
        "targets:\n  t: {{ base_url: \"{}\" }}\nplans:\n  p:\n    target: t\n    load: {{ phases: [{{ duration: 2s, rate: 10 }}] }}\n    resources: {{ prometheus: \"http://{closed}\", kubernetes: {{ namespace: shop, pods: api }}, every: 300ms }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: / }} }}] }}]\n    thresholds: [{{ metric: target.memory, expr: \"max < 512MB\" }}]\n",
        t.url()
    );
    let s = support::run_plan(&yaml, None, RunOptions::default()).await;
    assert_eq!(s.totals.requests, 20, "the run went on");
    let m = s
        .resources
        .as_ref()
        .unwrap()
        .monitors
        .iter()
        .find(|m| m.name == "target.memory")
        .unwrap();
    assert!(m.errors >= 3);
    assert!(m
        .series
        .iter()
        .all(|p| p.value.is_none() && p.error.as_deref() == Some("cannot connect")));
    assert_eq!(s.thresholds[0].verdict, Verdict::NoData, "missing, never 0");
}

#[test]
fn resources_blocks_are_checked_at_load() {
    let yaml = "targets:\n  t: { base_url: \"http://127.0.0.1:9\" }\nplans:\n  p:\n    target: t\n    load: { phases: [{ duration: 1s, rate: 1 }] }\n    resources: { prometheus: \"http://127.0.0.1:9090\" }\n    scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }]\n    thresholds:\n      - { metric: node.cpu, expr: \"max < 0.5\" }\n      - { metric: target.memory, expr: \"max < lots\" }\n  q:\n    target: t\n    load: { phases: [{ duration: 1s, rate: 1 }] }\n    resources: { prometheus: \"http://127.0.0.1:9090\", kubernetes: { namespace: shop, pods: \"api-(\" } }\n    scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }]\n";
    let err = loadpacer::config::load_str(yaml, "r.yaml", None, &|_| None)
        .unwrap_err()
        .to_string();
    for expected in [
        "plans.p.resources: name what to watch",
        "plans.p.thresholds[0].metric: \"node.cpu\" is not read: it needs a `resources` block with `nodes`",
        "plans.p.thresholds[1].expr: limit \"lots\" must be a number (or a size such as 512MB)",
        "plans.q.resources.kubernetes.pods: \"api-(\" is not a valid regex",
    ] {
        assert!(err.contains(expected), "{expected}\n---\n{err}");
    }
    for line in err.lines() {
        assert!(
            line.starts_with("r.yaml:") && !line.starts_with("r.yaml:0:"),
            "{line}"
        );
    }
}
