//! The verdict of a run, decided once from everything that bears on it: how the run ended,
//! the thresholds, the validity of the figures (the generator's own limits included), the
//! errors and checks, the soak drift, the comparison with a baseline and, for a merge, the
//! segments that did not report. [`super::Judgement`] gathers that evidence; `report/` lays
//! the verdict out; nothing else changes it.

use super::analysis::{regression, Delta, Figures, Tolerance};
use super::findings::SoakReport;
use super::{ThresholdResult, Validity, Verdict};
use crate::run::Ending;
use serde::{Deserialize, Serialize};

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
    /// Every outcome, in the order they are listed.
    pub const ALL: [Outcome; 6] = [
        Outcome::Passed,
        Outcome::Failed,
        Outcome::Aborted,
        Outcome::Interrupted,
        Outcome::Invalid,
        Outcome::Error,
    ];

    /// Exit code of `run` and `hit`.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Passed => 0,
            Outcome::Failed | Outcome::Aborted | Outcome::Error => 1,
            Outcome::Invalid => 3,
            Outcome::Interrupted => 130,
        }
    }

    /// The outcome a stored status names (`None` for `running` or anything else).
    pub fn from_status(status: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == status)
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

/// What a run is compared with: the median of `figures` (one or more earlier runs).
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    /// What the baseline was, e.g. the file it came from or "median of the last 5 runs".
    pub label: String,
    pub figures: Vec<Figures>,
    pub tolerance: Tolerance,
}

/// The caller's part of the judgement, fixed before the run starts.
#[derive(Debug, Clone, Default)]
pub struct Criteria {
    /// A run with more errors than this fails (`hit --max-error-rate`); without it only a
    /// run whose every request failed does.
    pub max_error_rate: Option<f64>,
    /// Compare with this; a regression fails a run that had passed.
    pub baseline: Option<Baseline>,
}

/// The request and check counts the verdict looks at.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub requests: u64,
    pub errors: u64,
    /// Error kinds, most frequent first, for the reason text.
    pub error_kinds: Vec<(String, u64)>,
    pub checks_passed: u64,
    pub checks_failed: u64,
    /// The plan has a `checks` threshold, which then decides alone.
    pub checks_judged: bool,
    /// The plan has an `errors` threshold, which then decides alone.
    pub errors_judged: bool,
    /// Stream sessions that opened, attempts (opened or not), and the abnormal ends by kind
    /// (failed opens included), most frequent first.
    pub sessions: u64,
    pub stream_attempts: u64,
    pub stream_abnormal: Vec<(String, u64)>,
    /// Iterations, and those of a script that ended with an exception.
    pub iterations: u64,
    pub failed_iterations: u64,
}

/// Everything that bears on the verdict.
pub struct Evidence<'a> {
    pub ending: &'a Ending,
    pub thresholds: &'a [ThresholdResult],
    pub validity: &'a Validity,
    pub counts: &'a Counts,
    pub soak: Option<&'a SoakReport>,
    /// The comparison with the baseline, when there was one.
    pub regression: Option<&'a [Delta]>,
    /// Why the figures are of part of the load only (a merge of the segments that reported).
    pub partial: Option<String>,
}

/// The share of failed requests, and of failed checks, a run may have when its plan states no
/// tolerance of its own (no `errors` or `checks` threshold): a verdict never hides a failure,
/// so a plan that says nothing is held to 1 %, as `hit` is. Artillery's exit code passes any
/// error rate short of 100 % without `ensure`; loadpacer does not (docs/artillery.md).
pub const DEFAULT_MAX_ERROR_RATE: f64 = 0.01;

/// The bound on errors a run is held to, and how to name it in a reason.
fn error_bound(c: &Counts, max_error_rate: Option<f64>) -> Option<(f64, &'static str)> {
    match max_error_rate {
        Some(m) => Some((m, "the bound")),
        None if c.errors_judged => None,
        None => Some((
            DEFAULT_MAX_ERROR_RATE,
            "the default bound for a plan without an `errors` threshold (add one, e.g. rate < 0.05, to set another) of",
        )),
    }
}

