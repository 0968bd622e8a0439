//! Run history in SQLite (WAL). One row per run; the summary JSON is stored whole.
//!
//! Opening never loses history: only a file SQLite proves damaged (not a database, corrupt,
//! or failing `quick_check`) is moved aside with its `-wal` and `-shm`
//! (`<name>.corrupt-<unix ms>[-N]`, never overwriting an earlier one) and a fresh store is
//! created. A store locked by another process, or written by a newer loadpacer, is left
//! alone and the daemon refuses to start, saying why. Runs left `running` by a crash are
//! marked `aborted`. A row that cannot be read (damage `quick_check` misses) is skipped,
//! logged with its run id and counted, so the rest of the history stays readable.

mod kinds;

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

/// Why a store could not be opened as it is.
enum OpenFailure {
    /// SQLite proved the file damaged; the words say how.
    Damaged(String),
    Locked,
    Newer(i64),
    Other(rusqlite::Error),
}

impl OpenFailure {
    fn into_error(self, path: String) -> StoreError {
        match self {
            OpenFailure::Damaged(why) => StoreError::Damaged { path, why },
            OpenFailure::Locked => StoreError::Locked {
                path,
                how: "its SQLite write lock was held for 5 s",
            },
            OpenFailure::Newer(found) => StoreError::Newer { path, found },
            OpenFailure::Other(source) => StoreError::Sqlite { path, source },
        }
    }
}

impl From<rusqlite::Error> for OpenFailure {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match e.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked) => OpenFailure::Locked,
            Some(DatabaseCorrupt | NotADatabase) => OpenFailure::Damaged(e.to_string()),
            _ => OpenFailure::Other(e),
        }
    }
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

/// Version 1: the runs.
const RUNS_TABLE: &str = "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        plan TEXT NOT NULL,
        trigger TEXT NOT NULL,
        status TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        summary TEXT
    );
    CREATE INDEX runs_plan_started ON runs(plan, started_at);";

/// Version 2: the segments of distributed runs, kept until their run is merged and stored.
const SEGMENTS_TABLE: &str = "CREATE TABLE segments (
        run_key TEXT NOT NULL,
        plan TEXT NOT NULL,
        segment INTEGER NOT NULL,
        summary TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (run_key, segment)
    );";

/// Version 3: the keys of merged distributed runs, so that segments posted again are refused
/// (H6); each is forgotten with its run.
const MERGED_TABLE: &str = "CREATE TABLE merged_keys (
        run_key TEXT PRIMARY KEY,
        plan TEXT NOT NULL,
        run_id TEXT NOT NULL,
        merged_at INTEGER NOT NULL
    );";

/// The lock file beside a store.
fn lock_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Takes the store's lock for the life of the returned file, or says who holds it.
fn take_lock(path: &Path) -> Result<std::fs::File, StoreError> {
    let lock = lock_path(path);
    let fail = |source| StoreError::LockFile {
        path: path.display().to_string(),
        lock: lock.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(fail)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: path.display().to_string(),
            how: "another process holds its lock file",
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(fail(e)),
    }
}

impl Store {
    /// Opens (or creates) the store, quarantining a file SQLite proves damaged.
    pub fn open(path: &Path) -> Result<(Store, OpenReport), StoreError> {
        let mut report = OpenReport::default();
        let shown = path.display().to_string();
        let lock = take_lock(path)?;
        let conn = match Self::open_checked(path) {
            Ok(c) => c,
            Err(OpenFailure::Damaged(why)) => {
                let aside =
                    quarantine(path, now_ms()).map_err(|source| StoreError::Quarantine {
                        path: shown.clone(),
                        source,
                    })?;
                report.quarantined = Some((aside, why));
                Self::open_checked(path).map_err(|f| f.into_error(shown))?
            }
            Err(f) => return Err(f.into_error(shown)),
        };
        let store = Store {
            _lock: lock,
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            unreadable: Default::default(),
        };
        store.check_integrity();
        report.orphans_aborted = store.exec(|c| {
            c.execute(
                "UPDATE runs SET status = 'aborted', finished_at = ?1 WHERE status = 'running'",
                params![now_ms()],
            )
        })?;
        Ok((store, report))
    }

