//! `config.ensure` (and the `ensure` plugin) → thresholds.

use super::super::script::Ensure;
use super::Out;
use crate::config::error::Collector;
use crate::config::raw::S;
use serde_json::Value;

/// `ensure`: latency percentiles in milliseconds and the error rate in percent.
pub(super) fn thresholds(out: &mut Out, e: &S<Ensure>, c: &mut Collector) {
    let at = e.referenced;
    let mut rows = Vec::new();
    let e = &e.value;
    for (agg, v) in [
        ("p(95)", e.p95),
        ("p(99)", e.p99),
        ("max", e.max),
        ("p(50)", e.median),
    ] {
        if let Some(ms) = v {
            rows.push(format!("{{ metric: latency, expr: \"{agg} < {ms}ms\" }}"));
        }
    }
    if let Some(pct) = e.max_error_rate {
        rows.push(format!(
            "{{ metric: errors, expr: \"rate <= {}\" }}",
            pct / 100.0
        ));
    }
    for t in &e.thresholds {
        for (metric, limit) in t {
            let agg = metric.strip_prefix("http.response_time.").map(|q| match q {
                "median" => "p(50)".to_string(),
                "max" => "max".into(),
                "min" => "min".into(),
                "mean" => "avg".into(),
                p => format!("p({})", p.trim_start_matches('p')),
            });
            match agg {
                Some(agg) => rows.push(format!(
                    "{{ metric: latency, expr: \"{agg} < {limit}ms\" }}"
                )),
                None => c.warn_at(
                    &at,
                    "ensure.thresholds",
                    format!("{metric}: not translated (only http.response_time.* is)"),
                ),
            }
        }
    }
    for (i, cond) in e.conditions.iter().enumerate() {
        rows.extend(ensure_condition(
            cond,
            &format!("ensure.conditions[{i}]"),
            c,
        ));
    }
    if rows.is_empty() {
        return;
    }
    out.line(4, "thresholds:", at);
    for r in rows {
        out.line(6, &format!("- {r}"), at);
    }
}

/// One `ensure.conditions` entry: `expression` of comparisons joined by `and` on
/// `http.response_time.*` (ms), `http.request_rate` or `http.requests`, each a threshold. A
/// condition with `strict: false` only reports in Artillery, and anything else (`or`, `not`,
/// other metrics) is a warning: left out rather than judged differently.
fn ensure_condition(cond: &S<Value>, path: &str, c: &mut Collector) -> Vec<String> {
    let at = cond.referenced;
    let expression = cond.value.get("expression").and_then(Value::as_str);
    let strict = cond
        .value
        .get("strict")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let Some(expression) = expression.filter(|_| strict) else {
        c.warn_at(&at, path, if strict { "not translated: a condition needs an `expression`" } else { "not translated: a `strict: false` condition only reports in Artillery, and a loadpacer threshold always judges" });
        return Vec::new();
    };
    let mut rows = Vec::new();
    for clause in expression.split(" and ") {
        let row = clause_threshold(clause.trim());
        match row {
            Some(r) => rows.push(r),
            None => {
                c.warn_at(&at, path, format!("{expression:?} is not translated: loadpacer translates comparisons joined by `and` on http.response_time.* (ms), http.request_rate and http.requests; write the rest as loadpacer thresholds"));
                return Vec::new();
            }
        }
    }
    rows
}

/// `http.response_time.p95 < 200` → a threshold row; `None` for what has no equivalent.
fn clause_threshold(clause: &str) -> Option<String> {
    let op = ["<=", ">=", "<", ">"]
        .into_iter()
        .find(|op| clause.contains(op))?;
    let (metric, value) = clause.split_once(op)?;
    let value: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
    let metric = metric.trim();
    if let Some(q) = metric.strip_prefix("http.response_time.") {
        let agg = match q {
            "median" => "p(50)".to_string(),
            "max" | "min" => q.to_string(),
            "mean" => "avg".into(),
            "p999" => "p(99.9)".into(),
            p => {
                let n: u32 = p.strip_prefix('p')?.parse().ok()?;
                format!("p({n})")
            }
        };
        return Some(format!(
            "{{ metric: latency, expr: \"{agg} {op} {value}ms\" }}"
        ));
    }
    let agg = match metric {
        "http.request_rate" => "rate",
        "http.requests" => "count",
        _ => return None,
    };
    Some(format!(
        "{{ metric: requests, expr: \"{agg} {op} {value}\" }}"
    ))
}
