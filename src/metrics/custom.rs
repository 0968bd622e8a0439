//! User-defined metrics on `/metrics`: one family per declared name
//! (`loadpacer_custom_NAME[_seconds|_bytes][_total]`), series labelled by plan.
//!
//! | type | family | series |
//! |---|---|---|
//! | counter | `…_total` | the sum; one series per label value when it has a label |
//! | rate | `…_total` | `outcome="true"` and `outcome="false"` counts |
//! | trend | histogram | buckets from `buckets:` or the unit's default |
//! | gauge | gauge | the last value set |

use super::family::Family;
use super::names::LATENCY_BUCKETS;
use super::state::CustomLive;
use super::state::MetricsState;
use crate::config::custom::{CustomKind, CustomUnit};
use prometheus::proto::MetricType;
use std::collections::BTreeMap;

/// Trend buckets of values without a time unit.
const PLAIN_BUCKETS: [f64; 16] = [
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4, 1e5,
];

/// The families of every plan's user-defined metrics, merged by name (validation makes the
/// same name mean the same type and unit in every plan).
pub(super) fn families(s: &MetricsState) -> Vec<Family> {
    let mut by_name: BTreeMap<String, Family> = BTreeMap::new();
    for (plan, m) in s.ran() {
        for live in &m.custom {
            let spec = &live.spec;
            let kind = match spec.kind {
                CustomKind::Counter | CustomKind::Rate => MetricType::COUNTER,
                CustomKind::Trend => MetricType::HISTOGRAM,
                CustomKind::Gauge => MetricType::GAUGE,
            };
            let family = by_name
                .entry(spec.family())
                .or_insert_with(|| Family::named(spec.family(), spec.help.clone(), kind));
            series(family, plan, live);
        }
    }
    by_name.into_values().collect()
}

fn series(f: &mut Family, plan: &str, live: &CustomLive) {
    let (spec, stats) = (&live.spec, &live.stats);
    let plan_only = [("plan", plan)];
    match spec.kind {
        CustomKind::Counter => match &spec.label {
            Some(name) => {
                for (value, n) in &stats.by_label {
                    f.value(&[("plan", plan), (name, value)], *n);
                }
            }
            None => f.value(&plan_only, stats.sum),
        },
        CustomKind::Rate => {
            for (outcome, n) in [("true", stats.trues), ("false", stats.falses)] {
                f.value(&[("plan", plan), ("outcome", outcome)], n as f64);
            }
        }
        CustomKind::Gauge => {
            if let Some(v) = stats.last {
                f.value(&plan_only, v);
            }
        }
        CustomKind::Trend => {
            let bounds: &[f64] = match (&spec.buckets, spec.unit) {
                (Some(b), _) => b,
                (None, CustomUnit::Seconds) => &LATENCY_BUCKETS,
                (None, _) => &PLAIN_BUCKETS,
            };
            let mut counts = vec![0u64; bounds.len()];
            let mut count = 0;
            if let Some(h) = &stats.values {
                for v in h.iter_recorded() {
                    // The lowest value of the histogram's bin: a value exactly on a bound stays
                    // in its bucket (the bin is 0.1 % wide).
                    let x = h.lowest_equivalent(v.value_iterated_to()) as f64 / stats.scale;
                    let n = v.count_at_value();
                    let i = bounds.partition_point(|b| *b < x);
                    if i < counts.len() {
                        counts[i] += n;
                    }
                    count += n;
                }
            }
            // The exact sum of the values (the histogram's bins are approximate).
            f.histogram_of(&plan_only, bounds, &counts, count, stats.sum);
        }
    }
}
