//! One run from the segments of a distributed run (`run --segment I/N` on N machines): their
//! recorded histograms are merged losslessly, so the percentiles are those one process would
//! have measured, and the merged run is judged by the plan's thresholds, grade, capacity and
//! verdict as any run is. Segments of different plans or files, twice the same segment, or a
//! missing one are refused by name; a partial merge, when asked for, never passes.

use super::summary::{Inputs, MergedFrom, Summary, RECORDED_FORMAT};
use crate::config::PlanSpec;
use crate::judge::judgement::Partial;
use crate::measure::{WindowPoint, WindowSeries, WorkloadPoint};
use crate::run::plan::Segment;
use crate::run::{Ending, RunOutput};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// One segment's summary and how to name it in messages (its file, or its run id).
#[derive(Debug, Clone)]
pub struct Part {
    pub label: String,
    pub summary: Summary,
}

/// Why segments cannot be merged.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    #[error("nothing to merge: give the summaries of the segments")]
    Empty,
    #[error("{0}: not a segment of a distributed run (it has no recorded histograms); run each share with `run --segment I/N` where N > 1")]
    NotASegment(String),
    #[error("{label}: its recorded block has layout {found}; this loadpacer reads layout {expected}: merge with the version that ran the segments")]
    Layout {
        label: String,
        found: u32,
        expected: u32,
    },
    #[error("{label}: segment {segment:?} is not I/N")]
    BadSegment { label: String, segment: String },
    #[error("{label}: plan {found:?}, but the merge is of plan {expected:?}")]
    OtherPlan {
        label: String,
        found: String,
        expected: String,
    },
    #[error("{label}: config hash {found}, but {expected} is expected; every segment must run the same file (and scale) as the config given to the merge")]
    OtherConfig {
        label: String,
        found: String,
        expected: String,
    },
    #[error("{label}: a segment of {found}, but {first} is a segment of {expected}")]
    OtherCount {
        label: String,
        found: u64,
        first: String,
        expected: u64,
    },
    #[error("segment {segment} reported twice: {first} and {second}")]
    Duplicate {
        segment: String,
        first: String,
        second: String,
    },
    #[error("{label}: it recorded {found} but the plan has {expected}; the segments ran another version of the file")]
    Shape {
        label: String,
        found: String,
        expected: String,
    },
    #[error("{label}: its counts disagree: {why}")]
    Inconsistent { label: String, why: String },
    #[error("the segments together claim more than {} requests or iterations; they are not segments of one run", crate::measure::MAX_COUNT)]
    Overflow,
    #[error("segment(s) {missing} of {count} did not report; merge what did with --partial (the run is then marked partial and never passes)")]
    Missing { missing: String, count: u64 },
}

/// A merged run: its judged summary and everything the segments recorded, added up.
pub struct Merged {
    pub summary: Summary,
    pub total: crate::measure::Recorder,
}

/// Merges the segments of one run of `plan` (loaded from the file whose hash is
/// `config_hash`). With `allow_partial`, missing segments make the run partial (failed, with
/// the reason first) instead of an error.
pub fn merge(
    plan: Arc<PlanSpec>,
    config_hash: &str,
    parts: &[Part],
    allow_partial: bool,
) -> Result<Merged, MergeError> {
    let first = parts.first().ok_or(MergeError::Empty)?;
    let mut segments: Vec<(Segment, &Part)> = Vec::new();
    for p in parts {
        let s = &p.summary;
        let segment = checked_segment(&plan, config_hash, first, p)?;
        if let Some((g, _)) = segments.first().filter(|(g, _)| g.count != segment.count) {
            return Err(MergeError::OtherCount {
                label: p.label.clone(),
                found: segment.count,
                first: first.label.clone(),
                expected: g.count,
            });
        }
        if let Some((_, other)) = segments.iter().find(|(g, _)| g.index == segment.index) {
            return Err(MergeError::Duplicate {
                segment: s.segment.to_string(),
                first: other.label.clone(),
                second: p.label.clone(),
            });
        }
        segments.push((segment, p));
    }
    segments.sort_by_key(|(g, _)| g.index);
    let count = segments[0].0.count;
    let missing: Vec<String> = (0..count)
        .filter(|i| !segments.iter().any(|(g, _)| g.index == *i))
        .map(|i| format!("{}/{count}", i + 1))
        .collect();
    if !missing.is_empty() && !allow_partial {
        return Err(MergeError::Missing {
            missing: missing.join(", "),
            count,
        });
    }
    check_totals(&segments)?;
    let out = run_output(plan, &segments);
    let invalid: Vec<String> = segments
        .iter()
        .filter(|(_, p)| !p.summary.validity.is_valid())
        .map(|(_, p)| {
            format!(
                "segment {}: {}",
                p.summary.segment,
                p.summary.validity.reasons.join("; ")
            )
        })
        .collect();
    let inputs = Inputs {
        generator_cpu: (!invalid.is_empty()).then(|| invalid.join("; ")),
        partial: (!missing.is_empty()).then(|| Partial {
            count,
            reported: segments.len(),
            missing: missing.clone(),
        }),
        ..Inputs::default()
    };
    let mut summary = Summary::build_with(&out, &first.summary.config_hash, inputs);
    summary.teardown = segments
        .iter()
        .find_map(|(_, p)| p.summary.teardown.clone());
    summary.merged = Some(MergedFrom {
        segments: count,
        reported: segments.iter().map(|(g, _)| g.index + 1).collect(),
        partial: !missing.is_empty(),
    });
    Ok(Merged {
        summary,
        total: out.total,
    })
}

