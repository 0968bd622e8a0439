//! Threshold expressions: `metric` selects what is measured, `expr` says how it is judged.
//!
//! ```text
//! metric: latency | latency{request=login} | ttfb | errors | checks | requests | iterations | dropped
//! expr:   <agg> <op> <value>     agg: p(N) avg min max rate count    op: < <= > >= ==
//! ```
//! Latency values take a unit (`500ms`, `1.5s`); rates are ratios (`0.01`) or per-second for
//! `requests`/`iterations`; counts are plain numbers.

use std::fmt;
use std::time::Duration;

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Latency from the intended send time.
    Latency,
    /// Time to first byte.
    Ttfb,
    /// Failed requests.
    Errors,
    /// Check outcomes.
    Checks,
    /// Completed requests.
    Requests,
    /// Completed iterations.
    Iterations,
    /// Iterations dropped at `max_in_flight`.
    Dropped,
    /// Host CPU busy ratio (0..1), sampled each second; judged at the end of the run.
    HostCpu,
    /// CPU of a watched process in cores (`process.NAME.cpu_cores`).
    ProcessCpu,
    /// Resident memory of a watched process in bytes (`process.NAME.rss`).
    ProcessRss,
    /// A monitor's polled number (`monitor.NAME`).
    Monitor,
    /// Streaming: time to open a session (`ws_connect`, `sse_connect`).
    StreamConnect,
    /// Streaming: send → matching reply (`ws_rtt`, alias `ws_reply`).
    StreamRtt,
    /// Streaming: ping → pong (`ws_ping`).
    StreamPing,
    /// Streaming: open → first message or event (`first_message`, `sse_first_event`).
    FirstMessage,
    /// Streaming: time between consecutive messages of a session (`message_gap`).
    MessageGap,
    /// Streaming: messages received (`messages`): per second, or a count.
    Messages,
    /// Streaming: sessions that ended abnormally or never opened (`disconnects`): per attempt,
    /// or a count.
    Disconnects,
    /// A user-defined metric declared in the plan's `metrics` (its name in `request`).
    Custom,
}

impl MetricKind {
    /// True for the figures of streaming steps (filtered by `step=NAME`).
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            MetricKind::StreamConnect
                | MetricKind::StreamRtt
                | MetricKind::StreamPing
                | MetricKind::FirstMessage
                | MetricKind::MessageGap
                | MetricKind::Messages
                | MetricKind::Disconnects
        )
    }

    /// True for the latency-like figures (milliseconds, percentiles).
    pub fn is_duration(self) -> bool {
        matches!(
            self,
            MetricKind::Latency
                | MetricKind::Ttfb
                | MetricKind::StreamConnect
                | MetricKind::StreamRtt
                | MetricKind::StreamPing
                | MetricKind::FirstMessage
                | MetricKind::MessageGap
        )
    }
}

/// How the samples are reduced to one number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Agg {
    /// Percentile, 0 < N < 100.
    Percentile(f64),
    Avg,
    Min,
    Max,
    /// Ratio (errors: failed/all, checks: passed/all) or per second (requests, iterations).
    Rate,
    Count,
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Op {
    /// Applies the comparison.
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
            Op::Eq => (observed - limit).abs() < f64::EPSILON,
        }
    }
}

/// A compiled threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// `metric` as written, e.g. `latency{request=login}`.
    pub metric_text: String,
    /// `expr` as written, e.g. `p(95) < 500ms`.
    pub expr_text: String,
    pub metric: MetricKind,
    /// Restricts the metric to one request name.
    pub request: Option<String>,
    pub agg: Agg,
    pub op: Op,
    /// The limit; latencies in milliseconds.
    pub value: f64,
    /// Stop the run when this threshold fails.
    pub abort_on_fail: bool,
    /// Do not abort before this much of the run has passed.
    pub delay_abort_eval: Duration,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.metric_text, self.expr_text)
    }
}

