//! What a plan is judged by besides its thresholds: grades, capacity, regression against a
//! baseline, and the monitors sampled during the run.

use super::error::Collector;
use super::limits::Limits;
use super::raw::S;
use super::rules::{duration, valid_label};
use super::target::check_url;
use serde_json_path::JsonPath;
use std::time::Duration;

/// Where a monitor reads its number.
#[derive(Debug, Clone)]
pub enum MonitorSource {
    /// GET the URL and take the first JSONPath match as a number.
    Json { url: reqwest::Url, path: JsonPath },
    /// Run an instant query on a Prometheus and take the first sample.
    PromQl {
        prometheus: reqwest::Url,
        query: String,
    },
}

/// A figure polled every `every` during the run (`monitor.NAME` in thresholds).
#[derive(Debug, Clone)]
pub struct MonitorSpec {
    pub name: String,
    pub source: MonitorSource,
    pub every: Duration,
    /// Report the change since the first poll of the run (a counter such as restarts).
    pub delta: bool,
    /// The user-defined metric (index in the plan's `metrics`) each successful poll feeds.
    pub feeds: Option<usize>,
}

/// The daemon compares each run with the median of the last `window` passing runs of the
/// same plan and config hash.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionSpec {
    pub window: u32,
    /// A pinned run id to compare with instead of the recent passing runs.
    pub baseline_run: Option<String>,
    /// Relative latency growth allowed.
    pub latency: f64,
    /// Absolute error-rate growth allowed.
    pub error_rate: f64,
    /// Relative throughput drop allowed.
    pub throughput: f64,
}

impl RegressionSpec {
    /// Relative latency growth allowed when the plan says nothing (10 %).
    pub const DEFAULT_LATENCY: f64 = 0.10;
    /// Absolute error-rate growth allowed by default (half a percentage point).
    pub const DEFAULT_ERROR_RATE: f64 = 0.005;
    /// Relative throughput drop allowed by default (10 %).
    pub const DEFAULT_THROUGHPUT: f64 = 0.10;
}

/// Capacity planning settings of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacitySpec {
    pub expected_peak_rps: f64,
    /// The SLO: p95 latency bound.
    pub slo_p95: Duration,
    pub slo_error_rate: f64,
    /// Expected growth of the peak per month (0.05 = 5 %).
    pub monthly_growth: Option<f64>,
    /// Consecutive one-second windows over the SLO that count as broken.
    pub sustain: u32,
}

pub(super) fn monitor(
    c: &mut Collector,
    limits: &Limits,
    name: &str,
    m: &super::raw::RawMonitor,
    path: &str,
) -> Option<MonitorSpec> {
    if !valid_label(name) {
        c.nowhere(
            path,
            format!("monitor name {name:?} must match [a-zA-Z_][a-zA-Z0-9_.-]*"),
        );
    }
    let every = m
        .every
        .as_ref()
        .and_then(|e| duration(c, e, &format!("{path}.every"), Duration::from_millis(100)))
        .unwrap_or(Duration::from_secs(5));
    let source = match (&m.url, &m.jsonpath, &m.prometheus, &m.promql) {
        (Some(url), Some(jp), None, None) => {
            let url = check_url(c, limits, url, &format!("{path}.url"));
            let parsed = match JsonPath::parse(&jp.value) {
                Ok(p) => Some(p),
                Err(_) => {
                    c.at(
                        &jp.referenced,
                        &format!("{path}.jsonpath"),
                        format!("{:?} is not a valid JSONPath (RFC 9535)", jp.value),
                    );
                    None
                }
            };
            MonitorSource::Json {
                url: url?,
                path: parsed?,
            }
        }
        (None, None, Some(prom), Some(q)) => {
            let prometheus = check_url(c, limits, prom, &format!("{path}.prometheus"));
            if q.value.trim().is_empty() {
                c.at(
                    &q.referenced,
                    &format!("{path}.promql"),
                    "the query is empty",
                );
            }
            MonitorSource::PromQl {
                prometheus: prometheus?,
                query: q.value.trim().to_string(),
            }
        }
        _ => {
            c.nowhere(path, "set either `url` and `jsonpath` (a JSON endpoint) or `prometheus` and `promql` (an instant query)");
            return None;
        }
    };
    Some(MonitorSpec {
        name: name.to_string(),
        source,
        every,
        delta: false,
        feeds: None,
    })
}

