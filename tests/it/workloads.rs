//! Concurrent workloads in one run: each follows its own shape, against real loopback
//! targets, and is reported on its own and in total.

use crate::support;

use loadpacer::demo::DemoOptions;
use loadpacer::report::summary::Outcome;
use loadpacer::run::plan::Segment;
use loadpacer::run::RunOptions;

fn opts(segment: Segment) -> RunOptions {
    RunOptions {
        workers: 2,
        segment,
        ..Default::default()
    }
}

/// A steady open-model load, a closed-model ramp to 6 VUs, and a spike that starts 1 s in,
/// the spike on a second target.
fn three_workloads(main: &str, other: &str) -> String {
    format!(
        "targets:\n  main: {{ base_url: \"{main}\" }}\n  other: {{ base_url: \"{other}\" }}\nplans:\n  p:\n    target: main\n    workloads:\n      steady:\n        load: {{ phases: [{{ duration: 4s, rate: 40 }}] }}\n        scenarios: [{{ name: browse, steps: [{{ request: {{ name: home, url: \"/?vu={{{{ vu }}}}\" }} }}] }}]\n      ramp:\n        load: {{ vus: [{{ duration: 1s, target: 6 }}, {{ duration: 3s, target: 6 }}] }}\n        scenarios: [{{ name: shop, steps: [{{ request: {{ name: products, url: /products }} }}, {{ think: 100ms }}] }}]\n      spike:\n        target: other\n        start: 1s\n        load: {{ phases: [{{ duration: 2s, rate: 50 }}] }}\n        scenarios: [{{ name: burst, steps: [{{ request: {{ name: health, url: /health }}, check: {{ status: 200 }} }}] }}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workloads_run_at_once_each_following_its_own_shape() {
    let main = support::demo_target(DemoOptions::default()).await;
    let other = support::demo_target(DemoOptions::default()).await;
    let yaml = three_workloads(&main.url(), &other.url());
    let metrics = loadpacer::metrics::Metrics::default();
    let s = support::run_observed(&yaml, None, opts(Segment::WHOLE), Some(&metrics)).await;
    assert_eq!(s.result, Outcome::Passed, "{:?}", s.reasons);
    assert_eq!(s.load.model.as_str(), "mixed");
    // On /metrics: per-workload counters that add up to the summary, valid for promtool.
    let text = metrics.render();
    support::promtool_check_metrics(&text);
    for (name, n) in [("steady", 160), ("spike", 100)] {
        let series =
            format!("loadpacer_workload_requests_total{{plan=\"p\",workload=\"{name}\"}} {n}");
        assert!(text.contains(&series), "{series}\n{text}");
    }
    assert!(
        text.contains("loadpacer_workload_vus{plan=\"p\",workload=\"ramp\"} 0"),
        "reset at the end"
    );
    let w = |name: &str| s.workloads.iter().find(|w| w.name == name).unwrap();
    // Open-model workloads: exactly their arrivals (4 s × 40/s, 2 s × 50/s), as in the
    // single-workload accuracy tests.
    assert_eq!(w("steady").requests, 160, "{:?}", w("steady"));
    assert_eq!(w("spike").requests, 100, "{:?}", w("spike"));
    assert_eq!(w("spike").target, Some(format!("{}/", other.url())));
    assert_eq!(w("spike").start_s, 1.0);
    assert!(
        (w("spike").rps - 50.0).abs() < 2.0,
        "over the 2 s it ran: {:?}",
        w("spike")
    );
    // The closed-model ramp: 6 VUs, each ~ one request per 100 ms think time.
    let ramp = w("ramp");
    assert!(
        (100..=260).contains(&ramp.requests),
        "6 VUs for ~3.5 s at ~10 req/s each: {ramp:?}"
    );
    assert_eq!(
        s.totals.requests,
        s.workloads.iter().map(|w| w.requests).sum::<u64>()
    );
    // Per window, each workload follows its own schedule, in the same run.
    let idx = |name: &str| s.workloads.iter().position(|w| w.name == name).unwrap();
    let (steady, ramp_i, spike) = (idx("steady"), idx("ramp"), idx("spike"));
    let full: Vec<_> = s
        .windows
        .iter()
        .filter(|p| p.workloads.len() == 3 && p.width_s > 0.9)
        .collect();
    assert!(full.len() >= 3, "{:?}", s.windows);
    for p in &full {
        let t = p.t_s;
        assert_eq!(p.workloads[steady].target, if t < 4.0 { 40.0 } else { 0.0 });
        let spike_on = (1.0..3.0).contains(&t);
        assert_eq!(
            p.workloads[spike].target,
            if spike_on { 50.0 } else { 0.0 },
            "at {t}"
        );
        if (1.5..3.5).contains(&t) {
            assert_eq!(p.workloads[ramp_i].target, 6.0, "at {t}");
            assert!(
                (5..=6).contains(&p.workloads[ramp_i].in_flight),
                "6 VUs active at {t}: {:?}",
                p.workloads[ramp_i]
            );
        }
        if (2.0..3.0).contains(&t) {
            let n = p.workloads[spike].requests;
            assert!((45..=55).contains(&n), "spike at {t}: {n}/s");
        }
        if t < 1.0 {
            assert_eq!(
                p.workloads[spike].requests, 0,
                "the spike waits for its start"
            );
        }
    }
    // Reports show each workload.
    let text = loadpacer::report::console::render(&s);
    for name in ["steady", "ramp", "spike"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(name) && !l.contains("mixed")),
            "{text}"
        );
    }
    support::check_summary_schema(&s);
    let html = loadpacer::report::html::render(&s);
    assert!(html.contains("id=\"workloads\"") && html.contains("id=\"workloads-chart\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_divide_every_workload() {
    let main = support::demo_target(DemoOptions::default()).await;
    let other = support::demo_target(DemoOptions::default()).await;
    let yaml = three_workloads(&main.url(), &other.url());
    let (a, b) = tokio::join!(
        support::run_plan(&yaml, None, opts(Segment::parse("1/2").unwrap())),
        support::run_plan(&yaml, None, opts(Segment::parse("2/2").unwrap())),
    );
    for name in ["steady", "spike"] {
        let n = |s: &loadpacer::report::Summary| {
            s.workloads
                .iter()
                .find(|w| w.name == name)
                .unwrap()
                .requests
        };
        let whole = if name == "steady" { 160 } else { 100 };
        assert_eq!(n(&a) + n(&b), whole, "{name}");
        assert!(n(&a).abs_diff(n(&b)) <= 1, "{name}: {} vs {}", n(&a), n(&b));
    }
}

#[test]
fn workload_errors_are_located() {
    let yaml = "targets:\n  t: { base_url: \"http://127.0.0.1:9\" }\nlimits: { max_rps: 100 }\nplans:\n  p:\n    target: t\n    load: { phases: [{ duration: 1s, rate: 1 }] }\n    workloads:\n      a:\n        load: { phases: [{ duration: 10s, rate: 60 }] }\n        scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }]\n      b:\n        start: 5s\n        target: tt\n        load: { phases: [{ duration: 10s, rate: 60 }] }\n        scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }]\n      c:\n        scenarios: [{ name: c, steps: [{ request: { name: r, url: / } }] }]\n";
    let err = loadpacer::config::load_str(yaml, "w.yaml", None, &|_| None)
        .unwrap_err()
        .to_string();
    for expected in [
        "plans.p.workloads: a plan has either `load` and `scenarios` or `workloads`",
        "w.yaml:14:17: plans.p.workloads.b.target: \"tt\" is not a defined target; did you mean \"t\"?",
        "plans.p.workloads.b.scenarios[0].name: scenario name \"s\" is already used in workload \"a\"",
        "plans.p.workloads.c.load: is required",
    ] {
        assert!(err.contains(expected), "{expected}\n---\n{err}");
    }
    // Every message is located (line:column), also those found after parsing.
    for line in err.lines().filter(|l| l.contains("plans.p.workloads")) {
        assert!(line.starts_with("w.yaml:"), "{line}");
        assert!(!line.starts_with("w.yaml:0:"), "{line}");
    }
    // Without the faulty parts, the overlap of a and b (60 + 60 between 5 s and 10 s) is over
    // the cap of 100/s; apart, they fit.
    let overlap = yaml
        .replace("    load: { phases: [{ duration: 1s, rate: 1 }] }\n", "")
        .replace("        target: tt\n", "")
        .replace("scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }]\n      c:\n        scenarios: [{ name: c, steps: [{ request: { name: r, url: / } }] }]\n", "scenarios: [{ name: s2, steps: [{ request: { name: r, url: / } }] }]\n");
    let err = loadpacer::config::load_str(&overlap, "w.yaml", None, &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plans.p.workloads: peak rate 120 exceeds limits.max_rps (100)"),
        "{err}"
    );
    let apart = overlap.replace("start: 5s", "start: 10s");
    let cfg = loadpacer::config::load_str(&apart, "w.yaml", None, &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.plans[0].duration().as_secs(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhooks_example_runs_clean_against_the_demo_target() {
    let t = support::demo_target(DemoOptions::default()).await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut yaml = std::fs::read_to_string(root.join("config/examples/webhooks.yaml"))
        .unwrap()
        .replace("http://127.0.0.1:18080", &t.url());
    // The same plan, shorter: 3 s instead of 30.
    for (long, short) in [
        ("duration: 30s, rate: 20", "duration: 3s, rate: 20"),
        (
            "{ duration: 10s, target: 20 }",
            "{ duration: 1s, target: 4 }",
        ),
        (
            "{ duration: 20s, target: 20 }",
            "{ duration: 2s, target: 4 }",
        ),
        ("start: 12s", "start: 1s"),
        ("duration: 5s, rate: 200", "duration: 1s, rate: 50"),
        ("every: 1s", "every: 300ms"),
    ] {
        assert!(yaml.contains(long), "{long}");
        yaml = yaml.replace(long, short);
    }
    let s = support::run_plan(&yaml, None, opts(Segment::WHOLE)).await;
    assert_eq!(
        s.result,
        Outcome::Passed,
        "{:?} {:?}",
        s.reasons,
        s.thresholds
    );
    let w = |name: &str| s.workloads.iter().find(|w| w.name == name).unwrap();
    assert_eq!(w("steady").requests, 60);
    assert_eq!(w("spike").requests, 50);
    assert!(w("ramp").requests >= 20, "{:?}", w("ramp"));
    let deliveries = w("steady").requests + w("spike").requests + w("ramp").requests;
    // Each VU logged in once; the hooks were created, used and deleted again.
    let logins = s.requests.iter().find(|r| r.name == "login").unwrap();
    assert!(logins.count >= 4 && logins.count < deliveries, "{logins:?}");
    let td = s.teardown.as_ref().unwrap();
    assert!(td.passed, "{td:?}");
    assert!(td
        .requests
        .iter()
        .all(|r| r.statuses.get("204") == Some(&1)));
    let stats = support::get_json(&format!("{}/stats", t.url())).await;
    assert_eq!(stats["hooks"], 0, "teardown deleted every hook: {stats}");
    // Its own metrics, and the queue over time.
    let m = |name: &str| s.custom_metrics.iter().find(|m| m.name == name).unwrap();
    assert_eq!(m("webhook_success_rate").ratio, Some(1.0));
    let nodes = &m("answered_by").by_label;
    assert_eq!(
        nodes.keys().collect::<Vec<_>>(),
        ["node-a", "node-b", "node-c"]
    );
    assert_eq!(nodes.values().sum::<f64>(), deliveries as f64);
    assert_eq!(m("submit_latency").count, deliveries);
    let queue = &s.resources.as_ref().unwrap().monitors[0];
    assert!(queue.series.len() >= 5, "{queue:?}");
}
