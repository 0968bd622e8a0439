//! Run history in SQLite (WAL). One row per run; the summary JSON is stored whole.
//!
//! Opening never loses history: only a file SQLite proves damaged (not a database, corrupt,
//! or failing `quick_check`) is moved aside with its `-wal` and `-shm`
//! (`<name>.corrupt-<unix ms>[-N]`, never overwriting an earlier one) and a fresh store is
//! created. A store locked by another process, or written by a newer loadpacer, is left
//! alone and the daemon refuses to start, saying why. Runs left `running` by a crash are
//! marked `aborted`. A row that cannot be read (damage `quick_check` misses) is skipped,
//! logged with its run id and counted, so the rest of the history stays readable.

mod copy;
mod history;
mod kinds;
mod open;
mod segments;

pub use copy::{backup, restore, CopyError};

pub use kinds::{RunStatus, Trigger};

use crate::judge::verdict::Outcome;
use crate::sync::LockExt;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SCHEMA_VERSION: i64 = 3;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("run store {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("run store {path}: cannot move the damaged file aside: {source}")]
    Quarantine {
        path: String,
        source: std::io::Error,
    },
    #[error("run store {path} is damaged ({why}) even after moving the old file aside")]
    Damaged { path: String, why: String },
    #[error("run store {path} is locked by another process ({how}): is another loadpacer serving the same store? Stop it, or set store.path to another file")]
    Locked { path: String, how: &'static str },
    #[error("run store {path}: cannot take its lock file {lock}: {source}")]
    LockFile {
        path: String,
        lock: String,
        source: std::io::Error,
    },
    #[error("run store {path} has schema version {found}; this loadpacer reads version {SCHEMA_VERSION}: it was written by a newer loadpacer. Run that version, or set store.path to another file")]
    Newer { path: String, found: i64 },
}

/// One run as stored (the API shows it as `api::types::Run`).
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: String,
    pub plan: String,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub config_hash: String,
    /// Unix milliseconds.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub summary: Option<serde_json::Value>,
}

/// A finished run's headline figures, for trends; `None` where the run did not measure
/// the figure (no requests, no capacity block, no baseline).
#[derive(Debug, Clone, PartialEq)]
pub struct RunFigures {
    pub id: String,
    pub trigger: Trigger,
    pub status: RunStatus,
    /// Unix milliseconds.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub requests: Option<u64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub error_rate: Option<f64>,
    pub rps: Option<f64>,
    /// Measured capacity (req/s at which the SLO broke).
    pub capacity_rps: Option<f64>,
    /// A lower bound when no limit was found.
    pub capacity_at_least_rps: Option<f64>,
    /// Whether the baseline comparison found a regression; `None` without a baseline.
    pub regressed: Option<bool>,
    pub baseline: Option<String>,
    /// Thresholds that did not pass (failed or without data), of `thresholds`.
    pub thresholds_failed: u32,
    pub thresholds: u32,
    /// The streaming steps' figures, when the plan has any.
    pub streams: Option<StreamFigures>,
}

/// A run's streaming steps together: what a stream is judged by.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamFigures {
    pub sessions: u64,
    /// The slowest step's p95 time to open, and to a reply (`None`: none measured).
    pub connect_p95_ms: Option<f64>,
    pub reply_p95_ms: Option<f64>,
    /// Messages received per second, all steps.
    pub messages_per_s: f64,
    /// Sessions that ended otherwise than by the flow, failed opens included.
    pub abnormal_ends: u64,
}

/// What opening found.
#[derive(Debug, Default)]
pub struct OpenReport {
    /// Where a damaged file was moved, and what SQLite said was wrong with it.
    pub quarantined: Option<(PathBuf, String)>,
    /// Runs marked `aborted` because the previous process died while they ran.
    pub orphans_aborted: usize,
}

/// The run store.
pub struct Store {
    /// Held (an exclusive `flock` on `<path>.lock`) for the store's lifetime: one daemon per
    /// store, never two schedulers on one history (H7).
    _lock: std::fs::File,
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Rows skipped because they could not be read, by rowid: each counts once however
    /// often it is read (bounded: past the cap further rows are still logged, not kept).
    unreadable: Mutex<std::collections::BTreeSet<i64>>,
}

/// Distinct unreadable rows remembered for the counter.
const MAX_UNREADABLE_KEPT: usize = 100_000;