/// Parses `metric` into its kind and optional request filter.
pub fn parse_metric(text: &str) -> Result<(MetricKind, Option<String>), String> {
    let text = text.trim();
    if let Some(name) = text.strip_prefix("monitor.") {
        return Ok((MetricKind::Monitor, Some(name.to_string())));
    }
    // The target's resources (`resources:`) are monitors named after the figure.
    if text.starts_with("target.") || text.starts_with("node.") {
        return Ok((MetricKind::Monitor, Some(text.to_string())));
    }
    if text == "host.cpu" {
        return Ok((MetricKind::HostCpu, None));
    }
    if let Some(rest) = text.strip_prefix("process.") {
        let (name, field) = rest.rsplit_once('.').ok_or_else(|| {
            format!("metric {text:?} must be process.NAME.cpu_cores or process.NAME.rss")
        })?;
        let kind = match field {
            "cpu_cores" => MetricKind::ProcessCpu,
            "rss" => MetricKind::ProcessRss,
            other => {
                return Err(format!(
                    "process field {other:?} is unknown; use cpu_cores or rss"
                ))
            }
        };
        return Ok((kind, Some(name.to_string())));
    }
    let (name, filter) = match text.split_once('{') {
        Some((n, rest)) => {
            let inner = rest
                .strip_suffix('}')
                .ok_or_else(|| format!("metric {text:?} has `{{` without a closing `}}`"))?;
            let (key, value) = inner.split_once('=').ok_or_else(|| {
                format!("metric filter {inner:?} must be request=NAME (or step=NAME for streams)")
            })?;
            if key.trim() != "request" && key.trim() != "step" {
                return Err(format!(
                    "metric filter key {:?} is not supported; use request=NAME (or step=NAME for streams)",
                    key.trim()
                ));
            }
            (n.trim(), Some(value.trim().trim_matches('"').to_string()))
        }
        None => (text, None),
    };
    let kind = match name {
        "latency" | "http_req_duration" => MetricKind::Latency,
        "ttfb" => MetricKind::Ttfb,
        "errors" => MetricKind::Errors,
        "checks" => MetricKind::Checks,
        "requests" => MetricKind::Requests,
        "iterations" => MetricKind::Iterations,
        "dropped" => MetricKind::Dropped,
        "ws_connect" | "sse_connect" | "stream_connect" => MetricKind::StreamConnect,
        "ws_rtt" | "ws_reply" => MetricKind::StreamRtt,
        "ws_ping" => MetricKind::StreamPing,
        "first_message" | "sse_first_event" => MetricKind::FirstMessage,
        "message_gap" | "sse_gap" => MetricKind::MessageGap,
        "messages" => MetricKind::Messages,
        "disconnects" => MetricKind::Disconnects,
        other => {
            return Err(format!(
                "unknown metric {other:?}; use latency, ttfb, errors, checks, requests, iterations or dropped, for streams ws_connect, ws_rtt (replies), ws_ping, first_message, message_gap, messages or disconnects, or a name declared in the plan's `metrics`"
            ))
        }
    };
    if filter.is_some() && matches!(kind, MetricKind::Iterations | MetricKind::Dropped) {
        return Err(format!("metric {name} cannot be filtered by request"));
    }
    Ok((kind, filter))
}

