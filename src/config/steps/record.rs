//! `record` on a request step: which user-defined metric a response feeds, and from what.

use super::spec::{RecordSource, RecordSpec};
use super::StepCompiler;
use crate::config::custom::{CustomKind, CustomMetricSpec};
use crate::config::error::Collector;
use crate::config::raw::RawRecord;
use serde_json_path::JsonPath;

impl StepCompiler<'_> {
    /// Compiles a step's `record` entries (after its captures, which they may read).
    pub(super) fn records(
        &mut self,
        c: &mut Collector,
        raw: &[RawRecord],
        path: &str,
    ) -> Vec<RecordSpec> {
        raw.iter()
            .enumerate()
            .filter_map(|(i, r)| self.record(c, r, &format!("{path}[{i}]")))
            .collect()
    }

    /// One `record` entry: the declared metric it feeds, from where, with which label.
    fn record(&mut self, c: &mut Collector, r: &RawRecord, rp: &str) -> Option<RecordSpec> {
        let rp = rp.to_string();
        let Some(index) = self.custom.iter().position(|m| m.name == r.metric.value) else {
            let names: Vec<&str> = self.custom.iter().map(|m| m.name.as_str()).collect();
            let hint = crate::config::rules::closest(&r.metric.value, &names)
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            c.at(
                &r.metric.referenced,
                &format!("{rp}.metric"),
                format!(
                    "{:?} is not declared in the plan's `metrics`{hint}",
                    r.metric.value
                ),
            );
            return None;
        };
        let m = self.custom[index].clone();
        let given = [r.value.is_some(), r.json.is_some(), r.from.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            c.at(
                &r.metric.referenced,
                &rp,
                "give at most one of `value`, `json` and `from`",
            );
            return None;
        }
        let source = self.record_source(c, r, &m, &rp)?;
        let label = self.record_label(c, r, &m, &rp)?;
        Some(RecordSpec {
            metric: index,
            kind: m.kind,
            trend_scale: (m.kind == CustomKind::Trend).then(|| m.unit.scale()),
            max_labels: m.max_label_values,
            source,
            label,
        })
    }

    /// Where a record's value comes from: a constant or template `value`, a `json` path, the
    /// request's latency or checks (`from`), or the response itself (a counter).
    fn record_source(
        &mut self,
        c: &mut Collector,
        r: &RawRecord,
        m: &CustomMetricSpec,
        rp: &str,
    ) -> Option<RecordSource> {
        let source = if let Some(v) = &r.value {
            let text = v.value.trim();
            let constant = match (m.kind, text) {
                (CustomKind::Rate, "true") => Some(1.0),
                (CustomKind::Rate, "false") => Some(0.0),
                _ => text.parse::<f64>().ok().filter(|x| x.is_finite()),
            };
            match constant {
                Some(x) => RecordSource::Constant(x),
                None if text.contains("{{") => match self.template(c, v, &format!("{rp}.value")) {
                    Some(t) => RecordSource::Template(t),
                    None => return None,
                },
                None => {
                    c.at(
                        &v.referenced,
                        &format!("{rp}.value"),
                        format!("{text:?} must be a number, true/false for a rate, or a template such as \"{{{{ depth }}}}\""),
                    );
                    return None;
                }
            }
        } else if let Some(j) = &r.json {
            match JsonPath::parse(j.value.trim()) {
                Ok(p) => RecordSource::Json(p),
                Err(_) => {
                    c.at(
                        &j.referenced,
                        &format!("{rp}.json"),
                        format!(
                            "{:?} is not a valid JSONPath (RFC 9535), e.g. $.queue.depth",
                            j.value
                        ),
                    );
                    return None;
                }
            }
        } else if let Some(f) = &r.from {
            from_source(c, f, m, rp)?
        } else if m.kind == CustomKind::Counter {
            RecordSource::Count
        } else {
            c.at(
                &r.metric.referenced,
                rp,
                format!(
                    "a {} needs a `value`, `json` or `from`; only a counter counts responses by itself",
                    m.kind.as_str()
                ),
            );
            return None;
        };
        Some(source)
    }

    /// The label value of a labelled counter's record: given exactly when the metric has a label.
    fn record_label(
        &mut self,
        c: &mut Collector,
        r: &RawRecord,
        m: &CustomMetricSpec,
        rp: &str,
    ) -> Option<Option<crate::config::Template>> {
        let label = match (&m.label, &r.label) {
            (Some(_), Some(l)) => self.template(c, l, &format!("{rp}.label")),
            (Some(name), None) => {
                c.at(
                    &r.metric.referenced,
                    &format!("{rp}.label"),
                    format!("metric {:?} is labelled by {name:?}: give the label value, e.g. label: \"{{{{ {name} }}}}\"", m.name),
                );
                return None;
            }
            (None, Some(l)) => {
                c.at(
                    &l.referenced,
                    &format!("{rp}.label"),
                    format!(
                        "metric {:?} has no label; declare one with `label:` in `metrics`",
                        m.name
                    ),
                );
                return None;
            }
            (None, None) => None,
        };
        Some(label)
    }
}

/// `from: latency` (a trend, gauge or counter) or `from: checks` (a rate).
fn from_source(
    c: &mut Collector,
    f: &crate::config::raw::S<String>,
    m: &CustomMetricSpec,
    rp: &str,
) -> Option<RecordSource> {
    Some(match (f.value.as_str(), m.kind) {
        ("latency", CustomKind::Rate)
        | ("checks", CustomKind::Counter | CustomKind::Trend | CustomKind::Gauge) => {
            c.at(
                &f.referenced,
                &format!("{rp}.from"),
                format!("`from: {}` does not feed a {}: latency feeds a trend, gauge or counter, checks feed a rate", f.value, m.kind.as_str()),
            );
            return None;
        }
        ("latency", _) => RecordSource::Latency,
        ("checks", _) => RecordSource::Checks,
        (other, _) => {
            c.at(
                &f.referenced,
                &format!("{rp}.from"),
                format!("{other:?} is not a source; use latency or checks"),
            );
            return None;
        }
    })
}