/// The verdict and its reasons, most important first.
pub fn verdict(e: &Evidence, max_error_rate: Option<f64>) -> (Outcome, Vec<String>) {
    let (mut result, mut reasons) = from_ending(e.ending, e.thresholds, e.validity);
    let c = e.counts;
    if result == Outcome::Passed && c.failed_iterations > 0 && c.failed_iterations >= c.iterations {
        reasons.insert(
            0,
            format!(
                "every iteration failed ({} of {}: an exception in the script or a processor function, or a required capture that found nothing); the first of each is in the log",
                c.failed_iterations, c.iterations
            ),
        );
        result = Outcome::Failed;
    }
    if result == Outcome::Passed {
        if let Some(r) = errors_finding(e.counts, error_bound(e.counts, max_error_rate)) {
            reasons.insert(0, r);
            result = Outcome::Failed;
        }
    }
    if result == Outcome::Passed {
        if let Some(r) = checks_finding(e.counts) {
            reasons.insert(0, r);
            result = Outcome::Failed;
        }
    }
    if let Some(s) = e.soak.filter(|s| s.drifted) {
        reasons.push(format!(
            "soak: p95 drifted {:+.1}% per hour (limit {:.0}%)",
            s.latency_drift_per_hour * 100.0,
            s.max_drift_per_hour * 100.0
        ));
        if result == Outcome::Passed {
            result = Outcome::Failed;
        }
    }
    if let Some(deltas) = e.regression {
        result = with_regression(result, &mut reasons, deltas);
    }
    if let Some(why) = &e.partial {
        reasons.insert(0, why.clone());
        if result == Outcome::Passed {
            result = Outcome::Failed;
        }
    }
    (result, reasons)
}

/// Compares `current` with `baseline`: the deltas, or `None` without baseline runs.
pub fn compare(baseline: &Baseline, current: &Figures) -> Option<Vec<Delta>> {
    (!baseline.figures.is_empty())
        .then(|| regression(&baseline.figures, current, baseline.tolerance))
}

/// Adds the regressed figures to `reasons`; a regression fails a run that had passed.
pub fn with_regression(result: Outcome, reasons: &mut Vec<String>, deltas: &[Delta]) -> Outcome {
    for d in deltas.iter().filter(|d| d.regressed) {
        reasons.push(format!(
            "regression: {} {:.3} vs baseline {:.3} ({:+.1}%)",
            d.metric,
            d.current,
            d.baseline,
            d.delta_ratio * 100.0
        ));
    }
    if result == Outcome::Passed && deltas.iter().any(|d| d.regressed) {
        Outcome::Failed
    } else {
        result
    }
}

/// Failed checks above [`DEFAULT_MAX_ERROR_RATE`] of all checks fail a run whose plan has no
/// `checks` threshold; with one, the threshold decides alone.
fn checks_finding(c: &Counts) -> Option<String> {
    let total = c.checks_failed + c.checks_passed;
    if c.checks_judged || total == 0 {
        return None;
    }
    let rate = c.checks_failed as f64 / total as f64;
    (rate > DEFAULT_MAX_ERROR_RATE).then(|| {
        format!(
            "checks: {} of {total} failed ({:.1} %), above the default bound of {:.1} % for a plan without a `checks` threshold (add one, e.g. rate > 0.95, to set another)",
            c.checks_failed,
            rate * 100.0,
            DEFAULT_MAX_ERROR_RATE * 100.0
        )
    })
}

/// A run whose requests all failed, or that completed without a single request, never
/// passes; neither does one above its error bound (`bound`: the rate and how to name it).
fn errors_finding(c: &Counts, bound: Option<(f64, &str)>) -> Option<String> {
    let kinds = c
        .error_kinds
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rate = if c.requests == 0 {
        0.0
    } else {
        c.errors as f64 / c.requests as f64
    };
    let abnormal: u64 = c.stream_abnormal.iter().map(|(_, n)| n).sum();
    let why = c
        .stream_abnormal
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    if c.requests == 0 && c.sessions == 0 && c.stream_attempts > 0 {
        Some(format!(
            "errors: no stream session opened ({why}): every attempt failed"
        ))
    } else if c.stream_attempts > 0 && abnormal >= c.stream_attempts {
        Some(format!(
            "errors: every stream session ended abnormally ({why})"
        ))
    } else if c.requests == 0
        && c.sessions == 0
        && c.iterations > 0
        && c.checks_passed + c.checks_failed > 0
    {
        // A script that sends nothing but checks what it computes (k6 allows it): its checks
        // are what was measured, and they are judged.
        None
    } else if c.requests == 0 && c.sessions == 0 {
        Some("errors: no request completed, so nothing was measured".to_string())
    } else if c.requests > 0 && c.errors == c.requests {
        Some(format!(
            "errors: 100.0 % errors ({kinds}): every request failed"
        ))
    } else {
        bound.filter(|&(m, _)| rate > m).map(|(m, named)| {
            format!(
                "errors: {:.1} % errors ({kinds}), above {named} {:.1} %",
                rate * 100.0,
                m * 100.0
            )
        })
    }
}

