//! A k6 script's `options` → the loadpacer plan that runs it: the load of each scenario
//! (every k6 executor but `externally-controlled`), its thresholds over k6's metric names, and
//! its custom metrics.

use super::Choices;
use crate::script::{MetricDecl, Program};
use serde_json::Value;
use std::fmt::Write as _;

/// What the translation gives: the plan's YAML, the scenario functions in order, and what
/// deserves a word.
pub struct Translated {
    pub yaml: String,
    pub warnings: Vec<(String, String)>,
    /// Thresholds on one request name (`http_req_duration{name:login}`): a script names its
    /// requests as it runs, so these are added to the plan after it validates.
    pub named_thresholds: Vec<Row>,
    /// Each scenario's name and the function it calls (`exec`).
    pub functions: Vec<(String, String)>,
}

/// One threshold: loadpacer's metric and expression.
pub struct Row {
    pub metric: String,
    pub expr: String,
    pub abort: bool,
    pub delay: Option<String>,
}

/// An option that cannot run: the option's path and the rule.
pub struct OptionError {
    pub path: String,
    pub message: String,
}

/// k6's default `maxDuration` of iteration-based executors.
const MAX_DURATION: &str = "10m";

/// One k6 scenario as a loadpacer workload.
struct Workload {
    name: String,
    function: String,
    load: String,
    start: Option<String>,
}

pub fn translate(
    program: &Program,
    plan: &str,
    base_url: &str,
    choices: &Choices,
) -> Result<Translated, Vec<OptionError>> {
    let o = &program.options;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let workloads = workloads(o, choices, &mut errors, &mut warnings);
    let (thresholds, named_thresholds) =
        thresholds(o, &program.metrics, &mut errors, &mut warnings);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut y = String::new();
    let _ = writeln!(y, "# Generated from the k6 script {}", program.entry);
    let _ = writeln!(y, "targets:\n  script:\n    base_url: {}", quote(base_url));
    // Redirects are followed by the script's `http` module, hop by hop with the VU's cookie
    // jar, as k6 does (each hop is a request of its own); the transport follows none.
    let _ = writeln!(
        y,
        "    transport: pooled\n    timeout: 60s\n    max_redirects: 0"
    );
    let _ = writeln!(y, "plans:\n  {}:\n    target: script", quote(plan));
    let _ = writeln!(
        y,
        "    teardown_timeout: {}",
        duration_of(o.get("teardownTimeout")).unwrap_or_else(|| "60s".into())
    );
    write_workloads(&mut y, &workloads);
    if !program.metrics.is_empty() {
        let _ = writeln!(y, "    metrics:");
        for m in &program.metrics {
            let unit = if m.is_time { "seconds" } else { "none" };
            let _ = writeln!(
                y,
                "      {}: {{ type: {}, unit: {unit}, help: {} }}",
                quote(&m.name),
                m.kind,
                quote(&format!("k6 {} {} of the script", m.kind, m.name))
            );
        }
    }
    if !thresholds.is_empty() {
        let _ = writeln!(y, "    thresholds:");
        for t in thresholds {
            let mut row = format!("{{ metric: {}, expr: {}", quote(&t.metric), quote(&t.expr));
            if t.abort {
                row.push_str(", abort_on_fail: true");
            }
            if let Some(d) = t.delay {
                let _ = write!(row, ", delay_abort_eval: {d}");
            }
            let _ = writeln!(y, "      - {row} }}");
        }
    }
    Ok(Translated {
        yaml: y,
        warnings,
        named_thresholds,
        functions: workloads
            .into_iter()
            .map(|w| (w.name, w.function))
            .collect(),
    })
}

/// The plan's load and scenarios: one workload as the plan's own, several (or one that starts
/// later) as `workloads`. A scenario's steps are a placeholder the script replaces.
fn write_workloads(y: &mut String, workloads: &[Workload]) {
    if let [w] = workloads {
        if w.start.is_none() {
            let _ = writeln!(y, "    load: {}", w.load);
            let _ = writeln!(
                y,
                "    scenarios:\n      - {{ name: {}, steps: [{{ think: 1ms }}] }}",
                quote(&w.name)
            );
        }
    }
    if workloads.len() > 1 || workloads.iter().any(|w| w.start.is_some()) {
        let _ = writeln!(y, "    workloads:");
        for w in workloads {
            let _ = writeln!(y, "      {}:", quote(&w.name));
            let _ = writeln!(y, "        load: {}", w.load);
            if let Some(s) = &w.start {
                let _ = writeln!(y, "        start: {s}");
            }
            let _ = writeln!(
                y,
                "        scenarios:\n          - {{ name: {}, steps: [{{ think: 1ms }}] }}",
                quote(&w.name)
            );
        }
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// A k6 duration (`"30s"`, `"1m30s"`, a number of milliseconds) as a loadpacer one.
fn duration_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.replace(' ', "")),
        Value::Number(n) => Some(format!("{}ms", n.as_f64()?.max(0.0))),
        _ => None,
    }
}

