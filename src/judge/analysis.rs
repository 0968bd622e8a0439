//! Pure analysis of finished runs: capacity from a load ramp, the knee of the latency curve,
//! headroom and instances needed, regression against a baseline, and soak drift. No I/O;
//! every function is tested on synthetic data with known answers.

use serde::{Deserialize, Serialize};

/// One window of a ramp: the throughput reached and what the target showed at it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadPoint {
    /// Achieved requests per second.
    pub rate: f64,
    /// The SLO's latency percentile in the window, in milliseconds.
    pub latency_ms: f64,
    /// Failed / all requests in the window.
    pub error_rate: f64,
}

/// The service level a capacity is measured against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    pub latency_ms: f64,
    pub error_rate: f64,
}

impl Slo {
    fn met(&self, p: &LoadPoint) -> bool {
        p.latency_ms <= self.latency_ms && p.error_rate <= self.error_rate
    }
}

/// What a load ramp showed about the SLO: the highest rate that met it before it broke for
/// `sustain` consecutive windows (a single bad window is noise, not the breaking point), and
/// whether it did break. Without a sustained break the rate is only a lower bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapacityFinding {
    /// Highest rate of a window that met the SLO; `None` when no window met it.
    pub best_met: Option<f64>,
    /// True when the SLO broke for `sustain` consecutive windows.
    pub broke: bool,
}

impl CapacityFinding {
    /// The capacity, only when the run found the limit (the SLO broke after being met).
    pub fn measured(&self) -> Option<f64> {
        self.best_met.filter(|_| self.broke)
    }
}

/// Scans the windows in order until the SLO breaks for `sustain` consecutive windows.
pub fn capacity(points: &[LoadPoint], slo: Slo, sustain: usize) -> CapacityFinding {
    let sustain = sustain.max(1);
    let mut best: Option<f64> = None;
    let mut broken = 0;
    for p in points {
        if slo.met(p) {
            broken = 0;
            best = Some(best.map_or(p.rate, |b: f64| b.max(p.rate)));
        } else {
            broken += 1;
            if broken >= sustain {
                return CapacityFinding {
                    best_met: best,
                    broke: true,
                };
            }
        }
    }
    CapacityFinding {
        best_met: best,
        broke: false,
    }
}

/// The knee of the latency-vs-throughput curve: after normalising both axes to 0..1, the
/// point farthest below the diagonal (Kneedle for a convex, increasing curve). `None` with
/// fewer than three distinct points.
pub fn knee(points: &[LoadPoint]) -> Option<f64> {
    let mut pts: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.rate, p.latency_ms))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if pts.len() < 3 {
        return None;
    }
    let (x0, x1) = (pts[0].0, pts[pts.len() - 1].0);
    let (y0, y1) = pts.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    pts.iter()
        .map(|&(x, y)| (x, (x - x0) / (x1 - x0) - (y - y0) / (y1 - y0)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(x, _)| x)
}

/// Share of the capacity left unused at the expected peak: 0.25 means a quarter spare;
/// negative means the peak is over capacity.
pub fn headroom(capacity: f64, expected_peak: f64) -> f64 {
    if capacity <= 0.0 {
        return -1.0;
    }
    1.0 - expected_peak / capacity
}

/// Instances needed for the peak with 20 % margin: `ceil(peak × 1.2 / capacity)`.
pub fn instances_needed(expected_peak: f64, capacity_per_instance: f64) -> u64 {
    if capacity_per_instance <= 0.0 {
        return 0;
    }
    (expected_peak * 1.2 / capacity_per_instance)
        .ceil()
        .max(1.0) as u64
}

