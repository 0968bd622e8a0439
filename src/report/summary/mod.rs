//! `summary.json`, schema version 1. Fields are only ever added within a version; a change of
//! meaning bumps `schema_version`. Latencies are in milliseconds, rates per second.

use crate::config::custom::{CustomKind, CustomUnit};
use crate::config::Grade;
use crate::config::TEARDOWN;
use crate::config::{Dispatch, LoadModel, LoadShape, LoadSpec, PlanSpec, Preset};
use crate::judge::analysis::{Figures, Tolerance};
pub use crate::judge::findings::{
    long_enough_for_drift, CapacityReport, SoakReport, DRIFT_FLOOR_MS, DRIFT_FLOOR_MS_PER_HOUR,
    MAX_SOAK_DRIFT_PER_HOUR, MIN_DRIFT_RUN, MIN_DRIFT_WINDOWS,
};
pub use crate::judge::judgement::{Inputs, Judgement, RegressionReport};
use crate::judge::resources::Resources;
pub use crate::judge::verdict::{Baseline, Criteria, Outcome};
use crate::judge::{self, ThresholdResult, Validity, Verdict};
use crate::measure::{
    ErrorKind, LatencyStats, Recorder, RequestStats, StreamEnd, StreamStats, WindowPoint,
};
use crate::run::plan::Segment;
use crate::run::{RunOutput, TeardownOutput};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod layout;
use layout::*;

/// Version of the summary layout.
pub const SCHEMA_VERSION: u32 = 1;

/// The load as it was configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSummary {
    /// `open` (arrival rate), `closed` (VUs) or `mixed` (workloads of both).
    pub model: LoadModel,
    pub preset: Option<Preset>,
    /// `[name, duration_s, from, to]` per phase or stage (rate for open, VUs for closed).
    pub steps: Vec<(String, f64, f64, f64)>,
    pub max_in_flight: Option<u64>,
    pub iterations: Option<u64>,
    /// Open model: how arrivals woke their worker (`auto`, `exact` or `tick`, as configured);
    /// absent for the closed model, several workloads, and summaries from before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<Dispatch>,
}

/// A user-defined metric as measured; figures that do not apply to its type, or that had
/// no events, are absent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomMetricSummary {
    pub name: String,
    /// `counter`, `trend`, `rate` or `gauge`.
    #[serde(rename = "type")]
    pub kind: CustomKind,
    pub help: String,
    /// `seconds`, `bytes` or empty.
    pub unit: CustomUnit,
    /// Events recorded.
    pub count: u64,
    /// Events whose value was missing or not a number (not counted as 0).
    pub invalid: u64,
    /// Counters: the total and its rate over the run.
    pub total: Option<f64>,
    pub per_second: Option<f64>,
    /// Rates: the share of true outcomes.
    pub ratio: Option<f64>,
    /// Trends and gauges.
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub avg: Option<f64>,
    /// Gauges: the last value set.
    pub last: Option<f64>,
    /// Trends.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    /// Labelled counters: the total per label value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_label: BTreeMap<String, f64>,
}

