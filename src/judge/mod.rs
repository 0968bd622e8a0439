//! Judging a run: thresholds (with "no data"), grades, and whether the generator itself can
//! be trusted (dispatch lag and dropped iterations).

pub mod analysis;
pub mod findings;
pub mod judgement;
pub mod resources;
pub mod verdict;

pub use crate::config::Grade;
use crate::config::{Agg, GradeBand, MetricKind, PlanSpec, Threshold};
use crate::measure::{Histo, LatencyStats, Recorder};
use crate::sync::LockExt;
pub use judgement::{Inputs, Judgement};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Outcome of one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The metric had no samples: never counted as a pass.
    NoData,
}

/// A threshold with its observed value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub metric: String,
    pub expr: String,
    pub verdict: Verdict,
    /// The measured value (milliseconds for latencies); absent when there was no data.
    pub observed: Option<f64>,
    /// The unit of `observed`: `ms`, `ratio`, `1/s`, `count`, `cores`, `bytes`, or empty for
    /// a monitor's own number.
    #[serde(default)]
    pub unit: String,
    pub abort_on_fail: bool,
}

impl ThresholdResult {
    /// The observed value with its unit, for people: `12.4 ms`, `1.20 %`, `10.5 MiB`.
    pub fn observed_text(&self) -> Option<String> {
        self.observed.map(|v| with_unit(v, &self.unit))
    }
}

/// A value with its unit, for people.
pub fn with_unit(v: f64, unit: &str) -> String {
    match unit {
        "ms" => format!("{v:.1} ms"),
        "s" => format!("{:.1} ms", v * 1000.0),
        "ratio" => format!("{:.2} %", v * 100.0),
        "1/s" => format!("{v:.1}/s"),
        "count" => format!("{v:.0}"),
        "cores" => format!("{v:.2} cores"),
        "bytes" => format!("{:.1} MiB", v / (1024.0 * 1024.0)),
        "pods" => format!("{v:.0} pods"),
        // A user's monitor: its value as polled, said to be unitless.
        _ => format!("{v:.3} (as polled)"),
    }
}

/// The unit a threshold's value is observed in.
fn unit_of(plan: &PlanSpec, t: &Threshold) -> &'static str {
    use crate::config::custom::{CustomKind, CustomUnit};
    if t.metric == MetricKind::Custom {
        let m = plan
            .metrics
            .iter()
            .find(|m| Some(&m.name) == t.request.as_ref());
        return match (m.map(|m| (m.kind, m.unit)), t.agg) {
            (_, Agg::Count) => "count",
            (Some((CustomKind::Rate, _)), _) => "ratio",
            (Some((CustomKind::Counter, _)), _) => "1/s",
            (Some((_, CustomUnit::Seconds)), _) => "s",
            (Some((_, CustomUnit::Bytes)), _) => "bytes",
            _ => "",
        };
    }
    match (t.metric, t.agg) {
        (MetricKind::Monitor, _) => t
            .request
            .as_deref()
            .and_then(crate::config::target_resources::figure_unit)
            .unwrap_or(""),
        (MetricKind::HostCpu, _) => "ratio",
        (MetricKind::ProcessCpu, _) => "cores",
        (MetricKind::ProcessRss, _) => "bytes",
        (_, Agg::Count) => "count",
        (m, _) if m.is_duration() => "ms",
        (MetricKind::Errors | MetricKind::Checks | MetricKind::Dropped, _) => "ratio",
        (MetricKind::Disconnects, _) => "ratio",
        (MetricKind::Requests | MetricKind::Iterations | MetricKind::Messages, _) => "1/s",
        _ => "",
    }
}

/// Evaluates one threshold over what was recorded in `elapsed` (host and process figures
/// have no data during a run; see [`evaluate_all_with`]).
pub fn evaluate(
    plan: &PlanSpec,
    t: &Threshold,
    rec: &Recorder,
    elapsed: Duration,
) -> ThresholdResult {
    evaluate_with(plan, t, rec, elapsed, None)
}

fn evaluate_with(
    plan: &PlanSpec,
    t: &Threshold,
    rec: &Recorder,
    elapsed: Duration,
    resources: Option<&resources::Resources>,
) -> ThresholdResult {
    let observed = match (t.metric, resources) {
        (
            MetricKind::HostCpu
            | MetricKind::ProcessCpu
            | MetricKind::ProcessRss
            | MetricKind::Monitor,
            Some(r),
        ) => observe_resources(t, r),
        _ => observe(plan, t, rec, elapsed),
    };
    let verdict = match observed {
        None => Verdict::NoData,
        Some(v) if t.op.holds(v, t.value) => Verdict::Pass,
        Some(_) => Verdict::Fail,
    };
    ThresholdResult {
        metric: t.metric_text.clone(),
        expr: t.expr_text.clone(),
        verdict,
        observed,
        unit: unit_of(plan, t).into(),
        abort_on_fail: t.abort_on_fail,
    }
}

