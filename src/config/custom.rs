//! User-defined metrics: their declarations (`metrics:`), checked and compiled once. Steps feed
//! them with `record` (compiled in `steps`); thresholds, `/metrics` and the reports read them.

use super::error::Collector;
use super::raw::{Key, RawMetric};
use std::collections::BTreeMap;

/// The type of a user-defined metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomKind {
    /// A sum that only grows (per label value when it has a label).
    Counter,
    /// A distribution: percentiles, avg, min, max.
    Trend,
    /// The share of true outcomes.
    Rate,
    /// The last value set, with min, max and avg.
    Gauge,
}

impl std::fmt::Display for CustomKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl CustomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomKind::Counter => "counter",
            CustomKind::Trend => "trend",
            CustomKind::Rate => "rate",
            CustomKind::Gauge => "gauge",
        }
    }
}

/// The unit of a metric's values (`""` in a summary when it has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomUnit {
    #[serde(rename = "")]
    None,
    Seconds,
    Bytes,
}

impl CustomUnit {
    /// The suffix of its name on `/metrics` (Prometheus naming: base units in the name).
    pub fn suffix(self) -> &'static str {
        match self {
            CustomUnit::None => "",
            CustomUnit::Seconds => "_seconds",
            CustomUnit::Bytes => "_bytes",
        }
    }

    /// What a trend's histogram keeps per unit: microseconds of a second, thousandths of
    /// anything else (three decimals).
    pub fn scale(self) -> f64 {
        match self {
            CustomUnit::Seconds => 1e6,
            _ => 1e3,
        }
    }
}

/// A declared metric.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomMetricSpec {
    pub name: String,
    pub kind: CustomKind,
    pub help: String,
    pub unit: CustomUnit,
    /// A counter's label name.
    pub label: Option<String>,
    pub max_label_values: usize,
    /// A trend's histogram buckets on `/metrics`, ascending, in its unit; `None`: the
    /// exporter's default for the unit.
    pub buckets: Option<Vec<f64>>,
}

impl CustomMetricSpec {
    /// Its family name on `/metrics` without the `loadpacer_` prefix:
    /// `custom_NAME[_seconds|_bytes][_total]`.
    pub fn family(&self) -> String {
        let mut name = format!("custom_{}", self.name);
        let suffix = self.unit.suffix();
        if !name.ends_with(suffix) {
            name.push_str(suffix);
        }
        if matches!(self.kind, CustomKind::Counter | CustomKind::Rate) && !name.ends_with("_total")
        {
            name.push_str("_total");
        }
        name
    }
}

/// Built-in metric names a custom one may not shadow in thresholds.
const BUILT_IN: [&str; 19] = [
    "latency",
    "http_req_duration",
    "ttfb",
    "errors",
    "checks",
    "requests",
    "iterations",
    "dropped",
    "ws_connect",
    "sse_connect",
    "stream_connect",
    "ws_rtt",
    "ws_reply",
    "ws_ping",
    "first_message",
    "sse_first_event",
    "message_gap",
    "messages",
    "disconnects",
];

/// Compiles the plan's metric declarations.
pub(super) fn custom_metrics(
    c: &mut Collector,
    raw: Option<&BTreeMap<Key, RawMetric>>,
    path: &str,
) -> Vec<CustomMetricSpec> {
    let mut out = Vec::new();
    for (key, m) in raw.into_iter().flatten() {
        let name = key.as_str();
        let mp = format!("{path}.{name}");
        metric_name(c, key, &mp);
        let kind = super::rules::keyword(
            c,
            Some(&m.r#type),
            &format!("{mp}.type"),
            &[
                ("counter", CustomKind::Counter),
                ("trend", CustomKind::Trend),
                ("rate", CustomKind::Rate),
                ("gauge", CustomKind::Gauge),
            ],
            CustomKind::Counter,
        );
        let kind = match kind {
            Some(k) => k,
            None => {
                continue;
            }
        };
        if m.help.value.trim().is_empty() {
            c.at(
                &m.help.referenced,
                &format!("{mp}.help"),
                "must say what the metric means",
            );
        }
        let unit = super::rules::keyword(
            c,
            m.unit.as_ref(),
            &format!("{mp}.unit"),
            &[
                ("seconds", CustomUnit::Seconds),
                ("bytes", CustomUnit::Bytes),
                ("none", CustomUnit::None),
            ],
            CustomUnit::None,
        )
        .unwrap_or(CustomUnit::None);
        let label = metric_label(c, m, kind, &mp);
        let max_label_values = match &m.max_label_values {
            Some(n) if n.value == 0 || n.value > 1000 => {
                c.at(
                    &n.referenced,
                    &format!("{mp}.max_label_values"),
                    format!("{} must be between 1 and 1000", n.value),
                );
                20
            }
            Some(n) => n.value as usize,
            None => 20,
        };
        let buckets = metric_buckets(c, m, kind, &mp);
        out.push(CustomMetricSpec {
            name: name.to_string(),
            kind,
            help: m.help.value.trim().to_string(),
            unit,
            label,
            max_label_values,
            buckets,
        });
    }
    out
}

/// A trend's own histogram bounds: finite and ascending.
fn metric_buckets(
    c: &mut Collector,
    m: &RawMetric,
    kind: CustomKind,
    mp: &str,
) -> Option<Vec<f64>> {
    m.buckets.as_ref().map(|b| {
        let ok = !b.value.is_empty()
            && b.value.iter().all(|x| x.is_finite())
            && b.value.windows(2).all(|w| w[0] < w[1]);
        if !ok || kind != CustomKind::Trend {
            c.at(
                &b.referenced,
                &format!("{mp}.buckets"),
                "must be a trend's finite bucket bounds in ascending order",
            );
        }
        b.value.clone()
    })
}

/// A metric's name: part of a Prometheus metric name, and not a built-in one.
fn metric_name(c: &mut Collector, key: &Key, mp: &str) {
    let name = key.as_str();
    let valid = name.len() <= 64
        && name.starts_with(|ch: char| ch.is_ascii_lowercase() || ch == '_')
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
    if !valid {
        c.at(&key.0.referenced, mp, format!("metric name {name:?} must match [a-z_][a-z0-9_]* (at most 64 characters): it becomes part of a Prometheus metric name"));
    }
    if BUILT_IN.contains(&name) {
        c.at(
            &key.0.referenced,
            mp,
            format!("{name:?} is a built-in metric; choose another name"),
        );
    }
}

/// A counter's label name, when it has one: a Prometheus label name other than ours.
fn metric_label(c: &mut Collector, m: &RawMetric, kind: CustomKind, mp: &str) -> Option<String> {
    if let (Some(l), false) = (&m.label, kind == CustomKind::Counter) {
        c.at(
            &l.referenced,
            &format!("{mp}.label"),
            "only a counter takes a label",
        );
    }
    let label = m.label.as_ref().map(|l| l.value.clone());
    if let Some(l) = m.label.as_ref().filter(|l| {
        !l.value
            .starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
            || !l
                .value
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            || ["plan", "le", "outcome"].contains(&l.value.as_str())
    }) {
        c.at(
            &l.referenced,
            &format!("{mp}.label"),
            format!(
                "{:?} must be a Prometheus label name other than plan, le and outcome",
                l.value
            ),
        );
    }
    label
}
