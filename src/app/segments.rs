//! Distributed runs reported to the daemon: each segment process (`run --segment I/N
//! --report-to URL --run-key KEY`) posts its summary; the segments are kept in the store
//! (a restart loses none) and, once every one has reported, merged into one run stored like
//! any other. When some are still missing at `server.segments_deadline`, what reported is
//! stored as a partial run, which never passes.

use super::App;
use crate::config::PlanSpec;
use crate::report::merge::{merge, MergeError, Part};
use crate::report::summary::ReadError;
use crate::report::Summary;
use crate::store::Trigger;
use crate::sync::LockExt;
use std::sync::Arc;
use tracing::{info, warn};

/// What the daemon holds of a distributed run after a segment arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentReceipt {
    /// The segments received so far (1-based).
    pub reported: Vec<u64>,
    pub of: u64,
    /// The stored run, once every segment has reported.
    pub run_id: Option<String>,
}

/// Why a segment was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("no plan named {0:?}")]
    UnknownPlan(String),
    #[error("run keys are 1 to 64 letters, digits, '.', '_' or '-' (e.g. the Job's name)")]
    BadKey,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Duplicate(String),
    #[error("the run store failed: {0}")]
    Store(String),
}

/// A run key: what the segment processes agree on (a Job's name, a CI pipeline id).
pub fn valid_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl App {
    /// Accepts the summary of one segment of the distributed run `key` of `plan`: checked
    /// against the plan, the config in force and the segments already received, kept, and
    /// merged into a stored run when it was the last one.
    pub fn accept_segment(
        &self,
        plan: &str,
        key: &str,
        body: &str,
    ) -> Result<SegmentReceipt, SegmentError> {
        let accepted = self.take_segment(plan, key, body);
        let refused = match &accepted {
            Err(SegmentError::TooLarge(_)) => Some("too_large"),
            Err(SegmentError::Invalid(_)) => Some("invalid"),
            Err(SegmentError::Duplicate(_)) => Some("duplicate"),
            _ => None,
        };
        if let Some(reason) = refused {
            self.metrics.segment_refused(reason);
        }
        accepted
    }

    fn take_segment(
        &self,
        plan: &str,
        key: &str,
        body: &str,
    ) -> Result<SegmentReceipt, SegmentError> {
        if !valid_key(key) {
            return Err(SegmentError::BadKey);
        }
        let _one_at_a_time = self.segments.locked();
        if let Some(run) = self
            .store
            .merged_run(key)
            .map_err(|e| SegmentError::Store(e.to_string()))?
        {
            return Err(SegmentError::Duplicate(format!(
                "run key {key:?} was already merged into run {run}; a new distributed run needs a new key"
            )));
        }
        let cfg = self.config();
        let spec = cfg
            .plan(plan)
            .cloned()
            .ok_or_else(|| SegmentError::UnknownPlan(plan.to_string()))?;
        let summary = Summary::from_json(body).map_err(|e| match e {
            ReadError::TooLarge(why) => SegmentError::TooLarge(why),
            ReadError::Invalid(why) => {
                SegmentError::Invalid(format!("the body is not a summary.json: {why}"))
            }
        })?;
        let posted = Part {
            label: format!("the posted segment {}", summary.segment),
            summary,
        };
        let mut parts = self.kept_segments(key)?;
        parts.push(posted);
        let merged = merge(spec.clone(), &cfg.hash, &parts, true).map_err(|e| match e {
            MergeError::Duplicate { .. } => SegmentError::Duplicate(e.to_string()),
            other => SegmentError::Invalid(other.to_string()),
        })?;
        let from = merged
            .summary
            .merged
            .clone()
            .expect("a merge says what it merged");
        let index = from
            .reported
            .iter()
            .copied()
            .find(|i| !parts[..parts.len() - 1].iter().any(|p| segment_of(p) == *i))
            .unwrap_or_default();
        self.store
            .add_segment(key, plan, index, body)
            .map_err(|e| SegmentError::Store(e.to_string()))?;
        info!(
            plan,
            key,
            segment = index,
            of = from.segments,
            "segment received"
        );
        let run_id = (!from.partial).then(|| self.store_merged(&spec, key, merged));
        Ok(SegmentReceipt {
            reported: from.reported,
            of: from.segments,
            run_id,
        })
    }

    /// Stores the distributed runs whose segments have waited longer than
    /// `server.segments_deadline` as partial runs.
    pub(super) fn expire_segments(&self) {
        let _one_at_a_time = self.segments.locked();
        let cfg = self.config();
        let deadline = cfg.server.segments_deadline.as_millis() as i64;
        let now = chrono::Utc::now().timestamp_millis();
        let waiting = match self.store.waiting_runs() {
            Ok(w) => w,
            Err(e) => {
                warn!(error = %e, "cannot read the segments of distributed runs");
                return;
            }
        };
        for (key, plan, first) in waiting.into_iter().filter(|w| now - w.2 > deadline) {
            let merged = match (cfg.plan(&plan), self.kept_segments(&key)) {
                (Some(spec), Ok(parts)) => merge(spec.clone(), &cfg.hash, &parts, true)
                    .map(|m| (spec.clone(), m))
                    .map_err(|e| e.to_string()),
                (None, _) => Err(format!("plan {plan:?} is no longer in the config")),
                (_, Err(e)) => Err(e.to_string()),
            };
            match merged {
                Ok((spec, m)) => {
                    warn!(
                        plan,
                        key,
                        waited_ms = now - first,
                        "segments missing at the deadline; storing a partial run"
                    );
                    self.store_merged(&spec, &key, m);
                }
                Err(why) => {
                    warn!(plan, key, reason = %why, "segments cannot be merged; dropped");
                    let _ = self.store.drop_segments(&key);
                }
            }
        }
    }

    fn kept_segments(&self, key: &str) -> Result<Vec<Part>, SegmentError> {
        let rows = self
            .store
            .segments(key)
            .map_err(|e| SegmentError::Store(e.to_string()))?;
        Ok(rows
            .into_iter()
            .filter_map(|(i, json)| {
                let summary = Summary::from_json(&json).ok()?;
                Some(Part {
                    label: format!("segment {i} received earlier"),
                    summary,
                })
            })
            .collect())
    }

    /// Stores a merged run (like a finished run: its metrics, the write, pruning) and
    /// forgets its segments; returns its id.
    fn store_merged(
        &self,
        plan: &Arc<PlanSpec>,
        key: &str,
        m: crate::report::merge::Merged,
    ) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        let summary = &m.summary;
        let status = summary.result;
        if let Err(e) =
            self.store
                .insert_running(&id, &plan.name, Trigger::Segments, &summary.config_hash)
        {
            warn!(run = %id, error = %e, "cannot record the merged run");
        }
        if let Err(e) = self.store.mark_merged(key, &plan.name, &id) {
            warn!(key, error = %e, "cannot forget the merged segments");
        }
        let latency = m.total.merged_latency();
        self.record_end(
            &plan.name,
            &id,
            status,
            summary.to_json(plan),
            Some((summary, &latency)),
        );
        info!(plan = %plan.name, run = %id, key, status = status.as_str(), "distributed run merged and stored");
        id
    }
}

fn segment_of(p: &Part) -> u64 {
    p.summary.segment.index + 1
}
