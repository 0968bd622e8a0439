//! What a run's windows say beyond its thresholds: the capacity (a measured limit or only a
//! lower bound) and the latency drift (a trend or only noise). Pure functions of the run's
//! figures, laid out by `report`.

use super::Validity;
use crate::config::PlanSpec;
use crate::measure::WindowPoint;
use serde::{Deserialize, Serialize};

/// Capacity computed from the run's one-second windows (see `judge::analysis`). A capacity
/// is a figure only when the run found a limit: the SLO broke for `sustain` consecutive
/// windows after it had been met. Otherwise the run shows a lower bound, and nothing is
/// derived from it (no headroom, instances or months: they would be invented).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityReport {
    pub slo_p95_ms: f64,
    pub slo_error_rate: f64,
    /// Highest achieved req/s whose window met the SLO before it broke; `None` when the run
    /// found no limit (see `capacity_at_least_rps`) or no window met the SLO.
    pub capacity_rps: Option<f64>,
    /// Without a limit: the highest rate tried at which the SLO held. The capacity is at
    /// least this; it was not measured.
    #[serde(default)]
    pub capacity_at_least_rps: Option<f64>,
    /// Where latency starts climbing (knee of latency vs throughput); only with a limit.
    pub knee_rps: Option<f64>,
    pub expected_peak_rps: f64,
    /// 1 − peak / capacity: the share of capacity left at the expected peak.
    pub headroom_ratio: Option<f64>,
    /// ceil(peak × 1.2 / capacity).
    pub instances_needed: Option<u64>,
    pub monthly_growth: Option<f64>,
    pub months_until_exhausted: Option<f64>,
    /// True when the SLO broke for `sustain` consecutive windows: the limit was found.
    pub breaking_point_reached: bool,
    /// True when the run was invalid: the figures describe loadpacer, not the target, so the
    /// target's capacity is only known to be above them.
    pub limited_by_generator: bool,
    /// What the figures mean, in words (shown in the console and HTML).
    #[serde(default)]
    pub note: String,
    /// Replicas and per-pod resources for the expected peak, derived from the target's
    /// resources at the capacity point; only when a limit was found and they were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizing: Option<Sizing>,
}

/// A sizing suggestion: arithmetic on measured figures, labelled as derived.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sizing {
    /// Always true: these figures are computed, not measured.
    pub derived: bool,
    /// The capacity point the figures are read at (req/s) and when (s since the start).
    pub at_rps: f64,
    pub at_s: f64,
    /// The target's CPU (cores) and memory (bytes) there, over all its pods.
    pub cpu_cores: f64,
    pub memory_bytes: Option<f64>,
    /// Ready replicas there.
    pub replicas: Option<f64>,
    pub cpu_cores_per_100_rps: f64,
    pub memory_bytes_per_100_rps: Option<f64>,
    /// ceil(expected peak × 1.2 / capacity per replica).
    pub replicas_for_peak: Option<u64>,
    /// CPU each replica needs at its share of the peak with 20 % headroom (a request).
    pub cpu_request_per_pod: Option<f64>,
    /// Memory each replica used at capacity, plus 20 % (a limit).
    pub memory_limit_per_pod: Option<f64>,
    pub note: String,
}

/// Headroom on top of the expected peak when sizing.
const SIZING_HEADROOM: f64 = 1.2;

/// The sizing at the capacity point, when the run found a limit and read the target's CPU
/// there (a `resources` block). Resource polls are matched to the capacity window by time:
/// the poll nearest to the window's end, within two polling intervals.
pub fn sizing(
    report: &CapacityReport,
    windows: &[WindowPoint],
    resources: &super::resources::Resources,
) -> Option<Sizing> {
    let cap = report.capacity_rps?;
    let at = windows
        .iter()
        .filter(|w| w.width_s > 0.0)
        .min_by(|a, b| {
            let d = |w: &WindowPoint| (w.requests as f64 / w.width_s - cap).abs();
            d(a).total_cmp(&d(b))
        })?
        .t_s;
    let near = |name: &str| -> Option<f64> {
        let m = resources.monitors.iter().find(|m| m.name == name)?;
        let p = m
            .series
            .iter()
            .filter(|p| p.value.is_some())
            .min_by(|a, b| (a.t_s - at).abs().total_cmp(&(b.t_s - at).abs()))?;
        let spacing = m
            .series
            .windows(2)
            .map(|w| w[1].t_s - w[0].t_s)
            .fold(1.0, f64::max);
        ((p.t_s - at).abs() <= 2.0 * spacing).then_some(p.value?)
    };
    let cpu = near("target.cpu_cores")?;
    let memory = near("target.memory");
    let replicas = near("target.ready_replicas").filter(|r| *r >= 1.0);
    let peak = report.expected_peak_rps * SIZING_HEADROOM;
    let replicas_for_peak = replicas.map(|r| (peak / (cap / r)).ceil().max(1.0) as u64);
    let cpu_request_per_pod = replicas_for_peak.map(|n| cpu / cap * peak / n as f64);
    let memory_limit_per_pod = replicas.zip(memory).map(|(r, m)| m / r * SIZING_HEADROOM);
    let note = match (replicas, replicas_for_peak) {
        (Some(r), Some(n)) => format!(
            "derived: at {cap:.1} req/s the target used {cpu:.2} cores on {r:.0} replicas; for {:.0} req/s (the expected peak + 20 %) run {n} replicas",
            peak
        ),
        _ => format!(
            "derived: at {cap:.1} req/s the target used {cpu:.2} cores; its ready replicas were not read, so no replica count is derived"
        ),
    };
    Some(Sizing {
        derived: true,
        at_rps: cap,
        at_s: at,
        cpu_cores: cpu,
        memory_bytes: memory,
        replicas,
        cpu_cores_per_100_rps: cpu / cap * 100.0,
        memory_bytes_per_100_rps: memory.map(|m| m / cap * 100.0),
        replicas_for_peak,
        cpu_request_per_pod,
        memory_limit_per_pod,
        note,
    })
}

