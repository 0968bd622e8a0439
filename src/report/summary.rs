//! `summary.json`, schema version 1. Fields are only ever added within a version; a change of
//! meaning bumps `schema_version`. Latencies are in milliseconds, rates per second.

use crate::config::{LoadShape, PlanSpec};
use crate::judge::analysis::{regression, Delta, Figures, Tolerance};
use crate::judge::findings::{capacity_report, soak_report};
pub use crate::judge::findings::{
    long_enough_for_drift, CapacityReport, SoakReport, DRIFT_FLOOR_MS, DRIFT_FLOOR_MS_PER_HOUR,
    MAX_SOAK_DRIFT_PER_HOUR, MIN_DRIFT_RUN, MIN_DRIFT_WINDOWS,
};
use crate::judge::resources::Resources;
use crate::judge::{self, ThresholdResult, Validity, Verdict};
use crate::measure::{ErrorKind, LatencyStats, Recorder, RequestStats, WindowPoint};
use crate::run::{Ending, RunOutput};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the summary layout.
pub const SCHEMA_VERSION: u32 = 1;

/// The verdict of a run, and its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    Aborted,
    Interrupted,
    Invalid,
    /// loadpacer failed during the run (a panic): the figures are incomplete.
    Error,
}

impl Outcome {
    /// Exit code of `run` and `hit`.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Passed => 0,
            Outcome::Failed | Outcome::Aborted | Outcome::Error => 1,
            Outcome::Invalid => 3,
            Outcome::Interrupted => 130,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Aborted => "aborted",
            Outcome::Interrupted => "interrupted",
            Outcome::Invalid => "invalid",
            Outcome::Error => "error",
        }
    }
}

/// The load as it was configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSummary {
    /// `open` (arrival rate) or `closed` (VUs).
    pub model: String,
    pub preset: Option<String>,
    /// `[name, duration_s, from, to]` per phase or stage (rate for open, VUs for closed).
    pub steps: Vec<(String, f64, f64, f64)>,
    pub max_in_flight: Option<u64>,
    pub iterations: Option<u64>,
}

/// Figures over all requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub rps: f64,
    pub iterations: u64,
    pub dropped_iterations: u64,
    /// Requests of a closed-model run that waited for the `limits.max_rps` cap.
    #[serde(default)]
    pub paced_requests: u64,
    /// Requests re-sent once because their kept-alive connection had been closed by the
    /// target at reuse (not errors).
    #[serde(default)]
    pub stale_connection_retries: u64,
    pub checks_passed: u64,
    pub checks_failed: u64,
    pub latency: LatencyStats,
}

/// One check's outcome counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckSummary {
    pub name: String,
    pub passed: u64,
    pub failed: u64,
}

/// Figures of one request name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestSummary {
    pub scenario: String,
    pub name: String,
    pub method: String,
    pub count: u64,
    pub rps: f64,
    pub error_rate: f64,
    /// From the intended send time (coordinated-omission corrected).
    pub latency: LatencyStats,
    /// From the actual send.
    pub service_time: LatencyStats,
    pub ttfb: LatencyStats,
    pub statuses: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub checks: Vec<CheckSummary>,
    pub grade: Option<String>,
}

/// The whole summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    pub tool: String,
    pub tool_version: String,
    pub plan: String,
    pub description: Option<String>,
    pub config_hash: String,
    pub target: String,
    /// `I/N` for distributed runs.
    pub segment: String,
    pub started_at: String,
    pub duration_s: f64,
    pub scheduled_s: f64,
    pub result: Outcome,
    /// Why the run was aborted, interrupted or invalid.
    pub reasons: Vec<String>,
    pub load: LoadSummary,
    pub totals: Totals,
    pub requests: Vec<RequestSummary>,
    pub thresholds: Vec<ThresholdResult>,
    pub grade: Option<String>,
    pub validity: Validity,
    pub windows: Vec<WindowPoint>,
    /// Capacity figures, when the plan has a `capacity` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityReport>,
    /// Host, loadpacer and watched-process figures over the run (avg/max of 1-s samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Latency drift over the run, when it was long enough (see [`MIN_DRIFT_RUN`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<SoakReport>,
    /// The comparison with a baseline, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<RegressionReport>,
}

/// A run compared with a baseline (see `judge::analysis::regression`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegressionReport {
    /// What the baseline was, e.g. the file it came from.
    pub baseline: String,
    pub regressed: bool,
    pub deltas: Vec<Delta>,
}

