//! User-defined metrics: declared, fed from real responses of a loopback target, judged by
//! thresholds, exported on a live `/metrics` that promtool accepts, and in the reports.

use crate::support;

use loadpacer::demo::DemoOptions;
use loadpacer::report::summary::Outcome;
use loadpacer::run::RunOptions;

const METRICS: &str = "    metrics:\n      orders_created: { type: counter, help: \"Orders the shop accepted\" }\n      order_id: { type: trend, help: \"Ids handed out\", buckets: [10, 100, 1000] }\n      accepted: { type: rate, help: \"Orders whose checks all passed\" }\n      submit_latency: { type: trend, unit: seconds, help: \"Time to accept an order\" }\n      last_page: { type: gauge, help: \"Page number last read\" }\n      pages: { type: counter, help: \"Reads per page\", label: page, max_label_values: 3 }\n";

fn plan(base: &str, thresholds: &str) -> String {
    format!(
        "targets:\n  t: {{ base_url: \"{base}\" }}\nplans:\n  p:\n    target: t\n    load: {{ vus: [{{ duration: 2s, target: 1 }}] }}\n{METRICS}    setup:\n      - request: {{ name: login, method: POST, url: /auth/login, json: {{ user: a }} }}\n        capture: {{ token: \"$.token\" }}\n    scenarios:\n      - name: s\n        steps:\n          - request: {{ name: order, method: POST, url: /orders, headers: {{ Authorization: \"Bearer {{{{ token }}}}\" }} }}\n            check: {{ status: 201 }}\n            record:\n              - {{ metric: orders_created }}\n              - {{ metric: order_id, json: \"$.id\" }}\n              - {{ metric: accepted, from: checks }}\n              - {{ metric: submit_latency, from: latency }}\n          - request: {{ name: page, url: \"/products?page={{{{ iteration }}}}\" }}\n            capture: {{ page: \"$.page\" }}\n            record:\n              - {{ metric: last_page, value: \"{{{{ page }}}}\" }}\n              - {{ metric: pages, label: \"{{{{ page }}}}\" }}\n          - think: 20ms\n    thresholds:\n{thresholds}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_metrics_are_measured_judged_exported_and_reported() {
    let t = support::demo_target(DemoOptions::default()).await;
    let thresholds = "      - { metric: accepted, expr: \"rate > 0.99\" }\n      - { metric: submit_latency, expr: \"p(95) < 5s\" }\n      - { metric: orders_created, expr: \"count >= 5\" }\n      - { metric: last_page, expr: \"max < 3\" }\n";
    let metrics = loadpacer::metrics::Metrics::default();
    let s = support::run_observed(
        &plan(&t.url(), thresholds),
        None,
        RunOptions::default(),
        Some(&metrics),
    )
    .await;
    let orders = s.requests.iter().find(|r| r.name == "order").unwrap().count;
    let pages = s.requests.iter().find(|r| r.name == "page").unwrap().count;
    assert!(orders >= 10, "{orders}");
    let m = |name: &str| s.custom_metrics.iter().find(|m| m.name == name).unwrap();
    assert_eq!(m("orders_created").total, Some(orders as f64));
    assert_eq!(m("accepted").ratio, Some(1.0));
    assert_eq!(m("order_id").count, orders);
    // The demo hands out ids 1, 2, 3, …: the largest is the number of orders.
    assert_eq!(m("order_id").max, Some(orders as f64));
    let p95 = m("submit_latency").p95.unwrap();
    assert!(p95 > 0.0 && p95 < 1.0, "seconds: {p95}");
    assert_eq!(m("last_page").last, Some((pages - 1) as f64));
    // The labelled counter keeps 3 values (pages 0, 1, 2) and counts the rest as other.
    let by = &m("pages").by_label;
    assert_eq!(by.len(), 4, "{by:?}");
    assert_eq!(by.get("0"), Some(&1.0));
    assert_eq!(by.get("other"), Some(&((pages - 3) as f64)));
    // Thresholds on them pass and fail: the last page read is far beyond 3.
    let verdicts: Vec<_> = s
        .thresholds
        .iter()
        .map(|t| (t.metric.as_str(), t.verdict))
        .collect();
    use loadpacer::judge::Verdict::{Fail, Pass};
    assert_eq!(
        verdicts,
        [
            ("accepted", Pass),
            ("submit_latency", Pass),
            ("orders_created", Pass),
            ("last_page", Fail)
        ]
    );
    assert_eq!(s.result, Outcome::Failed);

    // Live /metrics: documented names, valid for promtool, the same figures.
    let text = metrics.render();
    support::promtool_check_metrics(&text);
    for series in [
        format!("loadpacer_custom_orders_created_total{{plan=\"p\"}} {orders}"),
        format!("loadpacer_custom_accepted_total{{plan=\"p\",outcome=\"true\"}} {orders}"),
        "loadpacer_custom_accepted_total{plan=\"p\",outcome=\"false\"} 0".into(),
        format!("loadpacer_custom_order_id_count{{plan=\"p\"}} {orders}"),
        "loadpacer_custom_order_id_bucket{plan=\"p\",le=\"10\"} 10".into(),
        format!("loadpacer_custom_submit_latency_seconds_count{{plan=\"p\"}} {orders}"),
        format!("loadpacer_custom_last_page{{plan=\"p\"}} {}", pages - 1),
        "loadpacer_custom_pages_total{plan=\"p\",page=\"2\"} 1".into(),
        format!(
            "loadpacer_custom_pages_total{{plan=\"p\",page=\"other\"}} {}",
            pages - 3
        ),
        "# HELP loadpacer_custom_orders_created_total Orders the shop accepted".into(),
    ] {
        assert!(text.contains(&series), "{series}\n{text}");
    }

    // Every report shows them.
    let console = loadpacer::report::console::render(&s);
    assert!(
        console.contains(&format!(
            "orders_created               counter  total {orders}"
        )),
        "{console}"
    );
    let html = loadpacer::report::html::render(&s);
    assert!(html.contains("id=\"custom-metrics\"") && html.contains("Orders the shop accepted"));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["custom_metrics"][0]["name"], "accepted");
    support::check_summary_schema(&json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_was_not_captured_is_missing_never_zero() {
    let t = support::demo_target(DemoOptions::default()).await;
    // `$.nope` captures nothing: the gauge has no data, its threshold says so.
    let yaml = plan(
        &t.url(),
        "      - { metric: last_page, expr: \"max < 1000\" }\n",
    )
    .replace(
        "capture: { page: \"$.page\" }",
        "capture: { page: \"$.nope\" }",
    );
    let s = support::run_plan(&yaml, None, RunOptions::default()).await;
    let g = s
        .custom_metrics
        .iter()
        .find(|m| m.name == "last_page")
        .unwrap();
    assert_eq!((g.count, g.last), (0, None));
    assert!(g.invalid > 0);
    assert!(g.describe().contains("no data"), "{}", g.describe());
    assert_eq!(s.thresholds[0].verdict, loadpacer::judge::Verdict::NoData);
    assert_ne!(s.result, Outcome::Passed);
}

#[test]
fn custom_metric_errors_are_located() {
    let yaml = "targets:\n  t: { base_url: \"http://127.0.0.1:9\" }\nplans:\n  p:\n    target: t\n    load: { phases: [{ duration: 1s, rate: 1 }] }\n    metrics:\n      depth: { type: gauge, help: \"Queue depth\" }\n      Bad-Name: { type: counter, help: x }\n      lat: { type: histogram, help: x }\n    scenarios:\n      - name: s\n        steps:\n          - request: { name: r, url: / }\n            record:\n              - { metric: depht, json: \"$.d\" }\n              - { metric: depth, value: \"{{ later }}\" }\n              - { metric: depth }\n          - request: { name: r2, url: / }\n            capture: { later: \"$.x\" }\n    thresholds:\n      - { metric: queue, expr: \"max < 1\" }\n      - { metric: depth, expr: \"rate < 1\" }\n    monitors: { m1: { url: \"http://127.0.0.1:9/x\", jsonpath: \"$.x\", metric: Bad-Name } }\n  q:\n    target: t\n    load: { phases: [{ duration: 1s, rate: 1 }] }\n    metrics: { depth: { type: counter, help: other } }\n    scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }]\n";
    let err = loadpacer::config::load_str(yaml, "m.yaml", None, &|_| None)
        .unwrap_err()
        .to_string();
    for expected in [
        "m.yaml:9:7: plans.p.metrics.Bad-Name: metric name \"Bad-Name\" must match",
        "m.yaml:10:20: plans.p.metrics.lat.type: \"histogram\" must be counter, trend, rate or gauge",
        "plans.p.scenarios[0].steps[0].record[0].metric: \"depht\" is not declared in the plan's `metrics`; did you mean \"depth\"?",
        "plans.p.scenarios[0].steps[0].record[1].value: variable \"later\" is not defined here",
        "plans.p.scenarios[0].steps[0].record[2]: a gauge needs a `value`, `json` or `from`",
        "plans.p.thresholds[0].metric: unknown metric \"queue\"",
        "plans.p.thresholds[1].expr: aggregation \"rate\" does not apply to a gauge",
        "plans.q.metrics.depth: metric \"depth\" is declared by plan \"p\" with another type",
        "plans.p.monitors.m1.metric: a monitor feeds a gauge or a trend; \"Bad-Name\" is a counter",
    ] {
        assert!(err.contains(expected), "{expected}\n---\n{err}");
    }
    for line in err.lines() {
        assert!(
            line.starts_with("m.yaml:") && !line.starts_with("m.yaml:0:"),
            "located: {line}"
        );
    }
}