/// How latency moved over a long run (robust Theil–Sen slope of the per-window p95). Only
/// present for runs long enough to estimate it: see [`MIN_DRIFT_RUN`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoakReport {
    /// p95 growth per hour as a ratio of the median p95 (0.10 = +10 % an hour).
    pub latency_drift_per_hour: f64,
    /// The same slope in milliseconds per hour.
    #[serde(default)]
    pub latency_drift_ms_per_hour: f64,
    /// True when the slope's 95 % interval excludes zero, it is at least
    /// [`DRIFT_FLOOR_MS_PER_HOUR`] and it moved p95 by [`DRIFT_FLOOR_MS`] over the run;
    /// otherwise the run shows no trend, only noise.
    #[serde(default)]
    pub significant: bool,
    pub windows: usize,
    /// The bound it is judged against for `preset: soak` plans.
    pub max_drift_per_hour: f64,
    /// True when a soak plan drifted significantly beyond the bound.
    pub drifted: bool,
}

/// Drift beyond which a soak plan fails.
pub const MAX_SOAK_DRIFT_PER_HOUR: f64 = 0.10;

/// Runs shorter than this get no drift or memory-growth figure (unless the plan is a soak):
/// a slope per hour from seconds is an extrapolation, not a measurement.
pub const MIN_DRIFT_RUN: std::time::Duration = std::time::Duration::from_secs(600);

/// Windows with requests needed for a drift figure, soak plans included.
pub const MIN_DRIFT_WINDOWS: usize = 30;

/// A latency slope below this many milliseconds per hour is never a trend.
pub const DRIFT_FLOOR_MS_PER_HOUR: f64 = 5.0;

/// Nor is one that moved latency by less than this over the whole run.
pub const DRIFT_FLOOR_MS: f64 = 2.0;

/// Whether a run is long enough for slopes per hour: ≥ 10 minutes, or a soak plan.
pub fn long_enough_for_drift(plan: &PlanSpec, elapsed: std::time::Duration) -> bool {
    elapsed >= MIN_DRIFT_RUN || plan.uses_preset(crate::config::Preset::Soak)
}

pub fn soak_report(
    plan: &PlanSpec,
    elapsed: std::time::Duration,
    windows: &[WindowPoint],
) -> Option<SoakReport> {
    let pts: Vec<(f64, f64)> = windows
        .iter()
        .filter(|w| w.requests > 0)
        .map(|w| (w.t_s, w.p95_ms))
        .collect();
    if pts.len() < MIN_DRIFT_WINDOWS || !long_enough_for_drift(plan, elapsed) {
        return None;
    }
    let d = crate::judge::analysis::drift(&pts, DRIFT_FLOOR_MS_PER_HOUR, DRIFT_FLOOR_MS)?;
    let is_soak = plan.uses_preset(crate::config::Preset::Soak);
    Some(SoakReport {
        latency_drift_per_hour: d.ratio_per_hour,
        latency_drift_ms_per_hour: d.ms_per_hour,
        significant: d.significant,
        windows: pts.len(),
        max_drift_per_hour: MAX_SOAK_DRIFT_PER_HOUR,
        drifted: is_soak && d.significant && d.ratio_per_hour > MAX_SOAK_DRIFT_PER_HOUR,
    })
}