/// Parses `expr` for a metric kind, checking that the aggregation fits the metric.
pub fn parse_expr(kind: MetricKind, text: &str) -> Result<(Agg, Op, f64), String> {
    let (lhs, op, rhs) = split_expr(text)?;
    let agg = parse_agg(lhs)?;
    let fits = match kind {
        MetricKind::Latency
        | MetricKind::Ttfb
        | MetricKind::StreamConnect
        | MetricKind::StreamRtt
        | MetricKind::StreamPing
        | MetricKind::FirstMessage
        | MetricKind::MessageGap => !matches!(agg, Agg::Rate),
        MetricKind::Messages | MetricKind::Disconnects => matches!(agg, Agg::Rate | Agg::Count),
        MetricKind::Errors | MetricKind::Checks | MetricKind::Requests | MetricKind::Iterations => {
            matches!(agg, Agg::Rate | Agg::Count)
        }
        MetricKind::Dropped => matches!(agg, Agg::Rate | Agg::Count),
        MetricKind::Custom => true,
        MetricKind::HostCpu
        | MetricKind::ProcessCpu
        | MetricKind::ProcessRss
        | MetricKind::Monitor => {
            matches!(agg, Agg::Avg | Agg::Max)
        }
    };
    if !fits {
        return Err(format!(
            "aggregation {lhs:?} does not apply to this metric; latency, ttfb and the stream durations (ws_connect, ws_rtt, ws_ping, first_message, message_gap) take p(N), avg, min, max or count; \
             errors, checks, requests, iterations, dropped, messages and disconnects take rate or count; host and process figures take avg or max"
        ));
    }
    let is_time = kind.is_duration() && agg != Agg::Count;
    let value = if kind == MetricKind::Monitor && rhs.parse::<f64>().is_err() {
        // A monitor of bytes (target.memory) may take a size.
        parse_bytes(rhs)
            .ok_or_else(|| format!("limit {rhs:?} must be a number (or a size such as 512MB)"))?
    } else if kind == MetricKind::ProcessRss {
        parse_bytes(rhs)
            .ok_or_else(|| format!("limit {rhs:?} must be a size such as 512MB or 1GiB"))?
    } else if is_time {
        let d = humantime::parse_duration(rhs).map_err(|_| {
            format!("limit {rhs:?} must be a duration with a unit, e.g. 500ms or 1.5s")
        })?;
        d.as_secs_f64() * 1000.0
    } else {
        let v: f64 = rhs
            .parse()
            .map_err(|_| format!("limit {rhs:?} must be a number"))?;
        if !v.is_finite() || (v < 0.0 && kind != MetricKind::Monitor) {
            return Err(format!("limit {rhs:?} must be a finite number >= 0"));
        }
        v
    };
    Ok((agg, op, value))
}

/// Parses `expr` for a user-defined metric of `kind` and `unit`: counters take `count` (the
/// total) and `rate` (per second); trends p(N), avg, min, max and count; rates `rate` (the
/// share of true outcomes) and count; gauges avg, min and max. Limits of a `seconds` metric
/// are durations (kept in seconds), of a `bytes` one sizes.
pub fn parse_custom_expr(
    kind: crate::config::custom::CustomKind,
    unit: crate::config::custom::CustomUnit,
    text: &str,
) -> Result<(Agg, Op, f64), String> {
    use crate::config::custom::{CustomKind as K, CustomUnit as U};
    let (lhs, op, rhs) = split_expr(text)?;
    let agg = parse_agg(lhs)?;
    let fits = match kind {
        K::Counter => matches!(agg, Agg::Count | Agg::Rate),
        K::Trend => !matches!(agg, Agg::Rate),
        K::Rate => matches!(agg, Agg::Rate | Agg::Count),
        K::Gauge => matches!(agg, Agg::Avg | Agg::Min | Agg::Max),
    };
    if !fits {
        return Err(format!(
            "aggregation {lhs:?} does not apply to a {}: counters take count or rate (per second), trends p(N), avg, min, max or count, rates rate or count, gauges avg, min or max",
            kind.as_str()
        ));
    }
    let value = match unit {
        _ if matches!(agg, Agg::Count | Agg::Rate) => rhs.parse::<f64>().ok(),
        U::Seconds => humantime::parse_duration(rhs).ok().map(|d| d.as_secs_f64()),
        U::Bytes => parse_bytes(rhs),
        U::None => rhs.parse::<f64>().ok(),
    }
    .filter(|v| v.is_finite())
    .ok_or_else(|| match unit {
        U::Seconds if !matches!(agg, Agg::Count | Agg::Rate) => {
            format!("limit {rhs:?} must be a duration with a unit, e.g. 300ms")
        }
        U::Bytes if !matches!(agg, Agg::Count | Agg::Rate) => {
            format!("limit {rhs:?} must be a size such as 512MB")
        }
        _ => format!("limit {rhs:?} must be a number"),
    })?;
    Ok((agg, op, value))
}