impl CustomMetricSummary {
    /// Its figures in words: `total 120 (4.0/s)`, `97.50 % true`, `p50 12.0 ms · p95 …`,
    /// `last 5 · min 1 · max 9 · avg 4.2`, or `no data`.
    pub fn describe(&self) -> String {
        let v = |x: f64| match self.unit {
            CustomUnit::Seconds => format!("{:.1} ms", x * 1000.0),
            CustomUnit::Bytes => format!("{:.1} KiB", x / 1024.0),
            CustomUnit::None => format!("{x:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string(),
        };
        let mut text = if self.count == 0 {
            "no data".to_string()
        } else {
            match self.kind {
                CustomKind::Counter => format!(
                    "total {} ({:.1}/s)",
                    v(self.total.unwrap_or_default()),
                    self.per_second.unwrap_or_default()
                ),
                CustomKind::Rate => format!(
                    "{:.2} % true of {}",
                    self.ratio.unwrap_or_default() * 100.0,
                    self.count
                ),
                CustomKind::Trend => format!(
                    "p50 {} · p95 {} · p99 {} · max {} (n={})",
                    self.p50.map(v).unwrap_or_else(|| "-".into()),
                    self.p95.map(v).unwrap_or_else(|| "-".into()),
                    self.p99.map(v).unwrap_or_else(|| "-".into()),
                    self.max.map(v).unwrap_or_else(|| "-".into()),
                    self.count
                ),
                _ => format!(
                    "last {} · min {} · max {} · avg {}",
                    self.last.map(v).unwrap_or_else(|| "-".into()),
                    self.min.map(v).unwrap_or_else(|| "-".into()),
                    self.max.map(v).unwrap_or_else(|| "-".into()),
                    self.avg.map(v).unwrap_or_else(|| "-".into()),
                ),
            }
        };
        if self.invalid > 0 {
            text.push_str(&format!(
                " ({} values missing or not numbers)",
                self.invalid
            ));
        }
        text
    }
}

/// One workload of a plan with several.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadSummary {
    pub name: String,
    /// When it started, from the start of the load.
    pub start_s: f64,
    /// Its own target's base URL; `None`: the plan's.
    pub target: Option<String>,
    pub load: LoadSummary,
    pub scenarios: Vec<String>,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    /// Requests per second over the time it ran: its scheduled length, or until the run
    /// ended when that came first.
    pub rps: f64,
    pub iterations: u64,
    pub latency: LatencyStats,
}

/// Figures over all requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub rps: f64,
    pub iterations: u64,
    /// Iterations of a script that ended with an exception; absent when none did.
    #[serde(default, skip_serializing_if = "crate::measure::is_zero")]
    pub failed_iterations: u64,
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

/// A check of no one request: a script's `check()`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScriptCheckSummary {
    pub scenario: String,
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
    pub grade: Option<Grade>,
}

/// Figures of one streaming step (WebSocket or Server-Sent Events). Durations in ms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamSummary {
    pub scenario: String,
    pub name: String,
    /// `ws` or `sse`.
    pub protocol: String,
    /// Sessions that opened.
    pub sessions: u64,
    /// Attempts that never opened (refused, timed out, blocked, ...).
    pub failed_to_open: u64,
    /// Time to open (from the intended start when the stream is an iteration's first step).
    pub connect: LatencyStats,
    /// Send → matching reply (an `expect` after a `send`).
    pub rtt: LatencyStats,
    /// Ping → pong: the connection's own round trip.
    #[serde(default)]
    pub ping_rtt: LatencyStats,
    /// Open → first message or event.
    pub first_message: LatencyStats,
    /// Between consecutive messages of a session.
    pub gap: LatencyStats,
    /// How long sessions lasted.
    pub duration: LatencyStats,
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Messages received per second of the run.
    pub messages_per_s: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Abnormal ends and failed opens per attempt.
    pub disconnect_rate: f64,
    /// Reconnects after the server dropped an event stream.
    #[serde(default)]
    pub reconnects: u64,
    /// Close codes the server sent (WebSocket), e.g. `{"1011": 5}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub close_codes: BTreeMap<String, u64>,
    /// Events by type (SSE; `message` when unnamed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_types: BTreeMap<String, u64>,
    /// The step's grade (its own bands, else the plan's): p95 of the round trips (of the
    /// time to first message when it has none), disconnect rate, messages per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<Grade>,
    /// How sessions ended, by kind (`normal`, `closed_by_server`, `timeout`, ...).
    pub ends: BTreeMap<String, u64>,
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
    pub segment: Segment,
    pub started_at: String,
    pub duration_s: f64,
    pub scheduled_s: f64,
    pub result: Outcome,
    /// Why the run was aborted, interrupted or invalid.
    pub reasons: Vec<String>,
    pub load: LoadSummary,
    pub totals: Totals,
    pub requests: Vec<RequestSummary>,
    /// Per workload, when the plan has more than one (their shapes are here, not in `load`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<WorkloadSummary>,
    /// User-defined metrics; absent when the plan declares none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_metrics: Vec<CustomMetricSummary>,
    /// Checks of no one request (a script's `check()`, named with its group path
    /// `::group::name`); absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<ScriptCheckSummary>,
    /// Streaming steps; absent when the plan has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamSummary>,
    pub thresholds: Vec<ThresholdResult>,
    pub grade: Option<Grade>,
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
    /// The teardown steps, when the plan has them and the load started. Reported, never
    /// judged: a failed cleanup does not change the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown: Option<TeardownSummary>,
    /// A segment of a distributed run (`--segment I/N`, N > 1): everything it recorded,
    /// losslessly, for `loadpacer merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Recorded>,
    /// The segments a merged run was made of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergedFrom>,
}