/// Months until a peak growing by `monthly_growth` (0.05 = 5 %/month) exceeds capacity;
/// `Some(0.0)` when it already does, `None` when it never will.
pub fn months_until_exhausted(
    capacity: f64,
    expected_peak: f64,
    monthly_growth: f64,
) -> Option<f64> {
    if expected_peak >= capacity {
        return Some(0.0);
    }
    if monthly_growth <= 0.0 || expected_peak <= 0.0 {
        return None;
    }
    Some((capacity / expected_peak).ln() / (1.0 + monthly_growth).ln())
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// A robust trend with its 95 % confidence interval (Sen's distribution-free interval for
/// the Theil–Sen slope).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    pub slope: f64,
    pub low: f64,
    pub high: f64,
}

impl Trend {
    /// True when the interval excludes zero: the data move in one direction, not just wobble.
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// Theil–Sen slope with Sen's 95 % interval: with `n` points and `N` pairwise slopes sorted,
/// the bounds are the slopes of rank `(N ∓ 1.96·sqrt(n(n−1)(2n+5)/18)) / 2`. `None` with
/// fewer than three points.
pub fn theil_sen_interval(points: &[(f64, f64)]) -> Option<Trend> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            if (b.0 - a.0).abs() > f64::EPSILON {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    let slope = median(&mut slopes)?; // sorts
    let nf = n as f64;
    let c = 1.96 * (nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0).sqrt();
    let big_n = slopes.len() as f64;
    let rank = |r: f64| slopes[(r.round().max(0.0) as usize).min(slopes.len() - 1)];
    Some(Trend {
        slope,
        low: rank((big_n - c) / 2.0),
        high: rank((big_n + c) / 2.0),
    })
}

/// Latency drift of a long run: the robust slope per hour as a ratio of the median latency
/// (0.10 = latency grows by 10 % of its typical value per hour), and whether it is a trend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    pub ratio_per_hour: f64,
    /// The slope in milliseconds per hour.
    pub ms_per_hour: f64,
    /// True when the 95 % interval of the slope excludes zero, the slope is at least
    /// `floor_ms_per_hour`, and it moved latency by at least `floor_ms` over the span of the
    /// points: sub-millisecond wobble of a fast service is never a trend.
    pub significant: bool,
}

/// Drift of `(seconds, milliseconds)` points; `None` with fewer than three points or a
/// typical latency of zero.
pub fn drift(points_s_ms: &[(f64, f64)], floor_ms_per_hour: f64, floor_ms: f64) -> Option<Drift> {
    let hours: Vec<(f64, f64)> = points_s_ms.iter().map(|(t, y)| (t / 3600.0, *y)).collect();
    let trend = theil_sen_interval(&hours)?;
    let mut ys: Vec<f64> = points_s_ms.iter().map(|p| p.1).collect();
    let typical = median(&mut ys)?;
    let span_hours = hours.last()?.0 - hours.first()?.0;
    (typical > 0.0).then(|| Drift {
        ratio_per_hour: trend.slope / typical,
        ms_per_hour: trend.slope,
        significant: trend.excludes_zero()
            && trend.slope.abs() >= floor_ms_per_hour
            && (trend.slope * span_hours).abs() >= floor_ms,
    })
}

/// The figures a regression check compares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub error_rate: f64,
    pub rps: f64,
    /// How many requests the percentiles come from.
    pub samples: u64,
}

impl Figures {
    /// The figures of a run's merged latency, its counts and its length in seconds.
    pub fn of(
        latency: &crate::measure::LatencyStats,
        requests: u64,
        errors: u64,
        secs: f64,
    ) -> Self {
        Figures {
            p50_ms: latency.p50_ms,
            p95_ms: latency.p95_ms,
            p99_ms: latency.p99_ms,
            error_rate: if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            },
            rps: requests as f64 / secs,
            samples: requests,
        }
    }
}

/// Samples a percentile needs before a change of it can count: ten beyond it (p95 from 200
/// requests, p99 from 1,000). With fewer, p99 is about the slowest request, which one
/// scheduling hiccup moves by more than any tolerance.
pub fn samples_needed(percentile: f64) -> u64 {
    (10.0 / (1.0 - percentile / 100.0)).round() as u64
}