/// The verdict from how the run ended, its thresholds and validity alone.
fn from_ending(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::ValidityStatus;
    use crate::measure::LatencyStats;

    fn valid() -> Validity {
        Validity {
            status: ValidityStatus::Valid,
            reasons: Vec::new(),
            dropped_ratio: 0.0,
            dispatch_lag: LatencyStats::default(),
        }
    }

    fn judged(ending: Ending, validity: &Validity, counts: Counts) -> (Outcome, Vec<String>) {
        verdict(
            &Evidence {
                ending: &ending,
                thresholds: &[],
                validity,
                counts: &counts,
                soak: None,
                regression: None,
                partial: None,
            },
            None,
        )
    }

    fn some_requests() -> Counts {
        Counts {
            requests: 10,
            ..Default::default()
        }
    }

    #[test]
    fn a_run_that_panicked_is_an_error_even_with_every_threshold_passing() {
        let (result, reasons) = judged(
            Ending::Error("a worker panicked (boom)".into()),
            &valid(),
            some_requests(),
        );
        assert_eq!(result, Outcome::Error);
        assert_eq!(result.exit_code(), 1);
        assert_eq!(reasons[0], "a worker panicked (boom)");
    }

    #[test]
    fn a_panic_stays_an_error_when_the_generator_was_also_saturated() {
        let mut v = valid();
        v.invalidate("loadpacer's CPU was saturated".into());
        let (result, _) = judged(Ending::Error("boom".into()), &v, some_requests());
        assert_eq!(result, Outcome::Error);
        let (result, reasons) = judged(Ending::Completed, &v, some_requests());
        assert_eq!(result, Outcome::Invalid);
        assert!(reasons.iter().any(|r| r.contains("saturated")));
    }

    #[test]
    fn every_request_failing_or_none_completing_never_passes() {
        let all_failed = Counts {
            requests: 4,
            errors: 4,
            error_kinds: vec![("timeout".into(), 4)],
            ..Default::default()
        };
        let (result, reasons) = judged(Ending::Completed, &valid(), all_failed);
        assert_eq!(result, Outcome::Failed);
        assert_eq!(
            reasons[0],
            "errors: 100.0 % errors (timeout 4): every request failed"
        );
        let (result, _) = judged(Ending::Completed, &valid(), Counts::default());
        assert_eq!(result, Outcome::Failed);
    }

    #[test]
    fn a_partial_merge_never_passes_and_says_so_first() {
        let partial = |ending: Ending| {
            verdict(
                &Evidence {
                    ending: &ending,
                    thresholds: &[],
                    validity: &valid(),
                    counts: &some_requests(),
                    soak: None,
                    regression: None,
                    partial: Some("partial: segment(s) 2/2 did not report".into()),
                },
                None,
            )
        };
        let (result, reasons) = partial(Ending::Completed);
        assert_eq!(result, Outcome::Failed);
        assert_eq!(reasons[0], "partial: segment(s) 2/2 did not report");
        // A worse outcome stays what it was, the reason still first.
        let (result, reasons) = partial(Ending::Error("boom".into()));
        assert_eq!(result, Outcome::Error);
        assert_eq!(reasons.len(), 2, "{reasons:?}");
    }

    #[test]
    fn without_an_errors_threshold_a_run_is_held_to_one_percent_errors() {
        let counts = |errors| Counts {
            requests: 1000,
            errors,
            error_kinds: vec![("status_5xx".into(), errors)],
            ..Default::default()
        };
        // 79 % errors, the Artillery script of the issue: never passed.
        let (result, reasons) = judged(Ending::Completed, &valid(), counts(790));
        assert_eq!(result, Outcome::Failed);
        assert!(
            reasons[0].starts_with("errors: 79.0 % errors (status_5xx 790), above the default bound for a plan without an `errors` threshold"),
            "{reasons:?}"
        );
        assert!(reasons[0].ends_with("of 1.0 %"), "{reasons:?}");
        assert_eq!(
            judged(Ending::Completed, &valid(), counts(10)).0,
            Outcome::Passed
        );
        assert_eq!(
            judged(Ending::Completed, &valid(), counts(11)).0,
            Outcome::Failed
        );
        // The plan's own `errors` threshold decides alone.
        let own = Counts {
            errors_judged: true,
            ..counts(790)
        };
        assert_eq!(judged(Ending::Completed, &valid(), own).0, Outcome::Passed);
    }

    #[test]
    fn failed_checks_fail_the_run_above_one_percent_unless_a_checks_threshold_decides() {
        let counts = Counts {
            requests: 10,
            checks_passed: 9,
            checks_failed: 1,
            ..Default::default()
        };
        let (result, reasons) = judged(Ending::Completed, &valid(), counts.clone());
        assert_eq!(result, Outcome::Failed);
        assert!(reasons[0]
            .starts_with("checks: 1 of 10 failed (10.0 %), above the default bound of 1.0 %"));
        let few = Counts {
            checks_passed: 796,
            checks_failed: 4,
            ..counts.clone()
        };
        assert_eq!(judged(Ending::Completed, &valid(), few).0, Outcome::Passed);
        let judged_by_threshold = Counts {
            checks_judged: true,
            ..counts
        };
        assert_eq!(
            judged(Ending::Completed, &valid(), judged_by_threshold).0,
            Outcome::Passed
        );
    }
}