/// Evaluates all thresholds of a plan.
pub fn evaluate_all(plan: &PlanSpec, rec: &Recorder, elapsed: Duration) -> Vec<ThresholdResult> {
    evaluate_all_with(plan, rec, elapsed, None)
}

/// Evaluates all thresholds, host and process figures included.
pub fn evaluate_all_with(
    plan: &PlanSpec,
    rec: &Recorder,
    elapsed: Duration,
    resources: Option<&resources::Resources>,
) -> Vec<ThresholdResult> {
    plan.thresholds
        .iter()
        .map(|t| evaluate_with(plan, t, rec, elapsed, resources))
        .collect()
}

fn observe_resources(t: &Threshold, r: &resources::Resources) -> Option<f64> {
    let stat = match t.metric {
        MetricKind::HostCpu => r.host_cpu_ratio,
        MetricKind::ProcessCpu => r.process(t.request.as_deref()?)?.cpu_cores,
        MetricKind::ProcessRss => r.process(t.request.as_deref()?)?.rss_bytes,
        MetricKind::Monitor => {
            r.monitors
                .iter()
                .find(|m| Some(&m.name) == t.request.as_ref())?
                .value
        }
        _ => return None,
    };
    if stat.samples == 0 {
        return None;
    }
    match t.agg {
        Agg::Avg => Some(stat.avg),
        Agg::Max => Some(stat.max),
        _ => None,
    }
}

fn observe(plan: &PlanSpec, t: &Threshold, rec: &Recorder, elapsed: Duration) -> Option<f64> {
    let selected: Vec<usize> = (0..plan.requests.len())
        .filter(|&i| {
            t.request
                .as_ref()
                .is_none_or(|r| &plan.requests[i].name == r)
        })
        .collect();
    let secs = elapsed.as_secs_f64().max(1e-3);
    let requests: u64 = selected.iter().map(|&i| rec.requests[i].count()).sum();
    if t.metric.is_stream() {
        return observe_stream(plan, t, rec, secs);
    }
    if t.metric == MetricKind::Custom {
        return observe_custom(plan, t, rec, secs);
    }
    match t.metric {
        MetricKind::HostCpu
        | MetricKind::ProcessCpu
        | MetricKind::ProcessRss
        | MetricKind::Monitor
        | MetricKind::StreamConnect
        | MetricKind::StreamRtt
        | MetricKind::StreamPing
        | MetricKind::FirstMessage
        | MetricKind::MessageGap
        | MetricKind::Messages
        | MetricKind::Disconnects
        | MetricKind::Custom => None,
        MetricKind::Latency | MetricKind::Ttfb => {
            aggregate_ms(merged_durations(t, rec, &selected).as_ref(), t.agg)
        }
        MetricKind::Errors => {
            let errors: u64 = selected
                .iter()
                .map(|&i| rec.requests[i].error_count())
                .sum();
            match t.agg {
                Agg::Count => Some(errors as f64),
                _ => (requests > 0).then(|| errors as f64 / requests as f64),
            }
        }
        MetricKind::Checks => observe_checks(plan, t, rec),
        MetricKind::Requests => match t.agg {
            Agg::Count => Some(requests as f64),
            _ => (requests > 0).then(|| requests as f64 / secs),
        },
        MetricKind::Iterations => {
            let n = rec.total_iterations();
            match t.agg {
                Agg::Count => Some(n as f64),
                _ => (n > 0).then(|| n as f64 / secs),
            }
        }
        MetricKind::Dropped => {
            let started = rec.lag.len();
            match t.agg {
                Agg::Count => Some(rec.dropped as f64),
                _ => (started + rec.dropped > 0)
                    .then(|| rec.dropped as f64 / (started + rec.dropped) as f64),
            }
        }
    }
}