/// A row's first seven columns (id … finished_at) as a record without its summary.
fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: r.get(0)?,
        plan: r.get(1)?,
        trigger: r.get(2)?,
        status: r.get(3)?,
        config_hash: r.get(4)?,
        started_at: r.get(5)?,
        finished_at: r.get(6)?,
        summary: None,
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Rows skipped so far because they could not be read.
    pub fn unreadable_rows(&self) -> u64 {
        self.unreadable.locked().len() as u64
    }

    /// Keeps the rows that could be read; each one that could not is logged with its run id
    /// (as far as it is legible) and counted.
    fn readable<T>(&self, rows: Vec<(i64, Vec<u8>, rusqlite::Result<T>)>) -> Vec<T> {
        rows.into_iter()
            .filter_map(|(rowid, id, row)| match row {
                Ok(v) => Some(v),
                Err(e) => {
                    let mut seen = self.unreadable.locked();
                    if seen.len() < MAX_UNREADABLE_KEPT {
                        seen.insert(rowid);
                    }
                    tracing::warn!(run = %String::from_utf8_lossy(&id), rowid, error = %e, "run store row cannot be read; skipped");
                    None
                }
            })
            .collect()
    }

    /// Runs one statement batch. SQLite blocks (disk I/O, fsync, a 5-s busy wait), so on a
    /// multi-thread tokio runtime the call tells the runtime first (`block_in_place`): the
    /// worker thread's other tasks (scrapes, API requests, timers) move elsewhere meanwhile.
    fn exec<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let run = || {
            let conn = self.conn.locked();
            f(&conn).map_err(|source| StoreError::Sqlite {
                path: self.path.display().to_string(),
                source,
            })
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(run)
            }
            _ => run(),
        }
    }

    /// Records a run that has just started.
    pub fn insert_running(
        &self,
        id: &str,
        plan: &str,
        trigger: Trigger,
        config_hash: &str,
    ) -> Result<(), StoreError> {
        self.exec(|c| c.execute("INSERT INTO runs (id, plan, trigger, status, config_hash, started_at) VALUES (?1, ?2, ?3, 'running', ?4, ?5)", params![id, plan, trigger, config_hash, now_ms()]))
            .map(|_| ())
    }

    /// Records a finished run with its summary.
    pub fn finish(&self, id: &str, status: Outcome, summary_json: &str) -> Result<(), StoreError> {
        self.exec(|c| {
            c.execute(
                "UPDATE runs SET status = ?2, finished_at = ?3, summary = ?4 WHERE id = ?1",
                params![id, RunStatus::Finished(status), now_ms(), summary_json],
            )
        })
        .map(|_| ())
    }

    /// Runs, newest first, optionally filtered.
    pub fn list(
        &self,
        plan: Option<&str>,
        status: Option<RunStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.exec(|c| {
            let mut st = c.prepare(
                "SELECT id, plan, trigger, status, config_hash, started_at, finished_at, rowid, CAST(id AS BLOB) FROM runs
                 WHERE (?1 IS NULL OR plan = ?1) AND (?2 IS NULL OR status = ?2)
                 ORDER BY started_at DESC, id DESC LIMIT ?3 OFFSET ?4",
            )?;
            let rows = st.query_map(params![plan, status, limit, offset], |r| {
                Ok((r.get(7)?, r.get::<_, Option<Vec<u8>>>(8)?.unwrap_or_default(), record(r)))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .map(|rows| self.readable(rows))
    }

    /// One run with its summary; `None` also when its row cannot be read (counted).
    pub fn get(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let row = self.exec(|c| {
            c.query_row("SELECT id, plan, trigger, status, config_hash, started_at, finished_at, summary, rowid FROM runs WHERE id = ?1", params![id], |r| {
                let read = record(r).and_then(|rec| {
                    let summary: Option<String> = r.get(7)?;
                    Ok(RunRecord { summary: summary.and_then(|s| serde_json::from_str(&s).ok()), ..rec })
                });
                Ok((r.get(8)?, id.as_bytes().to_vec(), read))
            })
            .optional()
        })?;
        Ok(row.and_then(|r| self.readable(vec![r]).pop()))
    }

    /// Summaries of the newest `n` passed runs of a plan with this config hash.
    pub fn recent_passing(
        &self,
        plan: &str,
        config_hash: &str,
        n: u32,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.exec(|c| {
            let mut st = c.prepare("SELECT summary FROM runs WHERE plan = ?1 AND config_hash = ?2 AND status = 'passed' AND summary IS NOT NULL ORDER BY started_at DESC LIMIT ?3")?;
            let rows = st.query_map(params![plan, config_hash, n], |r| r.get::<_, String>(0))?;
            Ok(rows.filter_map(|r| r.ok()).filter_map(|s| serde_json::from_str(&s).ok()).collect())
        })
    }

    /// Deletes finished runs beyond `keep` per plan or older than `max_age`.
    pub fn prune(&self, keep: u64, max_age: Duration) -> Result<usize, StoreError> {
        let cutoff = now_ms() - max_age.as_millis() as i64;
        self.exec(|c| {
            let pruned = c.execute(
                "DELETE FROM runs WHERE status != 'running' AND (started_at < ?1 OR id IN (
                    SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY plan ORDER BY started_at DESC) AS n FROM runs) WHERE n > ?2))",
                params![cutoff, keep as i64],
            )?;
            // A merged key expires with its run (kept while the run's write is pending).
            c.execute(
                "DELETE FROM merged_keys WHERE merged_at < ?1 OR run_id NOT IN (SELECT id FROM runs)",
                params![cutoff],
            )?;
            Ok(pruned)
        })
    }
}

#[cfg(test)]
mod tests;