/// How much worse a figure may get before it counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Relative growth allowed for latencies (0.10 = 10 %).
    pub latency: f64,
    /// Absolute growth allowed for the error rate (0.005 = half a percentage point).
    pub error_rate: f64,
    /// Relative drop allowed for throughput.
    pub throughput: f64,
    /// Latency changes smaller than this many milliseconds never count: on a fast service a
    /// 10 % change is well inside run-to-run noise.
    pub latency_floor_ms: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        use crate::config::RegressionSpec as R;
        Self {
            latency: R::DEFAULT_LATENCY,
            error_rate: R::DEFAULT_ERROR_RATE,
            throughput: R::DEFAULT_THROUGHPUT,
            latency_floor_ms: 5.0,
        }
    }
}

/// One compared figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub metric: String,
    pub baseline: f64,
    pub current: f64,
    /// (current − baseline) / baseline; 0 when the baseline is 0.
    pub delta_ratio: f64,
    pub regressed: bool,
    /// The percentile came from too few requests to judge a change of it (see
    /// [`samples_needed`]); shown, never counted as a regression.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub too_few_samples: bool,
}

/// Compares a run with the median of baseline runs. A figure regresses only when the change
/// exceeds its tolerance *and* falls outside the range the baseline runs themselves spanned,
/// so run-to-run noise does not page anyone.
pub fn regression(baseline: &[Figures], current: &Figures, tol: Tolerance) -> Vec<Delta> {
    type Get = fn(&Figures) -> f64;
    let metrics: [(&str, Get, bool); 5] = [
        ("p50", |f| f.p50_ms, true),
        ("p95", |f| f.p95_ms, true),
        ("p99", |f| f.p99_ms, true),
        ("error_rate", |f| f.error_rate, true),
        ("throughput", |f| f.rps, false),
    ];
    metrics
        .iter()
        .filter_map(|&(name, get, higher_is_worse)| {
            let mut values: Vec<f64> = baseline.iter().map(get).collect();
            let base = median(&mut values)?;
            let (lo, hi) = (values[0], values[values.len() - 1]);
            let cur = get(current);
            let delta_ratio = if base == 0.0 {
                0.0
            } else {
                (cur - base) / base
            };
            let fewest = baseline
                .iter()
                .map(|f| f.samples)
                .chain([current.samples])
                .min()
                .unwrap_or(0);
            let too_few_samples = match name {
                "p95" => fewest < samples_needed(95.0),
                "p99" => fewest < samples_needed(99.0),
                _ => false,
            };
            let beyond_tolerance = match name {
                "error_rate" => cur - base > tol.error_rate,
                "throughput" => base > 0.0 && (base - cur) / base > tol.throughput,
                _ => {
                    base > 0.0
                        && delta_ratio > tol.latency
                        && cur - base > tol.latency_floor_ms
                        && !too_few_samples
                }
            };
            let outside_spread = if higher_is_worse { cur > hi } else { cur < lo };
            Some(Delta {
                metric: name.to_string(),
                baseline: base,
                current: cur,
                delta_ratio,
                regressed: beyond_tolerance && outside_spread,
                too_few_samples,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service whose latency is flat (10 ms) up to 500 req/s and climbs steeply beyond.
    fn ramp() -> Vec<LoadPoint> {
        (1..=20)
            .map(|i| {
                let rate = i as f64 * 50.0;
                let latency_ms = if rate <= 500.0 {
                    10.0
                } else {
                    10.0 + (rate - 500.0) * 2.0
                };
                LoadPoint {
                    rate,
                    latency_ms,
                    error_rate: if rate > 800.0 { 0.05 } else { 0.0 },
                }
            })
            .collect()
    }

    #[test]
    fn capacity_is_the_highest_rate_meeting_the_slo() {
        let slo = Slo {
            latency_ms: 250.0,
            error_rate: 0.01,
        };
        // 10 + (r − 500)·2 ≤ 250 → r ≤ 620: the 600 req/s window is the last one meeting it.
        assert_eq!(capacity(&ramp(), slo, 2).measured(), Some(600.0));
        // One noisy window does not end the search.
        let mut pts = ramp();
        pts[3].latency_ms = 900.0;
        assert_eq!(capacity(&pts, slo, 2).measured(), Some(600.0));
        assert_eq!(capacity(&pts, slo, 1).measured(), Some(150.0));
        assert_eq!(capacity(&[], slo, 2).measured(), None);
    }

    #[test]
    fn a_ramp_that_never_breaks_the_slo_gives_only_a_lower_bound() {
        let slo = Slo {
            latency_ms: 5_000.0,
            error_rate: 0.5,
        };
        let found = capacity(&ramp(), slo, 2);
        assert!(!found.broke);
        assert_eq!(found.best_met, Some(1000.0));
        assert_eq!(found.measured(), None, "no limit found, no capacity");
    }

    #[test]
    fn knee_is_where_latency_starts_climbing() {
        let k = knee(&ramp()).unwrap();
        assert!((450.0..=550.0).contains(&k), "knee {k}");
    }

    #[test]
    fn headroom_instances_and_growth() {
        assert!((headroom(400.0, 300.0) - 0.25).abs() < 1e-9);
        assert!(headroom(200.0, 300.0) < 0.0);
        assert_eq!(instances_needed(300.0, 100.0), 4); // 300 × 1.2 / 100 = 3.6 → 4
        assert_eq!(instances_needed(250.0, 100.0), 3);
        let m = months_until_exhausted(400.0, 300.0, 0.05).unwrap();
        assert!((m - 5.896).abs() < 0.01, "{m}"); // ln(4/3) / ln(1.05)
        assert_eq!(months_until_exhausted(300.0, 400.0, 0.05), Some(0.0));
        assert_eq!(months_until_exhausted(400.0, 300.0, 0.0), None);
    }

    #[test]
    fn drift_slope_is_robust_to_outliers() {
        // 100 ms growing by 10 ms per hour, sampled every minute for 3 h, with two spikes.
        let mut pts: Vec<(f64, f64)> = (0..180)
            .map(|m| (m as f64 * 60.0, 100.0 + m as f64 / 6.0))
            .collect();
        pts[50].1 = 5_000.0;
        pts[120].1 = 1.0;
        let slope = theil_sen_interval(
            &pts.iter()
                .map(|(t, y)| (t / 3600.0, *y))
                .collect::<Vec<_>>(),
        )
        .unwrap()
        .slope;
        assert!((slope - 10.0).abs() < 0.01, "{slope}");
        let d = drift(&pts, 5.0, 2.0).unwrap();
        assert!((d.ratio_per_hour - 10.0 / 114.92).abs() < 0.005, "{d:?}");
        assert!(d.significant, "10 ms/h over 3 h is a trend");
        let flat: Vec<(f64, f64)> = (0..60).map(|m| (m as f64 * 60.0, 50.0)).collect();
        let d = drift(&flat, 5.0, 2.0).unwrap();
        assert_eq!(d.ratio_per_hour, 0.0);
        assert!(!d.significant);
    }

    #[test]
    fn sub_millisecond_wobble_is_never_a_trend() {
        // A 10-minute run at p95 ≈ 1.4 ms whose windows wobble by ±0.2 ms and happen to sag
        // slightly: a large ratio per hour, but far below the absolute floor.
        let pts: Vec<(f64, f64)> = (0..600)
            .map(|s| {
                let wobble = if s % 7 < 3 { 0.2 } else { -0.2 };
                (s as f64, 1.45 - s as f64 / 600.0 * 0.06 + wobble)
            })
            .collect();
        let d = drift(&pts, 5.0, 2.0).unwrap();
        assert!(d.ratio_per_hour.abs() > 0.1, "{d:?}");
        assert!(!d.significant, "{d:?}");
    }

    #[test]
    fn pure_noise_has_an_interval_around_zero() {
        let pts: Vec<(f64, f64)> = (0..300)
            .map(|s| (s as f64, 100.0 + ((s * 7919) % 31) as f64 - 15.0))
            .collect();
        let hours: Vec<(f64, f64)> = pts.iter().map(|(t, y)| (t / 3600.0, *y)).collect();
        let t = theil_sen_interval(&hours).unwrap();
        assert!(t.low < 0.0 && t.high > 0.0, "{t:?}");
    }

    fn fig(p95: f64, err: f64, rps: f64) -> Figures {
        Figures {
            p50_ms: p95 / 2.0,
            p95_ms: p95,
            p99_ms: p95 * 1.5,
            error_rate: err,
            rps,
            samples: 10_000,
        }
    }

    #[test]
    fn a_p99_from_a_few_requests_is_shown_but_never_a_regression() {
        let base = Figures {
            samples: 50,
            ..fig(100.0, 0.0, 25.0)
        };
        let slower_tail = Figures {
            p99_ms: 200.0,
            ..base
        };
        let d = regression(&[base], &slower_tail, Tolerance::default());
        let p99 = d.iter().find(|d| d.metric == "p99").unwrap();
        assert!(p99.too_few_samples && !p99.regressed, "{p99:?}");
        // With enough requests the same change counts.
        let many = |f: Figures| Figures {
            samples: 5_000,
            ..f
        };
        let d = regression(&[many(base)], &many(slower_tail), Tolerance::default());
        assert!(d.iter().any(|d| d.metric == "p99" && d.regressed), "{d:?}");
        assert_eq!(samples_needed(95.0), 200);
        assert_eq!(samples_needed(99.0), 1000);
    }

    #[test]
    fn regression_needs_tolerance_and_spread() {
        let base = [
            fig(100.0, 0.001, 500.0),
            fig(110.0, 0.002, 490.0),
            fig(95.0, 0.001, 510.0),
        ];
        // Same as the baseline: nothing.
        assert!(
            regression(&base, &fig(104.0, 0.001, 500.0), Tolerance::default())
                .iter()
                .all(|d| !d.regressed)
        );
        // 30 % slower: p50/p95/p99 regress, error rate and throughput do not.
        let d = regression(&base, &fig(130.0, 0.001, 500.0), Tolerance::default());
        let flagged: Vec<&str> = d
            .iter()
            .filter(|d| d.regressed)
            .map(|d| d.metric.as_str())
            .collect();
        assert_eq!(flagged, vec!["p50", "p95", "p99"]);
        let p95 = d.iter().find(|d| d.metric == "p95").unwrap();
        assert!((p95.delta_ratio - 0.30).abs() < 1e-9);
        // 12 % slower but within what the baseline runs spanned when they were noisy: not flagged.
        let noisy = [
            fig(100.0, 0.001, 500.0),
            fig(140.0, 0.001, 500.0),
            fig(90.0, 0.001, 500.0),
        ];
        assert!(
            !regression(&noisy, &fig(112.0, 0.001, 500.0), Tolerance::default())
                .iter()
                .any(|d| d.regressed)
        );
        // A fast service 40 % slower by 0.4 ms is noise, not a regression.
        let fast = [fig(1.0, 0.0, 500.0)];
        assert!(
            !regression(&fast, &fig(1.4, 0.0, 500.0), Tolerance::default())
                .iter()
                .any(|d| d.regressed)
        );
        // More errors and less throughput.
        let d = regression(&base, &fig(100.0, 0.02, 300.0), Tolerance::default());
        let flagged: Vec<&str> = d
            .iter()
            .filter(|d| d.regressed)
            .map(|d| d.metric.as_str())
            .collect();
        assert_eq!(flagged, vec!["error_rate", "throughput"]);
    }
}