/// The latency (or time-to-first-byte) histograms of the selected requests, merged.
fn merged_durations(t: &Threshold, rec: &Recorder, selected: &[usize]) -> Option<Histo> {
    let mut h: Option<Histo> = None;
    for &i in selected {
        let src = if t.metric == MetricKind::Latency {
            rec.requests[i].latency()
        } else {
            rec.requests[i].ttfb()
        };
        match h.as_mut() {
            Some(h) => {
                let _ = h.add(&*src);
            }
            None => h = Some(src.into_owned()),
        }
    }
    h
}

/// `checks`: the pass rate (or the count) of the plan's checks, or of one request's.
fn observe_checks(plan: &PlanSpec, t: &Threshold, rec: &Recorder) -> Option<f64> {
    let (pass, fail) = plan
        .checks
        .iter()
        .enumerate()
        .filter(|(_, k)| t.request.as_ref().is_none_or(|r| &k.request == r))
        .fold((0, 0), |(p, f), (i, _)| {
            (p + rec.checks[i].0, f + rec.checks[i].1)
        });
    match t.agg {
        Agg::Count => Some((pass + fail) as f64),
        _ => (pass + fail > 0).then(|| pass as f64 / (pass + fail) as f64),
    }
}

/// A duration histogram aggregated in milliseconds; `None` without samples or for `rate`.
fn aggregate_ms(h: Option<&Histo>, agg: Agg) -> Option<f64> {
    let h = h.filter(|h| !h.is_empty())?;
    let ms = |us: u64| us as f64 / 1000.0;
    Some(match agg {
        Agg::Percentile(p) => ms(h.value_at_quantile(p / 100.0)),
        Agg::Avg => h.mean() / 1000.0,
        Agg::Min => ms(h.min()),
        Agg::Max => ms(h.max()),
        Agg::Count => h.len() as f64,
        Agg::Rate => return None,
    })
}

/// A streaming figure over the selected steps (`step=NAME`, or all).
/// A user-defined metric: no event recorded is no data, never 0.
fn observe_custom(plan: &PlanSpec, t: &Threshold, rec: &Recorder, secs: f64) -> Option<f64> {
    use crate::config::custom::CustomKind;
    let i = plan
        .metrics
        .iter()
        .position(|m| Some(&m.name) == t.request.as_ref())?;
    let stats = rec.custom.get(i).filter(|s| s.count > 0)?;
    match (plan.metrics[i].kind, t.agg) {
        (_, Agg::Count) if plan.metrics[i].kind == CustomKind::Counter => Some(stats.sum),
        (_, Agg::Count) => Some(stats.count as f64),
        (CustomKind::Counter, Agg::Rate) => Some(stats.sum / secs),
        (CustomKind::Rate, Agg::Rate) => stats.ratio(),
        (_, Agg::Percentile(p)) => stats.quantile(p / 100.0),
        (_, Agg::Avg) => stats.avg(),
        (_, Agg::Min) => Some(stats.min),
        (_, Agg::Max) => Some(stats.max),
        _ => None,
    }
}

fn observe_stream(plan: &PlanSpec, t: &Threshold, rec: &Recorder, secs: f64) -> Option<f64> {
    let mut merged = crate::measure::StreamStats::default();
    let mut any = false;
    for (i, k) in plan.streams.iter().enumerate() {
        if t.request.as_ref().is_none_or(|r| &k.name == r) {
            if let Some(s) = rec.streams.get(i) {
                merged.merge(s);
                any = true;
            }
        }
    }
    if !any {
        return None;
    }
    match t.metric {
        MetricKind::StreamConnect => aggregate_ms(Some(&merged.connect), t.agg),
        MetricKind::StreamRtt => aggregate_ms(Some(&merged.rtt), t.agg),
        MetricKind::StreamPing => aggregate_ms(Some(&merged.ping), t.agg),
        MetricKind::FirstMessage => aggregate_ms(Some(&merged.first_message), t.agg),
        MetricKind::MessageGap => aggregate_ms(Some(&merged.gap), t.agg),
        MetricKind::Messages => match t.agg {
            Agg::Count => Some(merged.messages_received as f64),
            _ => (merged.messages_received > 0).then(|| merged.messages_received as f64 / secs),
        },
        MetricKind::Disconnects => {
            let attempts = merged.sessions + merged.attempts_failed();
            match t.agg {
                Agg::Count => Some((merged.disconnect_rate() * attempts as f64).round()),
                _ => (attempts > 0).then(|| merged.disconnect_rate()),
            }
        }
        _ => None,
    }
}