/// What a segment recorded, as `loadpacer merge` needs it (histograms as HDR V2, deflated,
/// base64).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    /// Layout of this block; a merge refuses another.
    pub format: u32,
    pub ending: crate::run::Ending,
    pub paced_requests: u64,
    pub recorder: Recorder,
}

/// Layout version of [`Recorded`].
/// Version 2: the error kind `cancelled` (13 kinds).
pub const RECORDED_FORMAT: u32 = 2;

/// The segments a merged summary was made of.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MergedFrom {
    /// How many segments the run was divided into.
    pub segments: u64,
    /// The segments that reported (1-based), in order.
    pub reported: Vec<u64>,
    /// True when some did not: the figures are of part of the load.
    pub partial: bool,
}

/// What the teardown steps did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeardownSummary {
    pub passed: bool,
    /// Why it failed: errors, a failed check, or its timeout.
    pub reason: Option<String>,
    pub duration_s: f64,
    pub requests: Vec<RequestSummary>,
}

impl Summary {
    /// The figures a regression check compares.
    pub fn figures(&self) -> Figures {
        figures_of(&self.totals)
    }

    /// Compares with baseline runs; a regression fails a run that had passed.
    pub fn compare_with(&mut self, label: &str, baseline: &[Figures]) {
        self.compare_with_tolerance(label, baseline, Tolerance::default());
    }

    /// [`Summary::compare_with`] with explicit tolerances; no baseline runs, no verdict.
    /// (For a stored summary compared afterwards, as `loadpacer report A B` does; a run
    /// given its baseline beforehand is judged with it in [`Summary::build_with`].)
    pub fn compare_with_tolerance(
        &mut self,
        label: &str,
        baseline: &[Figures],
        tolerance: Tolerance,
    ) {
        let base = Baseline {
            label: label.to_string(),
            figures: baseline.to_vec(),
            tolerance,
        };
        if let Some((result, reasons, regression)) =
            judge::judgement::against_baseline(self.result, &self.reasons, &base, &self.figures())
        {
            self.result = result;
            self.reasons = reasons;
            self.regression = Some(regression);
        }
    }
}

impl Summary {
    /// Judges a finished run and lays out its figures.
    pub fn build(out: &RunOutput, config_hash: &str) -> Summary {
        Self::build_with(out, config_hash, Inputs::default())
    }