impl Summary {
    /// The figures a regression check compares.
    pub fn figures(&self) -> Figures {
        let l = &self.totals.latency;
        Figures {
            p50_ms: l.p50_ms,
            p95_ms: l.p95_ms,
            p99_ms: l.p99_ms,
            error_rate: self.totals.error_rate,
            rps: self.totals.rps,
        }
    }

    /// Marks the run invalid because loadpacer's own CPU was saturated (see `judge::CpuWatch`).
    pub fn mark_generator_cpu(&mut self, finding: Option<String>) {
        let Some(reason) = finding else { return };
        self.validity.status = crate::judge::ValidityStatus::Invalid;
        self.validity.reasons.push(reason.clone());
        self.reasons.push(reason);
        if self.result != Outcome::Interrupted {
            self.result = Outcome::Invalid;
        }
        if let Some(c) = self.capacity.as_mut() {
            c.demote_to_lower_bound();
        }
    }

    /// Compares with baseline runs; a regression fails a run that had passed.
    pub fn compare_with(&mut self, label: &str, baseline: &[Figures]) {
        self.compare_with_tolerance(label, baseline, Tolerance::default());
    }

    /// [`Summary::compare_with`] with explicit tolerances; no baseline runs, no verdict.
    pub fn compare_with_tolerance(
        &mut self,
        label: &str,
        baseline: &[Figures],
        tolerance: Tolerance,
    ) {
        if baseline.is_empty() {
            return;
        }
        let deltas = regression(baseline, &self.figures(), tolerance);
        let regressed = deltas.iter().any(|d| d.regressed);
        for d in deltas.iter().filter(|d| d.regressed) {
            self.reasons.push(format!(
                "regression: {} {:.3} vs baseline {:.3} ({:+.1}%)",
                d.metric,
                d.current,
                d.baseline,
                d.delta_ratio * 100.0
            ));
        }
        if regressed && self.result == Outcome::Passed {
            self.result = Outcome::Failed;
        }
        self.regression = Some(RegressionReport {
            baseline: label.to_string(),
            regressed,
            deltas,
        });
    }
}

impl Summary {
    /// Judges a finished run and lays out its figures.
    pub fn build(out: &RunOutput, config_hash: &str) -> Summary {
        Self::build_with(out, config_hash, None)
    }

    /// [`Summary::build`] with the host and process figures sampled during the run, which
    /// also judges the `host.*` and `process.*` thresholds.
    pub fn build_with(
        out: &RunOutput,
        config_hash: &str,
        mut resources: Option<Resources>,
    ) -> Summary {
        if let Some(r) = resources.as_mut() {
            r.finish(long_enough_for_drift(&out.plan, out.elapsed));
        }
        let plan = &out.plan;
        let total = &out.total;
        let secs = out.elapsed.as_secs_f64().max(1e-3);
        let thresholds = judge::evaluate_all_with(plan, total, out.elapsed, resources.as_ref());
        let validity = judge::validity(total);
        let capacity = plan
            .capacity
            .as_ref()
            .map(|c| capacity_report(c, out.series.points(), &validity));
        let (result, reasons) = outcome(&out.ending, &thresholds, &validity);
        let requests = plan
            .requests
            .iter()
            .enumerate()
            .map(|(i, k)| request_summary(plan, total, i, &k.scenario, &k.name, &k.method, secs))
            .collect();
        let latency = total.merged_latency();
        let (checks_passed, checks_failed) = total
            .checks
            .iter()
            .fold((0, 0), |(p, f), c| (p + c.0, f + c.1));
        let requests_n = total.total_requests();
        let errors = total.total_errors();
        let mut summary = Summary {
            schema_version: SCHEMA_VERSION,
            tool: "loadpacer".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            plan: plan.name.clone(),
            description: plan.description.clone(),
            config_hash: config_hash.to_string(),
            target: plan.target.base_url.to_string(),
            segment: format!("{}/{}", out.segment.index + 1, out.segment.count),
            started_at: humantime::format_rfc3339_millis(out.started_at).to_string(),
            duration_s: out.elapsed.as_secs_f64(),
            scheduled_s: out.scheduled.as_secs_f64(),
            result,
            reasons,
            load: load_summary(plan),
            totals: Totals {
                requests: requests_n,
                errors,
                error_rate: ratio(errors, requests_n),
                rps: requests_n as f64 / secs,
                iterations: total.total_iterations(),
                dropped_iterations: total.dropped,
                paced_requests: out.paced_requests,
                stale_connection_retries: total.stale_retries,
                checks_passed,
                checks_failed,
                latency: LatencyStats::of(&latency),
            },
            requests,
            thresholds,
            grade: judge::grade(&plan.grades, &latency, errors, requests_n),
            validity,
            capacity,
            resources,
            soak: soak_report(plan, out.elapsed, out.series.points()),
            windows: out.series.points().to_vec(),
            regression: None,
        };
        summary.judge_errors(None);
        let checks_judged = plan
            .thresholds
            .iter()
            .any(|t| t.metric == crate::config::MetricKind::Checks);
        if !checks_judged {
            summary.judge_checks();
        }
        if let Some(s) = summary.soak.as_ref().filter(|s| s.drifted) {
            summary.reasons.push(format!(
                "soak: p95 drifted {:+.1}% per hour (limit {:.0}%)",
                s.latency_drift_per_hour * 100.0,
                s.max_drift_per_hour * 100.0
            ));
            if summary.result == Outcome::Passed {
                summary.result = Outcome::Failed;
            }
        }
        summary
    }

