//! One metric family being built from plain data: series added one by one, then turned into
//! the `prometheus` crate's protobuf type for encoding.

use super::names::{help, PREFIX};
use super::state::Buckets;
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType, Quantile,
    Summary as ProtoSummary,
};

fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_string());
    l.set_value(value.to_string());
    l
}

/// One family being built: its series are added one by one.
pub(super) struct Family {
    name: String,
    help: String,
    kind: MetricType,
    metrics: Vec<Metric>,
}

impl Family {
    /// A family listed in [`super::names`], with its help text.
    pub(super) fn new(name: &'static str, kind: MetricType) -> Self {
        Self::named(name.to_string(), help(name).to_string(), kind)
    }

    /// A family named at run time (a user-defined metric), without the prefix.
    pub(super) fn named(name: String, help: String, kind: MetricType) -> Self {
        Self {
            name,
            help,
            kind,
            metrics: Vec::new(),
        }
    }

    pub(super) fn value(&mut self, labels: &[(&str, &str)], v: f64) {
        let mut m = Metric::default();
        m.set_label(labels.iter().map(|(k, v)| label(k, v)).collect());
        match self.kind {
            MetricType::COUNTER => {
                let mut c = Counter::default();
                c.set_value(v);
                m.set_counter(c);
            }
            _ => {
                let mut g = Gauge::default();
                g.set_value(v);
                m.set_gauge(g);
            }
        }
        self.metrics.push(m);
    }

    pub(super) fn histogram(&mut self, labels: &[(&str, &str)], b: &Buckets) {
        self.histogram_of(labels, &b.bounds, &b.counts, b.count, b.sum);
    }

    /// A histogram series from per-bucket (not cumulative) counts.
    pub(super) fn histogram_of(
        &mut self,
        labels: &[(&str, &str)],
        bounds: &[f64],
        counts: &[u64],
        count: u64,
        sum: f64,
    ) {
        let mut h = Histogram::default();
        let mut cumulative = 0;
        h.set_bucket(
            bounds
                .iter()
                .zip(counts)
                .map(|(le, n)| {
                    cumulative += n;
                    let mut bucket = Bucket::default();
                    bucket.set_upper_bound(*le);
                    bucket.set_cumulative_count(cumulative);
                    bucket
                })
                .collect(),
        );
        h.set_sample_count(count);
        h.set_sample_sum(sum);
        let mut m = Metric::default();
        m.set_label(labels.iter().map(|(k, v)| label(k, v)).collect());
        m.set_histogram(h);
        self.metrics.push(m);
    }

    pub(super) fn summary(
        &mut self,
        labels: &[(&str, &str)],
        quantiles: &[(f64, f64)],
        count: u64,
        sum: f64,
    ) {
        let mut sm = ProtoSummary::default();
        sm.set_quantile(
            quantiles
                .iter()
                .map(|(q, v)| {
                    let mut x = Quantile::default();
                    x.set_quantile(*q);
                    x.set_value(*v);
                    x
                })
                .collect(),
        );
        sm.set_sample_count(count);
        sm.set_sample_sum(sum);
        let mut m = Metric::default();
        m.set_label(labels.iter().map(|(k, v)| label(k, v)).collect());
        m.set_summary(sm);
        self.metrics.push(m);
    }

    pub(super) fn finish(self) -> Option<MetricFamily> {
        if self.metrics.is_empty() {
            return None;
        }
        let mut f = MetricFamily::default();
        f.set_name(format!("{PREFIX}{}", self.name));
        f.set_help(self.help);
        f.set_field_type(self.kind);
        f.set_metric(self.metrics);
        Some(f)
    }
}