    /// [`Summary::build`] with what was sampled during the run and the caller's criteria:
    /// judged once by [`Judgement::of`], laid out here.
    pub fn build_with(out: &RunOutput, config_hash: &str, inputs: Inputs) -> Summary {
        let j = Judgement::of(out, inputs);
        let plan = &out.plan;
        let total = judge::judgement::with_monitor_feeds(plan, &out.total, j.resources.as_ref());
        let secs = out.elapsed.as_secs_f64().max(1e-3);
        Summary {
            schema_version: SCHEMA_VERSION,
            tool: "loadpacer".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            plan: plan.name.clone(),
            description: plan.description.clone(),
            config_hash: config_hash.to_string(),
            target: plan.target.base_url.to_string(),
            segment: out.segment,
            started_at: humantime::format_rfc3339_millis(out.started_at).to_string(),
            duration_s: out.elapsed.as_secs_f64(),
            scheduled_s: out.scheduled.as_secs_f64(),
            result: j.result,
            reasons: j.reasons,
            load: load_summary(plan),
            totals: totals(out, &total, secs),
            workloads: workload_summaries(plan, &total, secs),
            custom_metrics: custom_summaries(plan, &total, secs),
            checks: plan
                .checks
                .iter()
                .enumerate()
                .filter(|(_, k)| k.request.is_empty())
                .map(|(i, k)| {
                    let (passed, failed) = total.checks.get(i).copied().unwrap_or_default();
                    ScriptCheckSummary {
                        scenario: k.scenario.clone(),
                        name: k.name.clone(),
                        passed,
                        failed,
                    }
                })
                .collect(),
            requests: plan
                .requests
                .iter()
                .enumerate()
                .filter(|(_, k)| k.scenario != TEARDOWN)
                .map(|(i, k)| {
                    request_summary(plan, &total, i, &k.scenario, &k.name, &k.method, secs)
                })
                .collect(),
            streams: stream_summaries(plan, &total, secs),
            thresholds: j.thresholds,
            grade: j.grade,
            validity: j.validity,
            capacity: j.capacity,
            resources: j.resources,
            soak: j.soak,
            windows: out.series.points().to_vec(),
            regression: j.regression,
            teardown: out.teardown.as_ref().map(|t| teardown_summary(plan, t)),
            recorded: (out.segment.count > 1).then(|| Recorded {
                format: RECORDED_FORMAT,
                ending: out.ending.clone(),
                paced_requests: out.paced_requests,
                recorder: out.total.clone(),
            }),
            merged: None,
        }
    }

    /// Which share of the load this is, in words: `segment 2/4`, `whole run`, or `merged from
    /// segments 1, 2, 4 of 4 (partial)`.
    pub fn share(&self) -> String {
        match &self.merged {
            Some(m) => {
                let list: Vec<String> = m.reported.iter().map(u64::to_string).collect();
                format!(
                    "merged from segments {} of {}{}",
                    list.join(", "),
                    m.segments,
                    if m.partial { " (partial)" } else { "" }
                )
            }
            None if self.segment.count == 1 => "whole run".into(),
            None => format!("segment {}", self.segment),
        }
    }

    /// Error kinds over all requests, most frequent first: `[("timeout", 10)]`.
    pub fn error_kinds(&self) -> Vec<(String, u64)> {
        error_kinds(&self.requests)
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
        if self.merged.as_ref().is_some_and(|m| m.partial) {
            causes.push("partial: segments missing");
        }
        if causes.is_empty() {
            // Every failed verdict has a reason; name the first rather than nothing.
            causes.push("see the reasons");
        }
        causes
    }

    /// Reads a summary.json, its recorded histograms within their bounds
    /// (`measure::SUMMARY_BUDGET_BYTES` for one summary, `MAX_INFLATED_BYTES` each).
    pub fn from_json(text: &str) -> Result<Summary, ReadError> {
        match crate::measure::bounded_read(|| serde_json::from_str::<Summary>(text)) {
            (Ok(s), _) => Ok(s),
            (Err(e), true) => Err(ReadError::TooLarge(e.to_string())),
            (Err(e), false) => Err(ReadError::Invalid(e.to_string())),
        }
    }

    /// Pretty JSON with secrets redacted.
    pub fn to_json(&self, plan: &PlanSpec) -> String {
        let text = serde_json::to_string_pretty(self).expect("summary serialises");
        plan.redact(&text)
    }
}

/// Why a summary.json was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Its histograms claim more than their bounds; nothing was allocated beyond them.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Invalid(String),
}