    fn open_checked(path: &Path) -> Result<Connection, OpenFailure> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(OpenFailure::Damaged(format!("quick_check: {check}")));
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let tables: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )?;
        // The steps from each version to the next; all that a store needs run in one
        // transaction with the new version, so a kill mid-way leaves the old store (H: a
        // kill during a first start can no longer leave tables without a version).
        let steps = match version {
            0 if tables > 0 => {
                return Err(OpenFailure::Damaged(format!(
                    "it holds {tables} table(s) but no loadpacer schema version: not a loadpacer store, or one whose creation was cut short"
                )))
            }
            0 => [RUNS_TABLE, SEGMENTS_TABLE, MERGED_TABLE].as_slice(),
            1 => [SEGMENTS_TABLE, MERGED_TABLE].as_slice(),
            2 => [MERGED_TABLE].as_slice(),
            SCHEMA_VERSION => return Ok(conn),
            newer if newer > SCHEMA_VERSION => return Err(OpenFailure::Newer(newer)),
            foreign => {
                return Err(OpenFailure::Damaged(format!(
                    "schema version {foreign} is not one loadpacer wrote"
                )))
            }
        };
        let tx = conn.unchecked_transaction()?;
        for step in steps {
            tx.execute_batch(step)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(conn)
    }

    /// Rows skipped so far because they could not be read.
    pub fn unreadable_rows(&self) -> u64 {
        self.unreadable.locked().len() as u64
    }

    /// Damage that `quick_check` does not look for (an index out of step with its table):
    /// logged with what `integrity_check` says, and the indexes rebuilt (they hold nothing
    /// the tables do not), then checked again and the outcome logged.
    fn check_integrity(&self) {
        let check = |c: &Connection| -> rusqlite::Result<Vec<String>> {
            let mut st = c.prepare("PRAGMA integrity_check(20)")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        };
        let found = match self.exec(check) {
            Ok(f) if f == ["ok"] => return,
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(store = %self.path.display(), error = %e, "run store integrity_check could not run");
                return;
            }
        };
        tracing::warn!(store = %self.path.display(), problems = %found.join("; "), "run store integrity_check found damage; rebuilding its indexes");
        match self.exec(|c| c.execute_batch("REINDEX").and_then(|()| check(c))) {
            Ok(after) if after == ["ok"] => {
                tracing::warn!(store = %self.path.display(), "run store indexes rebuilt; integrity_check is ok")
            }
            Ok(after) => {
                tracing::warn!(store = %self.path.display(), problems = %after.join("; "), "run store still damaged after rebuilding its indexes; unreadable rows are skipped and counted")
            }
            Err(e) => {
                tracing::warn!(store = %self.path.display(), error = %e, "run store indexes could not be rebuilt")
            }
        }
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

    /// A plan's finished runs with their headline figures, oldest first: the newest `limit`
    /// that started in `[since, until)` (Unix ms). The figures are read inside SQLite from
    /// the stored summaries, so a long history costs a few numbers per run, not the JSON.
    pub fn history(
        &self,
        plan: &str,
        since: Option<i64>,
        until: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RunFigures>, StoreError> {
        self.exec(|c| {
            let mut st = c.prepare(
                "SELECT id, trigger, status, started_at, finished_at,
                        json_extract(summary, '$.totals.requests'),
                        json_extract(summary, '$.totals.latency.p50_ms'),
                        json_extract(summary, '$.totals.latency.p95_ms'),
                        json_extract(summary, '$.totals.latency.p99_ms'),
                        json_extract(summary, '$.totals.error_rate'),
                        json_extract(summary, '$.totals.rps'),
                        json_extract(summary, '$.capacity.capacity_rps'),
                        json_extract(summary, '$.capacity.capacity_at_least_rps'),
                        json_extract(summary, '$.regression.regressed'),
                        json_extract(summary, '$.regression.baseline'),
                        (SELECT count(*) FROM json_each(summary, '$.thresholds')
                          WHERE json_extract(value, '$.verdict') != 'pass'),
                        json_array_length(summary, '$.thresholds'),
                        rowid, CAST(id AS BLOB),
                        json_array_length(summary, '$.streams'),
                        (SELECT sum(json_extract(value, '$.sessions')) FROM json_each(summary, '$.streams')),
                        (SELECT max(json_extract(value, '$.connect.p95_ms')) FROM json_each(summary, '$.streams')),
                        (SELECT max(json_extract(value, '$.rtt.p95_ms')) FROM json_each(summary, '$.streams')),
                        (SELECT sum(json_extract(value, '$.messages_per_s')) FROM json_each(summary, '$.streams')),
                        (SELECT sum(e.value) FROM json_each(summary, '$.streams') AS s,
                                json_each(s.value, '$.ends') AS e WHERE e.key != 'normal')
                 FROM runs
                 WHERE plan = ?1 AND finished_at IS NOT NULL AND json_valid(summary)
                   AND (?2 IS NULL OR started_at >= ?2) AND (?3 IS NULL OR started_at < ?3)
                 ORDER BY started_at DESC, id DESC LIMIT ?4",
            )?;
            let rows = st.query_map(params![plan, since, until, limit], |r| {
                let figures = (|| {
                    let requests: Option<u64> = r.get(5)?;
                    // Without a request there is no latency or error rate, only zeros.
                    let measured = |i| -> rusqlite::Result<Option<f64>> {
                        Ok(if requests.unwrap_or(0) == 0 {
                            None
                        } else {
                            r.get(i)?
                        })
                    };
                    Ok(RunFigures {
                        id: r.get(0)?,
                        trigger: r.get(1)?,
                        status: r.get(2)?,
                        started_at: r.get(3)?,
                        finished_at: r.get(4)?,
                        requests,
                        p50_ms: measured(6)?,
                        p95_ms: measured(7)?,
                        p99_ms: measured(8)?,
                        error_rate: measured(9)?,
                        rps: r.get(10)?,
                        capacity_rps: r.get(11)?,
                        capacity_at_least_rps: r.get(12)?,
                        regressed: r.get(13)?,
                        baseline: r.get(14)?,
                        thresholds_failed: r.get::<_, Option<u32>>(15)?.unwrap_or(0),
                        thresholds: r.get::<_, Option<u32>>(16)?.unwrap_or(0),
                        streams: match r.get::<_, Option<u32>>(19)? {
                            Some(n) if n > 0 => Some(StreamFigures {
                                sessions: r.get::<_, Option<u64>>(20)?.unwrap_or(0),
                                connect_p95_ms: r.get(21)?,
                                reply_p95_ms: r.get(22)?,
                                messages_per_s: r.get::<_, Option<f64>>(23)?.unwrap_or(0.0),
                                abnormal_ends: r.get::<_, Option<u64>>(24)?.unwrap_or(0),
                            }),
                            _ => None,
                        },
                    })
                })();
                Ok((
                    r.get(17)?,
                    r.get::<_, Option<Vec<u8>>>(18)?.unwrap_or_default(),
                    figures,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .map(|rows| {
            let mut v = self.readable(rows);
            v.reverse();
            v
        })
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

    /// Keeps a segment of the distributed run `key` until the run is merged; `false` when
    /// that segment is already kept.
    pub fn add_segment(
        &self,
        key: &str,
        plan: &str,
        segment: u64,
        summary_json: &str,
    ) -> Result<bool, StoreError> {
        self.exec(|c| {
            c.execute(
                "INSERT OR IGNORE INTO segments (run_key, plan, segment, summary, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key, plan, segment as i64, summary_json, now_ms()],
            )
        })
        .map(|n| n == 1)
    }

    /// The kept segments of the distributed run `key`: (segment, summary), in order.
    pub fn segments(&self, key: &str) -> Result<Vec<(u64, String)>, StoreError> {
        self.exec(|c| {
            let mut st = c.prepare(
                "SELECT segment, summary FROM segments WHERE run_key = ?1 ORDER BY segment",
            )?;
            let rows = st.query_map(params![key], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })?;
            rows.collect()
        })
    }

    /// Distributed runs waiting for segments: (key, plan, when the first arrived, ms since
    /// the epoch), oldest first.
    pub fn waiting_runs(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.exec(|c| {
            let mut st = c.prepare(
                "SELECT run_key, MIN(plan), MIN(received_at) FROM segments GROUP BY run_key ORDER BY 3",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }

    /// Forgets the segments of `key` and remembers that it was merged into run `run_id`,
    /// in one transaction.
    pub fn mark_merged(&self, key: &str, plan: &str, run_id: &str) -> Result<(), StoreError> {
        self.exec(|c| {
            let tx = c.unchecked_transaction()?;
            tx.execute("DELETE FROM segments WHERE run_key = ?1", params![key])?;
            tx.execute(
                "INSERT OR REPLACE INTO merged_keys (run_key, plan, run_id, merged_at) VALUES (?1, ?2, ?3, ?4)",
                params![key, plan, run_id, now_ms()],
            )?;
            tx.commit()
        })
    }

    /// The run that the distributed run `key` was merged into, if it was.
    pub fn merged_run(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.exec(|c| {
            c.query_row(
                "SELECT run_id FROM merged_keys WHERE run_key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Forgets the segments of `key` (its run was stored).
    pub fn drop_segments(&self, key: &str) -> Result<(), StoreError> {
        self.exec(|c| c.execute("DELETE FROM segments WHERE run_key = ?1", params![key]))
            .map(|_| ())
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

/// Why a backup or restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{0} exists; give a new file for the backup")]
    Exists(String),
    #[error("{file}: {why}")]
    NotAStore { file: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
}

/// Copies the store at `store` into the new file `to`, consistently, while a daemon may be
/// writing it (SQLite's `VACUUM INTO` reads one snapshot of the database and its WAL). The
/// only safe way to copy a store other than after a clean stop: copying the file alone can
/// pair it with a WAL that is not its own.
pub fn backup(store: &Path, to: &Path) -> Result<(), CopyError> {
    if to.exists() {
        return Err(CopyError::Exists(to.display().to_string()));
    }
    let shown = store.display().to_string();
    let sqlite = |source| StoreError::Sqlite {
        path: shown.clone(),
        source,
    };
    let conn = Connection::open_with_flags(
        store,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
    check_copy(&conn, &shown)?;
    conn.execute("VACUUM INTO ?1", params![to.display().to_string()])
        .map_err(sqlite)?;
    Ok(())
}

/// A copy must be a loadpacer store this version reads, and undamaged.
fn check_copy(conn: &Connection, file: &str) -> Result<(), CopyError> {
    let not = |why: String| CopyError::NotAStore {
        file: file.to_string(),
        why,
    };
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| not(format!("not a readable SQLite database ({e})")))?;
    if check != "ok" {
        return Err(not(format!("damaged (quick_check: {check})")));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| not(e.to_string()))?;
    if !(1..=SCHEMA_VERSION).contains(&version) {
        return Err(not(format!(
            "schema version {version} is not a loadpacer store this version reads (1 to {SCHEMA_VERSION})"
        )));
    }
    Ok(())
}

/// Puts the backup `from` in place of the store at `store`, which no daemon may hold (its
/// lock is taken for the while). The store it replaces, with its `-wal` and `-shm`, is moved
/// aside (returned), never deleted.
pub fn restore(from: &Path, store: &Path) -> Result<Option<PathBuf>, CopyError> {
    let _lock = take_lock(store)?;
    let source = Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| CopyError::NotAStore {
            file: from.display().to_string(),
            why: e.to_string(),
        })?;
    check_copy(&source, &from.display().to_string())?;
    drop(source);
    let io = |file: &Path| {
        let file = file.display().to_string();
        move |source| CopyError::Io { file, source }
    };
    let mut staged = store.as_os_str().to_owned();
    staged.push(".restoring");
    let staged = PathBuf::from(staged);
    std::fs::copy(from, &staged).map_err(io(&staged))?;
    std::fs::File::open(&staged)
        .and_then(|f| f.sync_all())
        .map_err(io(&staged))?;
    let aside = if store.exists() {
        let stamp = now_ms();
        let aside = (0..)
            .map(|n| store.with_extension(format!("before-restore-{stamp}-{n}")))
            .find(|p| !p.exists())
            .expect("an unused name");
        std::fs::rename(store, &aside).map_err(io(store))?;
        for ext in ["-wal", "-shm"] {
            let mut from = store.as_os_str().to_owned();
            from.push(ext);
            let mut to = aside.as_os_str().to_owned();
            to.push(ext);
            if Path::new(&from).exists() {
                std::fs::rename(&from, &to).map_err(io(Path::new(&from)))?;
            }
        }
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&staged, store).map_err(io(store))?;
    Ok(aside)
}

/// Moves a damaged store aside with its `-wal` and `-shm` (they belong to it), under a name
/// no earlier quarantine took.
fn quarantine(path: &Path, stamp: i64) -> std::io::Result<PathBuf> {
    let aside = (0..)
        .map(|n| {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            path.with_extension(format!("corrupt-{stamp}{suffix}"))
        })
        .find(|p| !p.exists())
        .expect("an unused name");
    std::fs::rename(path, &aside)?;
    for ext in ["-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(ext);
        let mut to = aside.as_os_str().to_owned();
        to.push(ext);
        if Path::new(&from).exists() {
            std::fs::rename(&from, &to)?;
        }
    }
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e3_orphaned_running_rows_become_aborted_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        let (s, _) = Store::open(&path).unwrap();
        s.insert_running("a", "p", Trigger::Schedule, "h").unwrap();
        s.insert_running("b", "p", Trigger::Api, "h").unwrap();
        s.finish("b", Outcome::Passed, "{\"x\":1}").unwrap();
        drop(s);
        let (s, report) = Store::open(&path).unwrap();
        assert_eq!(report.orphans_aborted, 1);
        assert_eq!(s.get("a").unwrap().unwrap().status.as_str(), "aborted");
        let b = s.get("b").unwrap().unwrap();
        assert_eq!(
            (b.status.as_str(), b.summary.unwrap()["x"].as_i64()),
            ("passed", Some(1))
        );
        assert_eq!(
            s.list(Some("p"), Some("passed".parse().unwrap()), 10, 0)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn e7_corrupt_file_is_moved_aside_and_a_fresh_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        std::fs::write(
            &path,
            b"this is not a sqlite database, just bytes".repeat(200),
        )
        .unwrap();
        let (s, report) = Store::open(&path).unwrap();
        let (aside, why) = report.quarantined.expect("quarantined");
        assert!(aside.exists());
        assert!(why.contains("not a database"), "{why}");
        assert!(s.list(None, None, 10, 0).unwrap().is_empty());
    }

    #[test]
    fn e8_retention_keeps_the_newest_runs_per_plan() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Store::open(&dir.path().join("runs.db")).unwrap();
        for i in 0..10 {
            s.insert_running(&format!("r{i}"), "p", Trigger::Schedule, "h")
                .unwrap();
            s.finish(&format!("r{i}"), Outcome::Passed, "{}").unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(s.prune(3, Duration::from_secs(3600)).unwrap(), 7);
        let ids: Vec<String> = s
            .list(None, None, 10, 0)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec!["r9", "r8", "r7"]);
    }

    fn healthy_store_with_a_run(dir: &Path) -> PathBuf {
        let path = dir.join("runs.db");
        let (s, _) = Store::open(&path).unwrap();
        s.insert_running("keep", "p", Trigger::Api, "h").unwrap();
        s.finish("keep", Outcome::Passed, "{}").unwrap();
        path
    }

    #[test]
    fn a_store_locked_by_another_process_is_refused_not_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let path = healthy_store_with_a_run(dir.path());
        // Another process holds the database exclusively (Python's sqlite3, as any other
        // SQLite client would).
        let mut holder = std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys,time\nc=sqlite3.connect(sys.argv[1],isolation_level=None)\nc.execute('PRAGMA locking_mode=EXCLUSIVE')\nc.execute('BEGIN EXCLUSIVE')\nc.execute(\"UPDATE runs SET plan=plan\")\nprint('locked',flush=True)\ntime.sleep(30)",
            ])
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "locked");
        let err = Store::open(&path).err().expect("refused while locked");
        let _ = holder.kill();
        let _ = holder.wait();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(
            err.to_string().contains("locked by another process"),
            "{err}"
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains("corrupt")), "{names:?}");
        let (s, report) = Store::open(&path).unwrap();
        assert!(report.quarantined.is_none());
        assert_eq!(
            s.get("keep").unwrap().unwrap().status.as_str(),
            "passed",
            "history kept"
        );
    }

    #[test]
    fn a_store_from_a_newer_loadpacer_is_refused_not_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let path = healthy_store_with_a_run(dir.path());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 7)
            .unwrap();
        let err = Store::open(&path).err().expect("refused");
        assert!(matches!(err, StoreError::Newer { found: 7, .. }), "{err}");
        assert!(path.exists());
    }

    #[test]
    fn two_quarantines_in_the_same_millisecond_keep_both_files_and_their_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        let mut asides = Vec::new();
        for body in ["first", "second"] {
            std::fs::write(&path, body).unwrap();
            std::fs::write(dir.path().join("runs.db-wal"), format!("{body} wal")).unwrap();
            asides.push(quarantine(&path, 1_700_000_000_000).unwrap());
        }
        assert_ne!(asides[0], asides[1]);
        for (aside, body) in asides.iter().zip(["first", "second"]) {
            assert_eq!(std::fs::read_to_string(aside).unwrap(), body);
            let mut wal = aside.as_os_str().to_owned();
            wal.push("-wal");
            assert_eq!(std::fs::read_to_string(wal).unwrap(), format!("{body} wal"));
        }
    }

    #[test]
    fn unreadable_rows_are_skipped_and_counted_and_the_rest_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = healthy_store_with_a_run(dir.path());
        // Damage quick_check does not see: a TEXT column holding bytes that are not UTF-8.
        Connection::open(&path)
            .unwrap()
            .execute(
                "INSERT INTO runs (id, plan, trigger, status, config_hash, started_at) VALUES ('bad', CAST(x'fffe' AS TEXT), 'api', 'passed', 'h', 1)",
                [],
            )
            .unwrap();
        let (s, _) = Store::open(&path).unwrap();
        let ids: Vec<String> = s
            .list(None, None, 10, 0)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec!["keep"]);
        assert_eq!(s.get("bad").unwrap().map(|r| r.id), None);
        assert_eq!(s.unreadable_rows(), 1, "one row, however often it is read");
    }

    #[test]
    fn h7_a_second_open_of_a_held_store_is_refused_and_the_first_keeps_working() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        let (first, _) = Store::open(&path).unwrap();
        first.insert_running("r1", "p", Trigger::Api, "h").unwrap();
        let err = Store::open(&path)
            .err()
            .expect("a second store on the same file");
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("another process holds its lock file"),
            "{err}"
        );
        // The refused open changed nothing: the first one's run is still running.
        assert_eq!(first.get("r1").unwrap().unwrap().status.as_str(), "running");
        drop(first);
        let (again, report) = Store::open(&path).unwrap();
        assert_eq!(report.orphans_aborted, 1, "the lock goes with the store");
        drop(again);
    }

    #[test]
    fn a_store_with_tables_but_no_version_is_quarantined_with_a_plain_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        // What a kill between CREATE TABLE and user_version left before schema creation
        // became one transaction.
        Connection::open(&path)
            .unwrap()
            .execute_batch(RUNS_TABLE)
            .unwrap();
        let (s, report) = Store::open(&path).unwrap();
        let (aside, why) = report.quarantined.expect("moved aside");
        assert!(aside.exists());
        assert!(why.contains("no loadpacer schema version"), "{why}");
        s.insert_running("r", "p", Trigger::Api, "h").unwrap();
    }

    #[test]
    fn schema_creation_is_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        // A store whose migration fails half-way (a table of the last step is in the way)
        // keeps its old version and tables: nothing of the failed step is left behind.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(RUNS_TABLE).unwrap();
        c.execute_batch("CREATE TABLE merged_keys (x INTEGER); PRAGMA user_version = 1;")
            .unwrap();
        drop(c);
        assert!(Store::open(&path).is_err());
        let c = Connection::open(&path).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        let segments: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'segments'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!((v, segments), (1, 0));
    }

    #[test]
    fn h6_a_merged_key_is_kept_and_forgotten_with_its_run() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Store::open(&dir.path().join("runs.db")).unwrap();
        s.add_segment("job", "p", 1, "{}").unwrap();
        s.insert_running("run-1", "p", Trigger::Segments, "h")
            .unwrap();
        s.finish("run-1", Outcome::Passed, "{}").unwrap();
        s.mark_merged("job", "p", "run-1").unwrap();
        assert!(s.segments("job").unwrap().is_empty());
        assert_eq!(s.merged_run("job").unwrap().as_deref(), Some("run-1"));
        s.prune(10, Duration::from_secs(3600)).unwrap();
        assert_eq!(s.merged_run("job").unwrap().as_deref(), Some("run-1"));
        std::thread::sleep(Duration::from_millis(5));
        s.insert_running("run-2", "p", Trigger::Api, "h").unwrap();
        s.finish("run-2", Outcome::Passed, "{}").unwrap();
        s.prune(1, Duration::from_secs(3600)).unwrap();
        assert_eq!(s.merged_run("job").unwrap(), None, "pruned with its run");
    }

    #[test]
    fn a_backup_taken_while_the_store_is_held_restores_every_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        let copy = dir.path().join("backup.db");
        let (s, _) = Store::open(&path).unwrap();
        s.insert_running("r1", "p", Trigger::Api, "h").unwrap();
        s.finish("r1", Outcome::Passed, "{}").unwrap();
        // Online: the daemon (this store) holds the lock and keeps writing.
        backup(&path, &copy).unwrap();
        assert!(matches!(backup(&path, &copy), Err(CopyError::Exists(_))));
        s.insert_running("r2", "p", Trigger::Api, "h").unwrap();
        // A restore while the store is held is refused: one daemon per store.
        assert!(matches!(
            restore(&copy, &path),
            Err(CopyError::Store(StoreError::Locked { .. }))
        ));
        drop(s);
        let aside = restore(&copy, &path).unwrap().expect("the old store kept");
        assert!(aside.exists());
        let (s, _) = Store::open(&path).unwrap();
        assert_eq!(s.get("r1").unwrap().unwrap().status.as_str(), "passed");
        assert!(
            s.get("r2").unwrap().is_none(),
            "the backup's state, not the later one"
        );
        drop(s);
        // Anything else is refused by name.
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, "not a database at all, just text").unwrap();
        let e = restore(&junk, &path).unwrap_err().to_string();
        assert!(e.contains("junk.db"), "{e}");
    }

    #[test]
    fn an_index_out_of_step_with_its_table_is_rebuilt_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = healthy_store_with_a_run(dir.path());
        // Make the index disagree with its table: its definition says other columns than
        // its entries hold, the damage quick_check does not report.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA writable_schema = ON;
             UPDATE sqlite_master SET sql = 'CREATE INDEX runs_plan_started ON runs(started_at, plan)' WHERE name = 'runs_plan_started';
             PRAGMA writable_schema = OFF;",
        )
        .unwrap();
        drop(c);
        let c = Connection::open(&path).unwrap();
        let before: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        drop(c);
        let (s, _) = Store::open(&path).unwrap();
        let after: String = s
            .exec(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
            .unwrap();
        assert_ne!(before, "ok", "the probe damaged the index");
        assert_eq!(after, "ok", "was: {before}");
        assert_eq!(s.get("keep").unwrap().unwrap().status.as_str(), "passed");
    }
}
