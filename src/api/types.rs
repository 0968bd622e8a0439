//! The JSON API's bodies, defined once: the server writes them, the command-line client and
//! the tests read them, and `docs/api.md` is checked against them (every example there
//! parses into its type and names every field).

use crate::judge::verdict::Outcome;
use crate::store::{RunRecord, RunStatus, Trigger};
use serde::{Deserialize, Serialize};

/// Every error: what went wrong and what to do, with the HTTP status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// `GET /api/v1/plans`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanList {
    pub plans: Vec<PlanEntry>,
    /// Plans in force, of which `plans` is the page from `offset`, at most `limit` long.
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
}

/// A plan in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanEntry {
    pub name: String,
    pub description: Option<String>,
    /// The schedule in words; `null` for a plan that runs only on demand.
    pub schedule: Option<String>,
    /// RFC 3339; `null` without a schedule.
    pub next_run: Option<String>,
    pub running: bool,
    pub last_run: Option<Run>,
}

/// `GET /api/v1/runs`: a page of runs, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunPage {
    pub runs: Vec<Run>,
    pub limit: u32,
    pub offset: u32,
}

/// A stored run; `GET /api/v1/runs/{id}` adds its summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub plan: String,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub config_hash: String,
    /// RFC 3339 in UTC, with the Unix milliseconds beside it.
    pub started_at: Option<String>,
    pub started_at_ms: i64,
    pub finished_at: Option<String>,
    pub finished_at_ms: Option<i64>,
    /// The run's `summary.json`, or `{"error": …}` for a run that could not start or panicked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<serde_json::Value>,
}

impl Run {
    /// The verdict, once the run finished.
    pub fn outcome(&self) -> Option<Outcome> {
        self.status.outcome()
    }

    /// Its length in seconds, once it finished.
    pub fn duration_s(&self) -> Option<f64> {
        self.finished_at_ms
            .map(|f| (f - self.started_at_ms) as f64 / 1000.0)
    }
}

impl From<RunRecord> for Run {
    fn from(r: RunRecord) -> Self {
        let rfc3339 = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        };
        Run {
            started_at: rfc3339(r.started_at),
            finished_at: r.finished_at.and_then(rfc3339),
            id: r.id,
            plan: r.plan,
            trigger: r.trigger,
            status: r.status,
            config_hash: r.config_hash,
            started_at_ms: r.started_at,
            finished_at_ms: r.finished_at,
            summary: r.summary,
        }
    }
}

/// `POST /api/v1/plans/{name}/trigger`: the run started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Started {
    pub id: String,
    pub plan: String,
    /// The plan's scheduled length of load.
    pub duration_s: Option<f64>,
}

/// `POST /api/v1/plans/{name}/segments/{key}`: which segments have reported, and the stored
/// run once the last one did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentAnswer {
    pub plan: String,
    pub key: String,
    pub reported: Vec<u64>,
    pub of: u64,
    pub run: Option<String>,
}

/// `POST /api/v1/runs/{id}/cancel`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cancelling {
    pub id: String,
    pub cancelling: bool,
}

/// `POST /-/reload`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reloaded {
    pub reloaded: bool,
    pub plans: usize,
}