/// One part checked on its own: a segment (`I/N`, N > 1) of this plan and config, in the
/// layout this version reads, whose counts agree and whose tables are the plan's.
fn checked_segment(
    plan: &PlanSpec,
    config_hash: &str,
    first: &Part,
    p: &Part,
) -> Result<Segment, MergeError> {
    let s = &p.summary;
    let recorded = s
        .recorded
        .as_ref()
        .ok_or_else(|| MergeError::NotASegment(p.label.clone()))?;
    if recorded.format != RECORDED_FORMAT {
        return Err(MergeError::Layout {
            label: p.label.clone(),
            found: recorded.format,
            expected: RECORDED_FORMAT,
        });
    }
    recorded
        .recorder
        .check()
        .map_err(|why| MergeError::Inconsistent {
            label: p.label.clone(),
            why,
        })?;
    if s.plan != plan.name {
        return Err(MergeError::OtherPlan {
            label: p.label.clone(),
            found: s.plan.clone(),
            expected: plan.name.clone(),
        });
    }
    let same_file =
        s.config_hash == config_hash || s.config_hash.starts_with(&format!("{config_hash}-x"));
    if !same_file || s.config_hash != first.summary.config_hash {
        return Err(MergeError::OtherConfig {
            label: p.label.clone(),
            found: s.config_hash.clone(),
            expected: if same_file {
                first.summary.config_hash.clone()
            } else {
                config_hash.to_string()
            },
        });
    }
    let segment =
        Some(s.segment)
            .filter(|g| g.count > 1)
            .ok_or_else(|| MergeError::BadSegment {
                label: p.label.clone(),
                segment: s.segment.to_string(),
            })?;
    check_shape(plan, p)?;
    Ok(segment)
}

/// Each segment is within [`crate::measure::MAX_COUNT`] (checked on reading); their sums must
/// be too, so that adding them up never wraps.
fn check_totals(segments: &[(Segment, &Part)]) -> Result<(), MergeError> {
    let recorder = |p: &Part| {
        p.summary
            .recorded
            .as_ref()
            .map(|r| (r.recorder.total_requests(), r.recorder.total_iterations()))
            .unwrap_or_default()
    };
    let (mut requests, mut iterations) = (0u64, 0u64);
    for (_, p) in segments {
        let (r, i) = recorder(p);
        requests = requests.checked_add(r).ok_or(MergeError::Overflow)?;
        iterations = iterations.checked_add(i).ok_or(MergeError::Overflow)?;
    }
    if requests.max(iterations) > crate::measure::MAX_COUNT {
        return Err(MergeError::Overflow);
    }
    Ok(())
}