fn uint(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_f64)
        .filter(|n| *n >= 0.0)
        .map(|n| n as u64)
}

/// The workloads: the command line's `--vus/--duration/--iterations/--stage` over
/// everything; then `scenarios`; then the shortcuts `stages`, `iterations`, `vus`, `duration`.
fn workloads(
    o: &Value,
    choices: &Choices,
    errors: &mut Vec<OptionError>,
    warnings: &mut Vec<(String, String)>,
) -> Vec<Workload> {
    let cli = choices.vus.is_some()
        || choices.duration.is_some()
        || choices.iterations.is_some()
        || !choices.stages.is_empty();
    if !cli {
        if let Some(Value::Object(scenarios)) = o.get("scenarios") {
            if !scenarios.is_empty() {
                return scenarios
                    .iter()
                    .filter_map(|(name, s)| scenario(name, s, errors, warnings))
                    .collect();
            }
        }
    }
    let vus = choices.vus.or_else(|| uint(o.get("vus")));
    let duration = choices
        .duration
        .clone()
        .or_else(|| duration_of(o.get("duration")));
    let iterations = choices.iterations.or_else(|| uint(o.get("iterations")));
    let stages: Vec<(String, u64)> = if !choices.stages.is_empty() {
        choices.stages.clone()
    } else {
        o.get("stages")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| Some((duration_of(s.get("duration"))?, uint(s.get("target"))?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let load = if !stages.is_empty() && !cli_iterations_only(choices) {
        ramping_vus(vus.unwrap_or(1), &stages, o)
    } else {
        match (duration, iterations) {
            (Some(d), None) => format!(
                "{{ target: {}, duration: {d}{} }}",
                vus.unwrap_or(1),
                grace(o)
            ),
            (d, Some(n)) => format!(
                "{{ target: {}, duration: {}, iterations: {n}{} }}",
                vus.unwrap_or(1).min(n.max(1)),
                d.unwrap_or_else(|| MAX_DURATION.into()),
                grace(o)
            ),
            // k6 without any: one VU, one iteration.
            (None, None) => format!(
                "{{ target: 1, duration: {MAX_DURATION}, iterations: 1{} }}",
                grace(o)
            ),
        }
    };
    vec![Workload {
        name: "default".into(),
        function: "default".into(),
        load,
        start: None,
    }]
}

fn cli_iterations_only(c: &Choices) -> bool {
    c.iterations.is_some() && c.stages.is_empty()
}

fn grace(o: &Value) -> String {
    duration_of(o.get("gracefulStop"))
        .map(|g| format!(", graceful_stop: {g}"))
        .unwrap_or_default()
}

/// `ramping-vus`: from `start` VUs through the stages.
fn ramping_vus(start: u64, stages: &[(String, u64)], o: &Value) -> String {
    let mut rows = vec![format!("{{ duration: 0s, target: {start} }}")];
    rows.extend(
        stages
            .iter()
            .map(|(d, t)| format!("{{ duration: {d}, target: {t} }}")),
    );
    format!("{{ vus: [{}]{} }}", rows.join(", "), grace(o))
}

/// One entry of `options.scenarios`.
fn scenario(
    name: &str,
    s: &Value,
    errors: &mut Vec<OptionError>,
    warnings: &mut Vec<(String, String)>,
) -> Option<Workload> {
    let path = format!("options.scenarios.{name}");
    let executor = s.get("executor").and_then(Value::as_str).unwrap_or("");
    let load = match executor {
        "constant-vus" | "ramping-vus" | "shared-iterations" | "per-vu-iterations" => {
            vu_load(executor, s, &path, warnings)
        }
        "constant-arrival-rate" | "ramping-arrival-rate" => arrival_load(executor, s),
        "externally-controlled" => {
            errors.push(OptionError { path: format!("{path}.executor"), message: "externally-controlled is not supported: loadpacer has no REST API to change VUs mid-run; use ramping-vus stages".into() });
            return None;
        }
        other => {
            errors.push(OptionError { path: format!("{path}.executor"), message: format!("{other:?} is not a k6 executor: use constant-vus, ramping-vus, shared-iterations, per-vu-iterations, constant-arrival-rate or ramping-arrival-rate") });
            return None;
        }
    };
    for field in ["env", "tags"] {
        if s.get(field)
            .is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        {
            warnings.push((
                format!("{path}.{field}"),
                format!("scenario `{field}` is not applied yet"),
            ));
        }
    }
    Some(Workload {
        name: name.to_string(),
        function: s
            .get("exec")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string(),
        load,
        start: duration_of(s.get("startTime")).filter(|d| d != "0s"),
    })
}

/// `, graceful_stop: D` from a scenario's `gracefulStop`, or nothing.
fn graceful(s: &Value, field: &str) -> Option<String> {
    s.get(field)
        .and_then(|v| duration_of(Some(v)))
        .map(|g| format!(", graceful_stop: {g}"))
}

/// The closed-model load of a VU executor.
fn vu_load(executor: &str, s: &Value, path: &str, warnings: &mut Vec<(String, String)>) -> String {
    let g = graceful(s, "gracefulStop").unwrap_or_default();
    let vus = uint(s.get("vus")).unwrap_or(1);
    let max_duration = duration_of(s.get("maxDuration")).unwrap_or_else(|| MAX_DURATION.into());
    let n = uint(s.get("iterations")).unwrap_or(1);
    match executor {
        "constant-vus" => format!(
            "{{ target: {vus}, duration: {}{g} }}",
            duration_of(s.get("duration")).unwrap_or_else(|| "0s".into())
        ),
        "ramping-vus" => {
            let g = graceful(s, "gracefulRampDown").unwrap_or(g);
            let start = uint(s.get("startVUs")).unwrap_or(1);
            let mut rows = vec![format!("{{ duration: 0s, target: {start} }}")];
            rows.extend(
                stages_of(s)
                    .iter()
                    .map(|(d, t)| format!("{{ duration: {d}, target: {} }}", *t as u64)),
            );
            format!("{{ vus: [{}]{g} }}", rows.join(", "))
        }
        "shared-iterations" => format!(
            "{{ target: {}, duration: {max_duration}, iterations: {n}{g} }}",
            vus.min(n.max(1))
        ),
        _ => {
            warnings.push((path.to_string(), format!("per-vu-iterations runs {} iterations in all, shared by the {vus} VUs (loadpacer counts iterations per run, not per VU)", n * vus)));
            format!(
                "{{ target: {vus}, duration: {max_duration}, iterations: {}{g} }}",
                n * vus
            )
        }
    }
}

/// The open-model load of an arrival-rate executor: rates per second, at most `maxVUs`
/// (or `preAllocatedVUs`) iterations in flight.
fn arrival_load(executor: &str, s: &Value) -> String {
    let g = graceful(s, "gracefulStop").unwrap_or_default();
    let time_unit = s
        .get("timeUnit")
        .and_then(|v| duration_of(Some(v)))
        .and_then(|t| humantime::parse_duration(&t).ok())
        .map_or(1.0, |d| d.as_secs_f64());
    let max_in_flight = uint(s.get("maxVUs"))
        .or_else(|| uint(s.get("preAllocatedVUs")))
        .unwrap_or(100)
        .max(1);
    if executor == "constant-arrival-rate" {
        let rate = s.get("rate").and_then(Value::as_f64).unwrap_or(0.0) / time_unit;
        let d = duration_of(s.get("duration")).unwrap_or_else(|| "0s".into());
        return format!(
            "{{ phases: [{{ duration: {d}, rate: {rate} }}], max_in_flight: {max_in_flight}{g} }}"
        );
    }
    let mut from = s.get("startRate").and_then(Value::as_f64).unwrap_or(0.0) / time_unit;
    let phases: Vec<String> = stages_of(s)
        .iter()
        .map(|(d, t)| {
            let to = t / time_unit;
            let row = format!("{{ duration: {d}, rate: {from}, ramp_to: {to} }}");
            from = to;
            row
        })
        .collect();
    format!(
        "{{ phases: [{}], max_in_flight: {max_in_flight}{g} }}",
        phases.join(", ")
    )
}

fn stages_of(s: &Value) -> Vec<(String, f64)> {
    s.get("stages")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|st| {
                    Some((
                        duration_of(st.get("duration"))?,
                        st.get("target")?.as_f64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `thresholds` over k6's metric names → loadpacer threshold rows: the plan's, and those on
/// one request name.
fn thresholds(
    o: &Value,
    metrics: &[MetricDecl],
    errors: &mut Vec<OptionError>,
    warnings: &mut Vec<(String, String)>,
) -> (Vec<Row>, Vec<Row>) {
    let Some(Value::Object(map)) = o.get("thresholds") else {
        return (Vec::new(), Vec::new());
    };
    let mut rows = Vec::new();
    let mut named = Vec::new();
    for (key, v) in map {
        let path = format!("options.thresholds.{key}");
        let (metric, filter) = match key.split_once('{') {
            Some((m, rest)) => (m.trim(), Some(rest.trim_end_matches('}'))),
            None => (key.trim(), None),
        };
        let by_request = matches!(
            metric,
            "http_req_duration" | "http_req_waiting" | "http_req_failed" | "http_reqs"
        );
        let request = match filter.map(|f| f.split_once(':').map(|(k, v)| (k.trim(), v.trim()))) {
            None => None,
            Some(Some(("name", n))) if by_request && !n.contains(',') => Some(n.to_string()),
            Some(_) => {
                warnings.push((
                    path.clone(),
                    format!("the tag filter {{{}}} is not applied yet (loadpacer filters http_req_* thresholds by {{name:NAME}}): this threshold is not judged", filter.unwrap_or_default()),
                ));
                continue;
            }
        };
        let Some((target, time)) = metric_of(metric, metrics) else {
            warnings.push((path.clone(), format!("{metric} is not judged by loadpacer yet (it judges http_req_duration, http_req_waiting, http_req_failed, http_reqs, checks, iterations, dropped_iterations and the script's own metrics)")));
            continue;
        };
        let list: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        for item in list {
            let (expr, abort, delay) = match item {
                Value::String(s) => (s.as_str(), false, None),
                Value::Object(t) => (
                    t.get("threshold").and_then(Value::as_str).unwrap_or(""),
                    t.get("abortOnFail")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    duration_of(t.get("delayAbortEval")),
                ),
                _ => ("", false, None),
            };
            match expression(expr, time) {
                Some(e) => {
                    let row = Row {
                        metric: match &request {
                            Some(r) => format!("{target}{{request={r}}}"),
                            None => target.clone(),
                        },
                        expr: e,
                        abort,
                        delay,
                    };
                    if request.is_some() {
                        named.push(row);
                    } else {
                        rows.push(row);
                    }
                }
                None => errors.push(OptionError { path: path.clone(), message: format!("{expr:?} is not a k6 threshold expression (e.g. \"p(95)<500\", \"rate<0.01\", \"avg<200\", \"count>10\")") }),
            }
        }
    }
    (rows, named)
}

/// A k6 metric's loadpacer name, and whether its values are milliseconds.
fn metric_of(metric: &str, metrics: &[MetricDecl]) -> Option<(String, bool)> {
    let builtin = match metric {
        "http_req_duration" => ("latency", true),
        "http_req_waiting" => ("ttfb", true),
        "http_req_failed" => ("errors", false),
        "http_reqs" => ("requests", false),
        "checks" => ("checks", false),
        "iterations" => ("iterations", false),
        "dropped_iterations" => ("dropped", false),
        m => {
            return metrics
                .iter()
                .find(|d| d.name == m)
                .map(|d| (d.name.clone(), d.is_time))
        }
    };
    Some((builtin.0.to_string(), builtin.1))
}

/// `p(95)<500` → `p(95) < 500ms` for a time metric (k6 gives milliseconds); `med` → `p(50)`.
fn expression(expr: &str, time: bool) -> Option<String> {
    let op = ["<=", ">=", "==", "===", "!=", "<", ">"]
        .into_iter()
        .filter_map(|op| expr.find(op).map(|i| (i, op)))
        .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())))?;
    let (agg, value) = (expr[..op.0].trim(), expr[op.0 + op.1.len()..].trim());
    let value: f64 = value.parse().ok().filter(|v: &f64| v.is_finite())?;
    let agg = match agg {
        "med" => "p(50)".to_string(),
        "avg" | "min" | "max" | "rate" | "count" => agg.to_string(),
        a if a.starts_with("p(") && a.ends_with(')') => {
            a[2..a.len() - 1].trim().parse::<f64>().ok()?;
            a.to_string()
        }
        _ => return None,
    };
    let op = match op.1 {
        "===" => "==",
        "!=" => return None,
        o => o,
    };
    let unit = if time && agg != "count" && agg != "rate" {
        "ms"
    } else {
        ""
    };
    Some(format!("{agg} {op} {value}{unit}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k6_threshold_expressions_become_loadpacer_ones() {
        assert_eq!(expression("p(95)<500", true).unwrap(), "p(95) < 500ms");
        assert_eq!(
            expression("p(99.9) <= 1200", true).unwrap(),
            "p(99.9) <= 1200ms"
        );
        assert_eq!(expression("rate<0.01", false).unwrap(), "rate < 0.01");
        assert_eq!(expression("count>10", false).unwrap(), "count > 10");
        assert_eq!(expression("med<100", true).unwrap(), "p(50) < 100ms");
        assert!(expression("p95<1", true).is_none());
        assert!(expression("avg", true).is_none());
    }
}