/// The best grade whose bounds the figures meet; `poor` when none is met, `None` when the plan
/// has no grade table or nothing was measured.
pub fn grade(bands: &[GradeBand], latency: &Histo, errors: u64, requests: u64) -> Option<Grade> {
    let figures = (requests > 0).then(|| GradeFigures {
        p95: Duration::from_micros(latency.value_at_quantile(0.95)),
        error_rate: errors as f64 / requests as f64,
        throughput: None,
    });
    grade_of(bands, figures)
}

/// What a grade band is checked against.
#[derive(Debug, Clone, Copy)]
pub struct GradeFigures {
    pub p95: Duration,
    pub error_rate: f64,
    /// Requests or messages per second; `None` when bands with a throughput bound do not
    /// apply (the plan-wide grade of a run, whose rate the load shape sets).
    pub throughput: Option<f64>,
}

/// The best band the figures meet; `poor` when none is met; `None` without bands or figures.
pub fn grade_of(bands: &[GradeBand], figures: Option<GradeFigures>) -> Option<Grade> {
    let f = figures.filter(|_| !bands.is_empty())?;
    Some(
        bands
            .iter()
            .find(|b| {
                f.p95 <= b.p95
                    && f.error_rate <= b.error_rate
                    && b.throughput
                        .is_none_or(|min| f.throughput.is_none_or(|t| t >= min))
            })
            .map(|b| b.grade)
            .unwrap_or(Grade::Poor),
    )
}

/// Bounds past which the generator, not the target, decided the figures.
pub const MAX_DROPPED_RATIO: f64 = 0.01;
/// Dispatch lag p99 above this makes the latency figures untrustworthy.
pub const MAX_LAG_P99: Duration = Duration::from_millis(100);

/// Whether the figures describe the target (`valid`) or the generator (`invalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidityStatus {
    Valid,
    Invalid,
}

/// Whether the generator kept up with its schedule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Validity {
    pub status: ValidityStatus,
    /// Which bound was crossed, in words.
    pub reasons: Vec<String>,
    pub dropped_ratio: f64,
    pub dispatch_lag: LatencyStats,
}

impl Validity {
    /// True when the figures describe the target.
    pub fn is_valid(&self) -> bool {
        self.status == ValidityStatus::Valid
    }

    /// Marks the figures invalid for `reason` (e.g. loadpacer's own CPU was saturated).
    pub fn invalidate(&mut self, reason: String) {
        self.status = ValidityStatus::Invalid;
        self.reasons.push(reason);
    }
}

/// Checks dropped iterations and dispatch lag against their bounds.
pub fn validity(rec: &Recorder) -> Validity {
    let started = rec.lag.len();
    let dropped_ratio = if started + rec.dropped == 0 {
        0.0
    } else {
        rec.dropped as f64 / (started + rec.dropped) as f64
    };
    let lag = LatencyStats::of(&rec.lag);
    let mut reasons = Vec::new();
    if dropped_ratio > MAX_DROPPED_RATIO {
        reasons.push(format!(
            "{:.1}% of iterations were dropped at max_in_flight (limit {:.0}%): raise max_in_flight or lower the rate",
            dropped_ratio * 100.0,
            MAX_DROPPED_RATIO * 100.0
        ));
    }
    if lag.p99_ms > MAX_LAG_P99.as_secs_f64() * 1000.0 {
        reasons.push(format!(
            "dispatch lag p99 was {:.1} ms (limit {} ms): the generator could not keep its schedule",
            lag.p99_ms,
            MAX_LAG_P99.as_millis()
        ));
    }
    Validity {
        status: if reasons.is_empty() {
            ValidityStatus::Valid
        } else {
            ValidityStatus::Invalid
        },
        reasons,
        dropped_ratio,
        dispatch_lag: lag,
    }
}

/// Stops a run when a threshold marked `abort_on_fail` fails, once its `delay_abort_eval`
/// has passed. Evaluated every second on everything recorded so far.
pub struct AbortGuard {
    plan: std::sync::Arc<PlanSpec>,
}

impl AbortGuard {
    pub fn new(plan: std::sync::Arc<PlanSpec>) -> Self {
        Self { plan }
    }

    /// The reason to abort, if a guarded threshold fails now.
    pub fn check(&self, total: &Recorder, elapsed: Duration) -> Option<String> {
        self.plan
            .thresholds
            .iter()
            .filter(|t| t.abort_on_fail && elapsed >= t.delay_abort_eval)
            .map(|t| evaluate(&self.plan, t, total, elapsed))
            .find(|r| r.verdict == Verdict::Fail)
            .map(|r| {
                format!(
                    "threshold {}: {} failed (observed {}) and has abort_on_fail",
                    r.metric,
                    r.expr,
                    r.observed_text().unwrap_or_default()
                )
            })
    }
}