/// Splits `<agg> <op> <value>` into its three parts (trimmed).
impl Threshold {
    /// True for a limit on a rate or count of work (requests, iterations, messages), which a
    /// run at a scale of its load does `factor` times as much of.
    pub fn scales_with_load(&self) -> bool {
        matches!(
            self.metric,
            MetricKind::Requests | MetricKind::Iterations | MetricKind::Messages
        ) && matches!(self.agg, Agg::Rate | Agg::Count)
    }

    /// This threshold with its limit multiplied by `factor`, its expression saying so:
    /// `rate > 7.5 (rate > 15 scaled ×0.5)`.
    pub fn scaled(&self, factor: f64) -> Threshold {
        let mut t = self.clone();
        t.value *= factor;
        let rhs = split_expr(&self.expr_text)
            .map(|(lhs, op, _)| {
                let op = match op {
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    Op::Eq => "==",
                };
                format!("{lhs} {op} {}", t.value)
            })
            .unwrap_or_else(|_| format!("{}", t.value));
        t.expr_text = format!("{rhs} ({} scaled ×{factor})", self.expr_text);
        t
    }
}

fn split_expr(text: &str) -> Result<(&str, Op, &str), String> {
    let text = text.trim();
    let op_at = text
        .find(['<', '>', '='])
        .ok_or_else(|| format!("expression {text:?} needs an operator: <, <=, >, >= or =="))?;
    let (lhs, rest) = text.split_at(op_at);
    let (op, rhs) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(s, op)| rest.strip_prefix(s).map(|r| (*op, r.trim())))
    .ok_or_else(|| format!("expression {text:?} has an unknown operator"))?;
    Ok((lhs.trim(), op, rhs))
}

fn parse_bytes(text: &str) -> Option<f64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(n * mult)
}

fn parse_agg(text: &str) -> Result<Agg, String> {
    match text {
        "avg" => return Ok(Agg::Avg),
        "min" => return Ok(Agg::Min),
        "max" => return Ok(Agg::Max),
        "rate" => return Ok(Agg::Rate),
        "count" => return Ok(Agg::Count),
        "med" => return Ok(Agg::Percentile(50.0)),
        _ => {}
    }
    let inner = text
        .strip_prefix("p(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            format!("unknown aggregation {text:?}; use p(N), avg, min, max, rate or count")
        })?;
    match inner.trim().parse::<f64>() {
        Ok(p) if p > 0.0 && p < 100.0 => Ok(Agg::Percentile(p)),
        _ => Err(format!(
            "percentile {inner:?} must be a number between 0 and 100 (exclusive)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_latency_percentile_with_unit() {
        assert_eq!(
            parse_expr(MetricKind::Latency, "p(95) < 500ms").unwrap(),
            (Agg::Percentile(95.0), Op::Lt, 500.0)
        );
        assert_eq!(
            parse_expr(MetricKind::Latency, "max<=1.5s").unwrap(),
            (Agg::Max, Op::Le, 1500.0)
        );
        assert_eq!(
            parse_expr(MetricKind::Errors, "rate < 0.01").unwrap(),
            (Agg::Rate, Op::Lt, 0.01)
        );
    }

    #[test]
    fn rejects_wrong_aggregation_and_bad_syntax() {
        assert!(parse_expr(MetricKind::Errors, "p(95) < 1")
            .unwrap_err()
            .contains("does not apply"));
        assert!(parse_expr(MetricKind::Latency, "rate < 1")
            .unwrap_err()
            .contains("does not apply"));
        assert!(parse_expr(MetricKind::Latency, "p(95) 500ms")
            .unwrap_err()
            .contains("operator"));
        assert!(parse_expr(MetricKind::Latency, "p(100) < 5ms")
            .unwrap_err()
            .contains("percentile"));
        assert!(parse_expr(MetricKind::Latency, "p(95) < 500")
            .unwrap_err()
            .contains("unit"));
        assert!(parse_metric("latncy")
            .unwrap_err()
            .contains("unknown metric"));
        assert_eq!(
            parse_metric("latency{request=login}").unwrap(),
            (MetricKind::Latency, Some("login".into()))
        );
    }
}
