//! User-defined metrics as measured: one [`CustomStats`] per declared metric, whatever its type
//! (counter, trend, rate, gauge), merged like every other figure of a window.

use super::histo::new_histo;
use super::Histo;
use std::collections::BTreeMap;

/// The label value that every value beyond a metric's bound is counted under.
pub const OTHER_LABEL: &str = "other";

/// What one custom metric measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CustomStats {
    /// Events recorded (values, outcomes, increments).
    pub count: u64,
    /// Sum of the values (a counter's total).
    pub sum: f64,
    #[serde(
        serialize_with = "super::wire::extreme::serialize",
        deserialize_with = "super::wire::extreme::deserialize_min"
    )]
    pub min: f64,
    #[serde(
        serialize_with = "super::wire::extreme::serialize",
        deserialize_with = "super::wire::extreme::deserialize_max"
    )]
    pub max: f64,
    /// Trends: the values, scaled by `scale` to integers (µs for seconds, thousandths else).
    #[serde(with = "super::wire::opt_histo")]
    pub values: Option<Histo>,
    pub scale: f64,
    /// Rates: true and false outcomes.
    pub trues: u64,
    pub falses: u64,
    /// Gauges: the last value set.
    pub last: Option<f64>,
    /// Counters with a label: the sum per label value, at most `max_labels` values plus
    /// [`OTHER_LABEL`].
    pub by_label: BTreeMap<String, f64>,
    pub max_labels: usize,
    /// Events whose value was missing or not a number (a capture that found nothing).
    pub invalid: u64,
}

impl Default for CustomStats {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            values: None,
            scale: 1.0,
            trues: 0,
            falses: 0,
            last: None,
            by_label: BTreeMap::new(),
            max_labels: 0,
            invalid: 0,
        }
    }
}

impl CustomStats {
    /// Adds a value: to the sum, min and max, to the trend's histogram when `scale` is set
    /// (negative values are not kept there), and as the gauge's last value.
    pub fn value(&mut self, v: f64, trend_scale: Option<f64>) {
        if !v.is_finite() {
            self.invalid += 1;
            return;
        }
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.last = Some(v);
        if let Some(scale) = trend_scale {
            self.scale = scale;
            if v >= 0.0 {
                let h = self.values.get_or_insert_with(new_histo);
                let _ = h.record(((v * scale).round() as u64).max(1));
            }
        }
    }

    /// Adds an outcome of a rate.
    pub fn outcome(&mut self, ok: bool) {
        self.count += 1;
        if ok {
            self.trues += 1;
        } else {
            self.falses += 1;
        }
    }

    /// Adds `v` to a counter under `label`, or under [`OTHER_LABEL`] once `max_labels`
    /// distinct values have been seen.
    pub fn labelled(&mut self, label: &str, v: f64, max_labels: usize) {
        self.value(v, None);
        self.max_labels = max_labels;
        self.add_label(label, v);
    }

    fn add_label(&mut self, label: &str, v: f64) {
        let known = self.by_label.contains_key(label);
        let room = self.by_label.keys().filter(|k| *k != OTHER_LABEL).count() < self.max_labels;
        let key = if known || room { label } else { OTHER_LABEL };
        *self.by_label.entry(key.to_string()).or_default() += v;
    }

    pub fn record_invalid(&mut self) {
        self.invalid += 1;
    }

    /// The value at quantile `q` (0..1) of a trend, in its own unit.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let h = self.values.as_ref().filter(|h| !h.is_empty())?;
        Some(h.value_at_quantile(q) as f64 / self.scale)
    }

    pub fn avg(&self) -> Option<f64> {
        (self.count > 0 && self.trues + self.falses == 0).then(|| self.sum / self.count as f64)
    }

    /// The share of true outcomes of a rate.
    pub fn ratio(&self) -> Option<f64> {
        let n = self.trues + self.falses;
        (n > 0).then(|| self.trues as f64 / n as f64)
    }

    pub fn merge(&mut self, other: &CustomStats) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if let Some(h) = &other.values {
            self.scale = other.scale;
            let _ = self.values.get_or_insert_with(new_histo).add(h);
        }
        self.trues += other.trues;
        self.falses += other.falses;
        if other.last.is_some() {
            self.last = other.last;
        }
        self.max_labels = self.max_labels.max(other.max_labels);
        for (k, v) in &other.by_label {
            self.add_label(k, *v);
        }
        self.invalid += other.invalid;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.invalid == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_labelled_counter_keeps_its_bound_across_merges() {
        let (mut a, mut b) = (CustomStats::default(), CustomStats::default());
        a.labelled("node-1", 1.0, 2);
        a.labelled("node-2", 1.0, 2);
        b.labelled("node-3", 1.0, 2);
        b.labelled("node-1", 1.0, 2);
        a.merge(&b);
        assert_eq!(a.by_label.get("node-1"), Some(&2.0));
        assert_eq!(a.by_label.get("node-2"), Some(&1.0));
        assert_eq!(a.by_label.get(OTHER_LABEL), Some(&1.0), "{:?}", a.by_label);
        assert_eq!(a.sum, 4.0);
    }

    #[test]
    fn trends_keep_percentiles_in_their_unit_and_rates_their_share() {
        let mut t = CustomStats::default();
        for ms in 1..=100 {
            t.value(ms as f64 / 1000.0, Some(1e6));
        }
        let p95 = t.quantile(0.95).unwrap();
        assert!((p95 - 0.095).abs() < 0.001, "{p95}");
        assert!((t.avg().unwrap() - 0.0505).abs() < 1e-9);
        let mut r = CustomStats::default();
        for i in 0..10 {
            r.outcome(i != 0);
        }
        assert_eq!(r.ratio(), Some(0.9));
        assert_eq!(r.avg(), None);
    }
}