/// A segment's tables must be the plan's: the same requests, checks and scenarios.
fn check_shape(plan: &PlanSpec, p: &Part) -> Result<(), MergeError> {
    let r = &p
        .summary
        .recorded
        .as_ref()
        .expect("checked by the caller")
        .recorder;
    let scenarios = plan.scenarios.len();
    let found = (r.requests.len(), r.checks.len(), r.iterations.len());
    let expected = (plan.requests.len(), plan.checks.len(), scenarios);
    if found == expected {
        return Ok(());
    }
    let say = |(a, b, c): (usize, usize, usize)| format!("{a} requests, {b} checks, {c} scenarios");
    Err(MergeError::Shape {
        label: p.label.clone(),
        found: say(found),
        expected: say(expected),
    })
}

/// The run the segments make together, as if one process had run it.
fn run_output(plan: Arc<PlanSpec>, segments: &[(Segment, &Part)]) -> RunOutput {
    let recorded = |p: &Part| p.summary.recorded.clone().expect("checked by the caller");
    let mut total = recorded(segments[0].1).recorder;
    let mut paced = 0;
    let mut ending = Ending::Completed;
    for (i, (_, p)) in segments.iter().enumerate() {
        let r = recorded(p);
        if i > 0 {
            total.merge(&r.recorder);
        }
        paced += r.paced_requests;
        if severity(&r.ending) > severity(&ending) {
            ending = with_segment(r.ending, &p.summary.segment.to_string());
        }
    }
    let started_at = segments
        .iter()
        .filter_map(|(_, p)| humantime::parse_rfc3339_weak(&p.summary.started_at).ok())
        .min()
        .unwrap_or_else(SystemTime::now);
    let longest = |f: fn(&Summary) -> f64| {
        let s = segments
            .iter()
            .map(|(_, p)| f(&p.summary))
            .fold(0.0, f64::max);
        Duration::from_secs_f64(s.max(0.0))
    };
    let mut series = WindowSeries::new(SERIES_POINTS);
    for point in merged_windows(segments.iter().map(|(_, p)| p.summary.windows.as_slice())) {
        series.push(point);
    }
    RunOutput {
        plan,
        segment: Segment::WHOLE,
        started_at,
        elapsed: longest(|s| s.duration_s),
        scheduled: longest(|s| s.scheduled_s),
        ending,
        total,
        series,
        paced_requests: paced,
        teardown: None,
    }
}

/// Points kept in a merged series, as in a run's.
const SERIES_POINTS: usize = 720;

/// How bad an ending is: the merged run ends as its worst segment.
fn severity(e: &Ending) -> u8 {
    match e {
        Ending::Completed => 0,
        Ending::Stopped(_) => 1,
        Ending::Interrupted => 2,
        Ending::Aborted(_) => 3,
        Ending::Error(_) => 4,
    }
}

fn with_segment(e: Ending, segment: &str) -> Ending {
    let tag = |why: String| format!("segment {segment}: {why}");
    match e {
        Ending::Aborted(w) => Ending::Aborted(tag(w)),
        Ending::Stopped(w) => Ending::Stopped(tag(w)),
        Ending::Error(w) => Ending::Error(tag(w)),
        other => other,
    }
}

/// The segments' windows added up window by window (they share the schedule, each with its
/// share of the load): counts and targets add; a window's percentiles are the worst
/// segment's, the same bound a downsampled series keeps (the run's percentiles are exact).
fn merged_windows<'a>(series: impl Iterator<Item = &'a [WindowPoint]>) -> Vec<WindowPoint> {
    let mut out: Vec<WindowPoint> = Vec::new();
    for points in series {
        for (i, p) in points.iter().enumerate() {
            match out.get_mut(i) {
                None => out.push(p.clone()),
                Some(m) => {
                    m.t_s = m.t_s.max(p.t_s);
                    m.requests += p.requests;
                    m.errors += p.errors;
                    m.p50_ms = m.p50_ms.max(p.p50_ms);
                    m.p95_ms = m.p95_ms.max(p.p95_ms);
                    m.p99_ms = m.p99_ms.max(p.p99_ms);
                    m.target += p.target;
                    m.stream_messages += p.stream_messages;
                    m.stream_sessions += p.stream_sessions;
                    for (w, o) in m.workloads.iter_mut().zip(&p.workloads) {
                        *w = WorkloadPoint {
                            requests: w.requests + o.requests,
                            errors: w.errors + o.errors,
                            target: w.target + o.target,
                            in_flight: w.in_flight + o.in_flight,
                        };
                    }
                }
            }
        }
    }
    out
}
