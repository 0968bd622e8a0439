//! Monitors over time: every poll recorded as a series (a failed one as a gap with its
//! reason, never 0), charted in the HTML report, exported as a gauge on `/metrics`.

use crate::support;

use loadpacer::demo::DemoOptions;
use loadpacer::run::RunOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_values_are_a_series_with_gaps_and_a_live_gauge() {
    let t = support::demo_target(DemoOptions::default()).await;
    // Nothing listens on a port we bound and closed: every poll of `gone` fails to connect.
    let closed = support::closed_port();
    let yaml = format!(
        "targets:\n  t: {{ base_url: \"{url}\" }}\nplans:\n  p:\n    target: t\n    load: {{ phases: [{{ duration: 3s, rate: 20 }}] }}\n    metrics: {{ orders_seen: {{ type: gauge, help: \"Orders the shop reports\" }} }}\n    monitors:\n      orders: {{ url: \"{url}/stats\", jsonpath: \"$.orders\", every: 250ms, metric: orders_seen }}\n      gone: {{ url: \"http://{closed}/stats\", jsonpath: \"$.orders\", every: 250ms }}\n    thresholds: [{{ metric: monitor.gone, expr: \"max < 10\" }}, {{ metric: orders_seen, expr: \"max > 30\" }}]\n    setup:\n      - request: {{ name: login, method: POST, url: /auth/login, json: {{ user: a }} }}\n        capture: {{ token: \"$.token\" }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: order, method: POST, url: /orders, headers: {{ Authorization: \"Bearer {{{{ token }}}}\" }} }} }}] }}]\n",
        url = t.url()
    );
    let metrics = loadpacer::metrics::Metrics::default();
    let s = support::run_observed(&yaml, None, RunOptions::default(), Some(&metrics)).await;
    let r = s.resources.as_ref().unwrap();
    let m = |name: &str| r.monitors.iter().find(|m| m.name == name).unwrap();

    // The queue of orders grows during the run: the series shows it, poll by poll.
    let orders = m("orders");
    assert!(orders.series.len() >= 8, "{:?}", orders.series);
    let values: Vec<f64> = orders.series.iter().map(|p| p.value.unwrap()).collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
    assert!(values.last().unwrap() - values[0] >= 30.0, "{values:?}");
    assert!(orders.series.windows(2).all(|w| w[0].t_s < w[1].t_s));

    // A monitor that cannot be read: missing with the reason, never 0; its threshold has
    // no data, so the run does not pass.
    let gone = m("gone");
    assert_eq!(gone.value.samples, 0);
    assert!(gone.errors >= 8 && gone.series.len() as u64 == gone.errors);
    assert!(gone
        .series
        .iter()
        .all(|p| p.value.is_none() && p.error.as_deref() == Some("cannot connect")));
    assert_eq!(s.thresholds[0].verdict, loadpacer::judge::Verdict::NoData);
    // The monitor fed a declared gauge: judged, reported and exported as that metric.
    assert_eq!(s.thresholds[1].verdict, loadpacer::judge::Verdict::Pass);
    let fed = &s.custom_metrics[0];
    assert_eq!(fed.count, orders.series.len() as u64);
    assert_eq!(fed.last, Some(*values.last().unwrap()));
    assert_ne!(s.result, loadpacer::report::summary::Outcome::Passed);

    // /metrics: the last value of `orders`, no value for `gone`, and its failed polls.
    let text = metrics.render();
    support::promtool_check_metrics(&text);
    assert!(
        text.contains("loadpacer_monitor_value{plan=\"p\",monitor=\"orders\"} "),
        "{text}"
    );
    assert!(!text.contains("loadpacer_monitor_value{plan=\"p\",monitor=\"gone\"}"));
    assert!(
        text.contains(&format!(
            "loadpacer_custom_orders_seen{{plan=\"p\"}} {}",
            values.last().unwrap()
        )),
        "{text}"
    );
    let errors = format!(
        "loadpacer_monitor_errors_total{{plan=\"p\",monitor=\"gone\"}} {}",
        gone.errors
    );
    assert!(text.contains(&errors), "{errors}\n{text}");

    // Reports: a chart per monitor with the gaps explained, and a console line each.
    let html = loadpacer::report::html::render(&s);
    assert!(html.contains("id=\"monitor-orders\""));
    assert!(html.contains("polls failed (gaps in the line): cannot connect"));
    let console = loadpacer::report::console::render(&s);
    assert!(
        console.contains(&format!(
            "monitor gone: no value, {} failed (last: cannot connect)",
            gone.errors
        )),
        "{console}"
    );
    support::check_summary_schema(&s);
}