/// What a run with a `capacity` block found: the capacity (or a bound), and, when the
/// target's resources were read during a valid run, the sizing derived from them. Capacity
/// measured on R ready replicas is R instances' worth: the instances needed are then the
/// replicas the sizing derived, one answer, not two.
pub fn capacity_findings(
    c: &crate::config::CapacitySpec,
    windows: &[WindowPoint],
    validity: &Validity,
    resources: Option<&super::resources::Resources>,
) -> CapacityReport {
    let mut report = capacity_report(c, windows, validity);
    if let Some(r) = resources.filter(|_| validity.is_valid()) {
        report.sizing = sizing(&report, windows, r);
    }
    if let Some(n) = report.sizing.as_ref().and_then(|z| z.replicas_for_peak) {
        report.instances_needed = Some(n);
    }
    report
}

pub fn capacity_report(
    c: &crate::config::CapacitySpec,
    windows: &[WindowPoint],
    validity: &Validity,
) -> CapacityReport {
    use crate::judge::analysis::{self, LoadPoint, Slo};
    let windows = crate::measure::full_windows(windows);
    let points: Vec<LoadPoint> = windows
        .iter()
        .filter(|w| w.requests >= 5 && w.width_s > 0.0)
        .map(|w| LoadPoint {
            rate: w.requests as f64 / w.width_s,
            latency_ms: w.p95_ms,
            error_rate: w.errors as f64 / w.requests as f64,
        })
        .collect();
    let slo = Slo {
        latency_ms: c.slo_p95.as_secs_f64() * 1000.0,
        error_rate: c.slo_error_rate,
    };
    let found = analysis::capacity(&points, slo, c.sustain as usize);
    let cap = found.measured();
    let at_least = found
        .best_met
        .filter(|_| cap.is_none())
        .map(|single| sustained_rate(windows, &slo).unwrap_or(single));
    let note = match (cap, at_least) {
        (Some(x), _) => format!(
            "capacity {x:.1} req/s: the SLO (p95 <= {:.0} ms, errors <= {:.2}%) broke beyond it",
            slo.latency_ms,
            slo.error_rate * 100.0
        ),
        (None, Some(x)) => format!(
            "capacity >= {x:.1} req/s: the SLO held at every rate tried; no limit was found, so no headroom or instances are derived (use preset: breakpoint to find it)"
        ),
        (None, None) if points.is_empty() => {
            "no capacity figure: no window had enough requests".to_string()
        }
        (None, None) => {
            "no capacity figure: the SLO was broken at every rate tried".to_string()
        }
    };
    let mut report = CapacityReport {
        slo_p95_ms: slo.latency_ms,
        slo_error_rate: slo.error_rate,
        capacity_rps: cap,
        capacity_at_least_rps: at_least,
        knee_rps: cap.and_then(|_| analysis::knee(&points)),
        expected_peak_rps: c.expected_peak_rps,
        headroom_ratio: cap.map(|x| analysis::headroom(x, c.expected_peak_rps)),
        instances_needed: cap.map(|x| analysis::instances_needed(c.expected_peak_rps, x)),
        monthly_growth: c.monthly_growth,
        months_until_exhausted: cap.and_then(|x| {
            c.monthly_growth
                .and_then(|g| analysis::months_until_exhausted(x, c.expected_peak_rps, g))
        }),
        breaking_point_reached: found.broke,
        limited_by_generator: false,
        note,
        sizing: None,
    };
    if !validity.is_valid() {
        report.demote_to_lower_bound();
    }
    report
}

/// Windows a lower bound is taken over: one window's rate moves with completions that bunch
/// at its edges; a bound is what was sustained.
const SUSTAINED_WINDOWS: usize = 3;

/// The highest rate sustained over [`SUSTAINED_WINDOWS`] consecutive windows that all met
/// the SLO (their requests over their width together); `None` when no such span exists.
fn sustained_rate(windows: &[WindowPoint], slo: &crate::judge::analysis::Slo) -> Option<f64> {
    let met = |w: &WindowPoint| {
        w.requests > 0
            && w.width_s > 0.0
            && w.p95_ms <= slo.latency_ms
            && w.errors as f64 / w.requests as f64 <= slo.error_rate
    };
    windows
        .windows(SUSTAINED_WINDOWS.min(windows.len()).max(1))
        .filter(|span| span.iter().all(met))
        .map(|span| {
            let requests: u64 = span.iter().map(|w| w.requests).sum();
            requests as f64 / span.iter().map(|w| w.width_s).sum::<f64>()
        })
        .max_by(f64::total_cmp)
}

impl CapacityReport {
    /// The run measured loadpacer, not the target: whatever it reached bounds the target's
    /// capacity from below, and nothing is derived from it.
    pub fn demote_to_lower_bound(&mut self) {
        self.limited_by_generator = true;
        if let Some(x) = self.capacity_rps.take().or(self.capacity_at_least_rps) {
            self.capacity_at_least_rps = Some(x);
            self.note = format!("capacity >= {x:.1} req/s: the generator, not the target, was the limit; no headroom or instances are derived");
        }
        self.knee_rps = None;
        self.headroom_ratio = None;
        self.instances_needed = None;
        self.months_until_exhausted = None;
        self.sizing = None;
    }
}