impl crate::run::Observer for AbortGuard {
    fn on_window(&mut self, v: &crate::run::WindowView<'_>) -> crate::run::Control {
        match self.check(v.total, v.elapsed) {
            Some(reason) => crate::run::Control::Abort(reason),
            None => crate::run::Control::Continue,
        }
    }
}

/// Ends a `breakpoint` run once the capacity SLO has been broken for `sustain` consecutive
/// one-second windows: the limit is found, more load would only hurt the target.
pub struct BreakpointWatch {
    slo: Option<analysis::Slo>,
    sustain: u32,
    broken: u32,
}

impl BreakpointWatch {
    /// Watches only plans with a `capacity` block that use the breakpoint preset.
    pub fn new(plan: &PlanSpec) -> Self {
        let active = plan.uses_preset(crate::config::Preset::Breakpoint);
        let slo = plan
            .capacity
            .as_ref()
            .filter(|_| active)
            .map(|c| analysis::Slo {
                latency_ms: c.slo_p95.as_secs_f64() * 1000.0,
                error_rate: c.slo_error_rate,
            });
        Self {
            slo,
            sustain: plan.capacity.as_ref().map(|c| c.sustain).unwrap_or(3),
            broken: 0,
        }
    }
}

impl crate::run::Observer for BreakpointWatch {
    fn on_window(&mut self, v: &crate::run::WindowView<'_>) -> crate::run::Control {
        let Some(slo) = self.slo else {
            return crate::run::Control::Continue;
        };
        let requests = v.window.total_requests();
        if requests < 5 {
            return crate::run::Control::Continue;
        }
        let p95 = LatencyStats::of(&v.window.merged_latency()).p95_ms;
        let err = v.window.total_errors() as f64 / requests as f64;
        if p95 > slo.latency_ms || err > slo.error_rate {
            self.broken += 1;
        } else {
            self.broken = 0;
        }
        if self.broken >= self.sustain {
            crate::run::Control::Stop(format!(
                "breaking point reached: the SLO (p95 <= {:.0} ms, errors <= {:.2}%) broke for {} consecutive seconds at {:.0} req/s",
                slo.latency_ms,
                slo.error_rate * 100.0,
                self.sustain,
                requests as f64 / v.window_secs.max(1e-3)
            ))
        } else {
            crate::run::Control::Continue
        }
    }
}

/// CPU share of its cores above which loadpacer counts as saturated.
pub const MAX_CPU_RATIO: f64 = 0.85;
/// How long the CPU must stay above [`MAX_CPU_RATIO`] before the run is invalid.
pub const MAX_CPU_SECONDS: u32 = 5;

/// Samples loadpacer's own CPU once a second during a run; when it stays above 85 % of its
/// cores for 5 s the generator, not the target, limits the figures. The finding is read
/// after the run with [`CpuWatch::finding`] and makes the run's validity invalid.
pub struct CpuWatch {
    sampler: crate::host::ProcessSampler,
    above: u32,
    peak: f64,
    finding: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl CpuWatch {
    pub fn new() -> Self {
        let mut sampler = crate::host::ProcessSampler::this_process();
        let _ = sampler.sample(); // prime: the first reading is always 0
        Self {
            sampler,
            above: 0,
            peak: 0.0,
            finding: Default::default(),
        }
    }

    /// A handle to read the finding after the run.
    pub fn finding(&self) -> std::sync::Arc<std::sync::Mutex<Option<String>>> {
        self.finding.clone()
    }
}

impl Default for CpuWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl crate::run::Observer for CpuWatch {
    fn on_window(&mut self, _v: &crate::run::WindowView<'_>) -> crate::run::Control {
        if let Some(s) = self.sampler.sample() {
            if s.cpu_ratio > MAX_CPU_RATIO {
                self.above += 1;
                self.peak = self.peak.max(s.cpu_ratio);
                if self.above >= MAX_CPU_SECONDS {
                    let msg = format!(
                        "loadpacer's CPU stayed above {:.0}% of its cores for {} s (peak {:.0}%): the generator was the bottleneck; give it more CPU or split the load with --segment",
                        MAX_CPU_RATIO * 100.0,
                        self.above,
                        self.peak * 100.0
                    );
                    *self.finding.locked() = Some(msg);
                }
            } else {
                self.above = 0;
            }
        }
        crate::run::Control::Continue
    }
}