pub(super) fn regression(
    c: &mut Collector,
    r: &super::raw::RawRegression,
    path: &str,
) -> RegressionSpec {
    if let Some(w) = &r.window {
        if !(1..=100).contains(&w.value) {
            c.at(
                &w.referenced,
                &format!("{path}.window"),
                format!("{} must be between 1 and 100 runs", w.value),
            );
        }
    }
    let baseline_run = r.baseline_run.as_ref().and_then(|b| {
        let ok = b.value.len() == 36
            && b.value
                .chars()
                .all(|ch| ch.is_ascii_hexdigit() || ch == '-');
        if !ok {
            c.at(
                &b.referenced,
                &format!("{path}.baseline_run"),
                format!("{:?} must be a run id (a UUID from /api/v1/runs)", b.value),
            );
        }
        ok.then(|| b.value.clone())
    });
    let mut ratio = |v: Option<&S<f64>>, name: &str, default: f64| match v {
        Some(s) if s.value.is_finite() && (0.0..=10.0).contains(&s.value) => s.value,
        Some(s) => {
            c.at(
                &s.referenced,
                &format!("{path}.tolerance.{name}"),
                format!("{} must be a ratio such as 0.1", s.value),
            );
            default
        }
        None => default,
    };
    let t = r.tolerance.as_ref();
    RegressionSpec {
        baseline_run,
        window: r
            .window
            .as_ref()
            .map(|w| w.value)
            .unwrap_or(5)
            .clamp(1, 100),
        latency: ratio(
            t.and_then(|t| t.latency.as_ref()),
            "latency",
            RegressionSpec::DEFAULT_LATENCY,
        ),
        error_rate: ratio(
            t.and_then(|t| t.error_rate.as_ref()),
            "error_rate",
            RegressionSpec::DEFAULT_ERROR_RATE,
        ),
        throughput: ratio(
            t.and_then(|t| t.throughput.as_ref()),
            "throughput",
            RegressionSpec::DEFAULT_THROUGHPUT,
        ),
    }
}

pub(super) fn capacity(
    c: &mut Collector,
    cap: &super::raw::RawCapacity,
    path: &str,
) -> Option<CapacitySpec> {
    let peak = cap.expected_peak_rps.value;
    if !(peak.is_finite() && peak > 0.0) {
        c.at(
            &cap.expected_peak_rps.referenced,
            &format!("{path}.expected_peak_rps"),
            format!("{peak} must be a finite number > 0"),
        );
    }
    let p95 = duration(
        c,
        &cap.slo.p95,
        &format!("{path}.slo.p95"),
        Duration::from_micros(1),
    );
    let err = cap.slo.error_rate.value;
    if !(0.0..=1.0).contains(&err) {
        c.at(
            &cap.slo.error_rate.referenced,
            &format!("{path}.slo.error_rate"),
            format!("{err} must be a ratio between 0 and 1"),
        );
    }
    let growth = cap.monthly_growth.as_ref().map(|g| g.value);
    if let (Some(g), Some(s)) = (growth, &cap.monthly_growth) {
        if !(g.is_finite() && g > -1.0 && g <= 10.0) {
            c.at(
                &s.referenced,
                &format!("{path}.monthly_growth"),
                format!("{g} must be a ratio such as 0.05 (5 % a month)"),
            );
        }
    }
    let sustain = cap
        .sustain
        .as_ref()
        .map(|s| s.value)
        .unwrap_or(3)
        .clamp(1, 600);
    Some(CapacitySpec {
        expected_peak_rps: peak,
        slo_p95: p95?,
        slo_error_rate: err,
        monthly_growth: growth,
        sustain,
    })
}