    /// Error kinds over all requests, most frequent first: `[("timeout", 10)]`.
    pub fn error_kinds(&self) -> Vec<(String, u64)> {
        let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &self.requests {
            for (k, n) in &r.errors {
                *kinds.entry(k).or_default() += n;
            }
        }
        let mut v: Vec<(String, u64)> = kinds.into_iter().map(|(k, n)| (k.into(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// A run whose requests all failed, or that completed without a single request, never
    /// passes; with `max_error_rate` (e.g. `hit --max-error-rate`) neither does one above it.
    pub fn judge_errors(&mut self, max_error_rate: Option<f64>) {
        if self.result != Outcome::Passed {
            return;
        }
        let t = &self.totals;
        let kinds = self
            .error_kinds()
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let reason = if t.requests == 0 {
            Some("errors: no request completed, so nothing was measured".to_string())
        } else if t.errors == t.requests {
            Some(format!(
                "errors: 100.0 % errors ({kinds}): every request failed"
            ))
        } else {
            max_error_rate.filter(|&m| t.error_rate > m).map(|m| {
                format!(
                    "errors: {:.1} % errors ({kinds}), above the bound of {:.1} %",
                    t.error_rate * 100.0,
                    m * 100.0
                )
            })
        };
        if let Some(r) = reason {
            self.reasons.insert(0, r);
            self.result = Outcome::Failed;
        }
    }

    /// Without a `checks` threshold a failed check fails the run: a check is the plan's own
    /// assertion. (It is not a request error; a `checks` threshold such as `rate > 0.95`
    /// decides instead when some failures are acceptable.)
    pub fn judge_checks(&mut self) {
        let t = &self.totals;
        if self.result != Outcome::Passed || t.checks_failed == 0 {
            return;
        }
        self.reasons.insert(
            0,
            format!(
                "checks: {} of {} failed (add a `checks` threshold, e.g. rate > 0.95, to tolerate some)",
                t.checks_failed,
                t.checks_failed + t.checks_passed
            ),
        );
        self.result = Outcome::Failed;
    }

    /// What made a failed run fail, in words: `a threshold failed`, `regression`, `errors`,
    /// `latency drift`; empty unless the run failed.
    pub fn failure_causes(&self) -> Vec<&'static str> {
        if self.result != Outcome::Failed {
            return Vec::new();
        }
        let mut causes = Vec::new();
        if self.thresholds.iter().any(|t| t.verdict != Verdict::Pass) {
            causes.push("a threshold failed");
        }
        if self.reasons.iter().any(|r| r.starts_with("errors:")) {
            causes.push("errors");
        }
        if self.reasons.iter().any(|r| r.starts_with("checks:")) {
            causes.push("a check failed");
        }
        if self.regression.as_ref().is_some_and(|r| r.regressed) {
            causes.push("regression");
        }
        if self.soak.as_ref().is_some_and(|k| k.drifted) {
            causes.push("latency drift");
        }
        causes
    }

    /// Pretty JSON with secrets redacted.
    pub fn to_json(&self, plan: &PlanSpec) -> String {
        let text = serde_json::to_string_pretty(self).expect("summary serialises");
        plan.redact(&text)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn outcome(
    ending: &Ending,
    thresholds: &[ThresholdResult],
    validity: &Validity,
) -> (Outcome, Vec<String>) {
    let mut reasons = Vec::new();
    let failed: Vec<_> = thresholds
        .iter()
        .filter(|t| t.verdict != Verdict::Pass)
        .collect();
    for t in &failed {
        let what = if t.verdict == Verdict::NoData {
            "had no data"
        } else {
            "failed"
        };
        reasons.push(format!("threshold {}: {} {what}", t.metric, t.expr));
    }
    reasons.extend(validity.reasons.iter().cloned());
    let result = match ending {
        Ending::Error(why) => {
            reasons.insert(0, why.clone());
            Outcome::Error
        }
        Ending::Interrupted => Outcome::Interrupted,
        _ if !validity.is_valid() => Outcome::Invalid,
        Ending::Aborted(why) => {
            reasons.insert(0, why.clone());
            Outcome::Aborted
        }
        Ending::Stopped(why) => {
            reasons.insert(0, why.clone());
            if failed.is_empty() {
                Outcome::Passed
            } else {
                Outcome::Failed
            }
        }
        Ending::Completed if failed.is_empty() => Outcome::Passed,
        Ending::Completed => Outcome::Failed,
    };
    if result == Outcome::Interrupted {
        reasons.insert(
            0,
            "interrupted before the schedule ended; figures cover the part that ran".into(),
        );
    }
    (result, reasons)
}

fn request_summary(
    plan: &PlanSpec,
    total: &Recorder,
    i: usize,
    scenario: &str,
    name: &str,
    method: &str,
    secs: f64,
) -> RequestSummary {
    let r: &RequestStats = &total.requests[i];
    let checks = plan
        .checks
        .iter()
        .enumerate()
        .filter(|(_, k)| k.scenario == scenario && k.request == name)
        .map(|(ci, k)| CheckSummary {
            name: k.name.clone(),
            passed: total.checks[ci].0,
            failed: total.checks[ci].1,
        })
        .collect();
    RequestSummary {
        scenario: scenario.to_string(),
        name: name.to_string(),
        method: method.to_string(),
        count: r.count(),
        rps: r.count() as f64 / secs,
        error_rate: ratio(r.error_count(), r.count()),
        latency: LatencyStats::of(&r.latency),
        service_time: LatencyStats::of(&r.service),
        ttfb: LatencyStats::of(&r.ttfb),
        statuses: r
            .statuses
            .iter()
            .map(|(c, n)| (c.to_string(), *n))
            .collect(),
        errors: ErrorKind::ALL
            .iter()
            .filter(|k| r.errors_of(**k) > 0)
            .map(|k| (k.as_str().to_string(), r.errors_of(*k)))
            .collect(),
        checks,
        grade: judge::grade(&plan.grades, &r.latency, r.error_count(), r.count()),
    }
}

fn load_summary(plan: &PlanSpec) -> LoadSummary {
    let (model, steps, max_in_flight) = match &plan.load.shape {
        LoadShape::Open {
            phases,
            max_in_flight,
        } => (
            "open",
            phases
                .iter()
                .map(|p| (p.name.clone(), p.duration.as_secs_f64(), p.rate, p.ramp_to))
                .collect(),
            Some(*max_in_flight),
        ),
        LoadShape::Closed { stages } => {
            let mut from = 0.0;
            let steps = stages
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let step = (
                        format!("stage-{}", i + 1),
                        s.duration.as_secs_f64(),
                        from,
                        s.target as f64,
                    );
                    from = s.target as f64;
                    step
                })
                .collect();
            ("closed", steps, None)
        }
    };
    LoadSummary {
        model: model.into(),
        preset: plan.load.preset.map(|p| p.as_str().to_string()),
        steps,
        max_in_flight,
        iterations: plan.load.iterations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_panicked_is_an_error_even_with_every_threshold_passing() {
        let validity = Validity {
            status: crate::judge::ValidityStatus::Valid,
            reasons: Vec::new(),
            dropped_ratio: 0.0,
            dispatch_lag: LatencyStats::default(),
        };
        let (result, reasons) = outcome(
            &Ending::Error("a worker panicked (boom)".into()),
            &[],
            &validity,
        );
        assert_eq!(result, Outcome::Error);
        assert_eq!(result.exit_code(), 1);
        assert_eq!(reasons[0], "a worker panicked (boom)");
    }
}
