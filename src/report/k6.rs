//! A run's summary in the shape k6 hands `handleSummary(data)`: its built-in metrics by k6's
//! names, the script's own metrics, the checks in their groups, and the run's state.

use super::summary::Summary;
use crate::config::custom::{CustomKind, CustomUnit};
use serde_json::{json, Map, Value};

/// `data` for `handleSummary(data)`.
pub fn summary_data(s: &Summary) -> Value {
    let t = &s.totals;
    let mut metrics = Map::new();
    let counter = |count: f64, secs: f64| json!({ "type": "counter", "contains": "default", "values": { "count": count, "rate": count / secs.max(1e-9) } });
    let rate = |passes: u64, fails: u64| {
        let n = passes + fails;
        json!({ "type": "rate", "contains": "default", "values": {
            "rate": if n == 0 { 0.0 } else { passes as f64 / n as f64 }, "passes": passes, "fails": fails } })
    };
    metrics.insert("http_reqs".into(), counter(t.requests as f64, s.duration_s));
    metrics.insert(
        "iterations".into(),
        counter(t.iterations as f64, s.duration_s),
    );
    metrics.insert(
        "http_req_failed".into(),
        rate(t.errors, t.requests - t.errors),
    );
    metrics.insert("checks".into(), rate(t.checks_passed, t.checks_failed));
    if t.dropped_iterations > 0 {
        metrics.insert(
            "dropped_iterations".into(),
            counter(t.dropped_iterations as f64, s.duration_s),
        );
    }
    if t.requests > 0 {
        let l = &t.latency;
        metrics.insert(
            "http_req_duration".into(),
            json!({ "type": "trend", "contains": "time", "values": {
            "avg": l.avg_ms, "min": l.min_ms, "med": l.p50_ms, "max": l.max_ms,
            "p(90)": l.p90_ms, "p(95)": l.p95_ms, "p(99)": l.p99_ms } }),
        );
    }
    for m in &s.custom_metrics {
        let scale = if m.unit == CustomUnit::Seconds {
            1000.0
        } else {
            1.0
        };
        let v = |x: Option<f64>| x.map(|x| x * scale);
        let value = match m.kind {
            CustomKind::Counter => counter(m.total.unwrap_or(0.0), s.duration_s),
            CustomKind::Rate => {
                let passes = (m.ratio.unwrap_or(0.0) * m.count as f64).round() as u64;
                rate(passes, m.count - passes.min(m.count))
            }
            CustomKind::Gauge => json!({ "type": "gauge", "contains": "default", "values": {
                "value": m.last, "min": m.min, "max": m.max } }),
            CustomKind::Trend => json!({ "type": "trend",
                "contains": if scale > 1.0 { "time" } else { "default" }, "values": {
                "avg": v(m.avg), "min": v(m.min), "med": v(m.p50), "max": v(m.max),
                "p(95)": v(m.p95), "p(99)": v(m.p99) } }),
        };
        metrics.insert(m.name.clone(), value);
    }
    json!({
        "metrics": metrics,
        "root_group": groups(s),
        "options": { "summaryTrendStats": ["avg", "min", "med", "max", "p(90)", "p(95)"], "summaryTimeUnit": "", "noColor": true },
        "state": { "isStdOutTTY": false, "isStdErrTTY": false, "testRunDurationMs": s.duration_s * 1000.0 },
        "loadpacer": { "result": s.result, "reasons": s.reasons },
    })
}

/// The checks, each in its group (`::a::b::name` is check `name` in group `b` in `a`).
fn groups(s: &Summary) -> Value {
    let mut root = json!({ "name": "", "path": "", "groups": [], "checks": [] });
    for c in &s.checks {
        let mut parts: Vec<&str> = c.name.split("::").collect();
        let name = parts.pop().unwrap_or_default();
        let mut node = &mut root;
        let mut path = String::new();
        for g in parts.into_iter().filter(|g| !g.is_empty()) {
            path = format!("{path}::{g}");
            let groups = node["groups"].as_array_mut().expect("groups is an array");
            let i = match groups.iter().position(|x| x["name"] == g) {
                Some(i) => i,
                None => {
                    groups.push(json!({ "name": g, "path": path, "groups": [], "checks": [] }));
                    groups.len() - 1
                }
            };
            node = &mut node["groups"][i];
        }
        node["checks"]
            .as_array_mut()
            .expect("checks is an array")
            .push(json!({ "name": name, "path": format!("{path}::{name}"), "passes": c.passed, "fails": c.failed }));
    }
    root
}
