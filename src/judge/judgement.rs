//! A run judged: one value from the run's output and the criteria (outcome, reasons,
//! thresholds, grade, validity, capacity, soak drift, regression), decided here once and
//! only laid out by `report/`. A merged run is judged through the same call, its missing
//! segments part of the evidence.

use super::analysis::{Delta, Figures};
use super::findings::{capacity_findings, long_enough_for_drift, soak_report};
use super::findings::{CapacityReport, SoakReport};
use super::resources::Resources;
use super::verdict::{self, Baseline, Counts, Criteria, Evidence, Outcome};
use super::{Grade, ThresholdResult, Validity};
use crate::config::{MetricKind, PlanSpec, TEARDOWN};
use crate::measure::{ErrorKind, LatencyStats, Recorder, StreamEnd};
use crate::run::RunOutput;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// What a run's judgement takes besides its output.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Host, loadpacer and watched-process figures sampled during the run (they also judge
    /// the `host.*` and `process.*` thresholds).
    pub resources: Option<Resources>,
    /// Why loadpacer's own CPU made the figures invalid (see `judge::CpuWatch`).
    pub generator_cpu: Option<String>,
    /// The caller's criteria: an error-rate bound, a baseline.
    pub criteria: Criteria,
    /// A merged run whose segments did not all report.
    pub partial: Option<Partial>,
}

/// Segments of a distributed run that did not report: the run never passes.
#[derive(Debug, Clone)]
pub struct Partial {
    /// The missing shares, `I/N`.
    pub missing: Vec<String>,
    pub count: u64,
    pub reported: usize,
}

impl Partial {
    fn reason(&self) -> String {
        format!(
            "partial: segment(s) {} of {} did not report; the figures are of {} of {} shares of the load",
            self.missing.join(", "),
            self.count,
            self.reported,
            self.count
        )
    }
}

/// A run compared with a baseline (see `judge::analysis::regression`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegressionReport {
    /// What the baseline was, e.g. the file it came from.
    pub baseline: String,
    pub regressed: bool,
    pub deltas: Vec<Delta>,
}

impl RegressionReport {
    fn new(label: &str, deltas: Vec<Delta>) -> Self {
        RegressionReport {
            baseline: label.to_string(),
            regressed: deltas.iter().any(|d| d.regressed),
            deltas,
        }
    }
}

/// Everything decided about one run.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub result: Outcome,
    /// Why, most important first.
    pub reasons: Vec<String>,
    pub thresholds: Vec<ThresholdResult>,
    pub grade: Option<Grade>,
    pub validity: Validity,
    pub capacity: Option<CapacityReport>,
    /// The sampled figures, finished (drift judged when the run was long enough).
    pub resources: Option<Resources>,
    pub soak: Option<SoakReport>,
    pub regression: Option<RegressionReport>,
}

impl Judgement {
    /// Judges a finished run (a segment, a whole run or merged segments).
    pub fn of(out: &RunOutput, inputs: Inputs) -> Judgement {
        let Inputs {
            mut resources,
            generator_cpu,
            criteria,
            partial,
        } = inputs;
        let plan = &out.plan;
        if let Some(r) = resources.as_mut() {
            r.finish(long_enough_for_drift(plan, out.elapsed));
        }
        let total = with_monitor_feeds(plan, &out.total, resources.as_ref());
        let secs = out.elapsed.as_secs_f64().max(1e-3);
        let thresholds = super::evaluate_all_with(plan, &total, out.elapsed, resources.as_ref());
        let mut validity = super::validity(&total);
        if let Some(why) = generator_cpu {
            validity.invalidate(why);
        }
        let capacity = plan
            .capacity
            .as_ref()
            .map(|c| capacity_findings(c, out.series.points(), &validity, resources.as_ref()));
        let latency = total.merged_latency();
        let counts = counts(plan, &total);
        let figures = Figures::of(
            &LatencyStats::of(&latency),
            counts.requests,
            counts.errors,
            secs,
        );
        let regression = criteria.baseline.as_ref().and_then(|b| {
            let deltas = verdict::compare(b, &figures)?;
            Some(RegressionReport::new(&b.label, deltas))
        });
        let soak = soak_report(plan, out.elapsed, out.series.points());
        let (result, reasons) = verdict::verdict(
            &Evidence {
                ending: &out.ending,
                thresholds: &thresholds,
                validity: &validity,
                counts: &counts,
                soak: soak.as_ref(),
                regression: regression.as_ref().map(|r| r.deltas.as_slice()),
                partial: partial.as_ref().map(Partial::reason),
            },
            criteria.max_error_rate,
        );
        Judgement {
            result,
            reasons,
            grade: super::grade(&plan.grades, &latency, counts.errors, counts.requests),
            thresholds,
            validity,
            capacity,
            resources,
            soak,
            regression,
        }
    }
}

/// A stored run compared with a baseline given afterwards (`loadpacer report A B`): the
/// verdict with the regression added (it fails a run that had passed), or `None` without
/// baseline runs.
pub fn against_baseline(
    result: Outcome,
    reasons: &[String],
    baseline: &Baseline,
    figures: &Figures,
) -> Option<(Outcome, Vec<String>, RegressionReport)> {
    let deltas = verdict::compare(baseline, figures)?;
    let mut reasons = reasons.to_vec();
    let result = verdict::with_regression(result, &mut reasons, &deltas);
    Some((
        result,
        reasons,
        RegressionReport::new(&baseline.label, deltas),
    ))
}

/// The run's recorder with the polls of monitors that feed a user-defined metric added
/// (borrowed as it is when no monitor feeds one).
pub fn with_monitor_feeds<'a>(
    plan: &PlanSpec,
    total: &'a Recorder,
    resources: Option<&Resources>,
) -> Cow<'a, Recorder> {
    match resources {
        Some(r) if plan.monitors.iter().any(|m| m.feeds.is_some()) => {
            let mut t = total.clone();
            r.feed_custom(plan, &mut t);
            Cow::Owned(t)
        }
        _ => Cow::Borrowed(total),
    }
}

/// The request, check and stream counts the verdict looks at.
fn counts(plan: &PlanSpec, total: &Recorder) -> Counts {
    let mut error_kinds = BTreeMap::new();
    for (i, _) in plan
        .requests
        .iter()
        .enumerate()
        .filter(|(_, k)| k.scenario != TEARDOWN)
    {
        for k in ErrorKind::ALL {
            *error_kinds.entry(k.as_str()).or_default() += total.requests[i].errors_of(k);
        }
    }
    let mut abnormal = BTreeMap::new();
    let (mut sessions, mut attempts) = (0, 0);
    for s in (0..plan.streams.len()).filter_map(|i| total.streams.get(i)) {
        sessions += s.sessions;
        attempts += s.sessions + s.attempts_failed();
        for e in StreamEnd::ALL
            .into_iter()
            .filter(|e| e.as_str() != "normal")
        {
            *abnormal.entry(e.as_str()).or_default() += s.ends_of(e);
        }
    }
    let (checks_passed, checks_failed) = total
        .checks
        .iter()
        .fold((0, 0), |(p, f), c| (p + c.0, f + c.1));
    Counts {
        requests: total.total_requests(),
        errors: total.total_errors(),
        error_kinds: most_frequent_first(error_kinds),
        checks_passed,
        checks_failed,
        checks_judged: plan.has_threshold_on(MetricKind::Checks),
        errors_judged: plan.has_threshold_on(MetricKind::Errors),
        sessions,
        stream_attempts: attempts,
        stream_abnormal: most_frequent_first(abnormal),
        iterations: total.iterations.iter().sum(),
        failed_iterations: total.failed_iterations,
    }
}

/// Kinds with a count, most frequent first, ties by name.
pub fn most_frequent_first(kinds: BTreeMap<&str, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = kinds
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.into(), n))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}
