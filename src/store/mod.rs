//! Run history in SQLite (WAL). One row per run; the summary JSON is stored whole.
//!
//! Opening never loses the daemon: a file that fails `quick_check` or has a newer schema is
//! moved aside (`<name>.corrupt-<unix time>`) and a fresh store is created; runs left
//! `running` by a crash are marked `aborted`.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SCHEMA_VERSION: i64 = 1;

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
}

/// One run as listed.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub plan: String,
    /// `schedule`, `api` or `startup`.
    pub trigger: String,
    /// `running`, `passed`, `failed`, `aborted`, `interrupted`, `invalid` or `error`.
    pub status: String,
    pub config_hash: String,
    /// Unix milliseconds.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<serde_json::Value>,
}

/// What opening found.
#[derive(Debug, Default)]
pub struct OpenReport {
    /// Where a damaged file was moved.
    pub quarantined: Option<PathBuf>,
    /// Runs marked `aborted` because the previous process died while they ran.
    pub orphans_aborted: usize,
}

/// The run store.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

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
    /// Opens (or creates) the store, quarantining a damaged file.
    pub fn open(path: &Path) -> Result<(Store, OpenReport), StoreError> {
        let mut report = OpenReport::default();
        let conn = match Self::open_checked(path) {
            Ok(c) => c,
            Err(_) if path.exists() => {
                let aside = path.with_extension(format!("corrupt-{}", now_ms() / 1000));
                std::fs::rename(path, &aside).map_err(|source| StoreError::Quarantine {
                    path: path.display().to_string(),
                    source,
                })?;
                for ext in ["db-wal", "db-shm"] {
                    let _ = std::fs::remove_file(path.with_extension(ext));
                }
                report.quarantined = Some(aside);
                Self::open_checked(path).map_err(|source| StoreError::Sqlite {
                    path: path.display().to_string(),
                    source,
                })?
            }
            Err(source) => {
                return Err(StoreError::Sqlite {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let store = Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        };
        report.orphans_aborted = store.exec(|c| {
            c.execute(
                "UPDATE runs SET status = 'aborted', finished_at = ?1 WHERE status = 'running'",
                params![now_ms()],
            )
        })?;
        Ok((store, report))
    }

    fn open_checked(path: &Path) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(rusqlite::Error::InvalidQuery);
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        match version {
            0 => {
                conn.execute_batch(
                    "CREATE TABLE runs (
                        id TEXT PRIMARY KEY,
                        plan TEXT NOT NULL,
                        trigger TEXT NOT NULL,
                        status TEXT NOT NULL,
                        config_hash TEXT NOT NULL,
                        started_at INTEGER NOT NULL,
                        finished_at INTEGER,
                        summary TEXT
                    );
                    CREATE INDEX runs_plan_started ON runs(plan, started_at);
                    PRAGMA user_version = 1;",
                )?;
            }
            SCHEMA_VERSION => {}
            _ => return Err(rusqlite::Error::InvalidQuery),
        }
        Ok(conn)
    }

    fn exec<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(|source| StoreError::Sqlite {
            path: self.path.display().to_string(),
            source,
        })
    }

    /// Records a run that has just started.
    pub fn insert_running(
        &self,
        id: &str,
        plan: &str,
        trigger: &str,
        config_hash: &str,
    ) -> Result<(), StoreError> {
        self.exec(|c| c.execute("INSERT INTO runs (id, plan, trigger, status, config_hash, started_at) VALUES (?1, ?2, ?3, 'running', ?4, ?5)", params![id, plan, trigger, config_hash, now_ms()]))
            .map(|_| ())
    }

    /// Records a finished run with its summary.
    pub fn finish(&self, id: &str, status: &str, summary_json: &str) -> Result<(), StoreError> {
        self.exec(|c| {
            c.execute(
                "UPDATE runs SET status = ?2, finished_at = ?3, summary = ?4 WHERE id = ?1",
                params![id, status, now_ms(), summary_json],
            )
        })
        .map(|_| ())
    }

    /// Runs, newest first, optionally filtered.
    pub fn list(
        &self,
        plan: Option<&str>,
        status: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.exec(|c| {
            let mut st = c.prepare(
                "SELECT id, plan, trigger, status, config_hash, started_at, finished_at FROM runs
                 WHERE (?1 IS NULL OR plan = ?1) AND (?2 IS NULL OR status = ?2)
                 ORDER BY started_at DESC, id DESC LIMIT ?3 OFFSET ?4",
            )?;
            let rows = st.query_map(params![plan, status, limit, offset], record)?;
            rows.collect()
        })
    }

    /// One run with its summary.
    pub fn get(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.exec(|c| {
            c.query_row("SELECT id, plan, trigger, status, config_hash, started_at, finished_at, summary FROM runs WHERE id = ?1", params![id], |r| {
                let summary: Option<String> = r.get(7)?;
                Ok(RunRecord { summary: summary.and_then(|s| serde_json::from_str(&s).ok()), ..record(r)? })
            })
            .optional()
        })
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
            c.execute(
                "DELETE FROM runs WHERE status != 'running' AND (started_at < ?1 OR id IN (
                    SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY plan ORDER BY started_at DESC) AS n FROM runs) WHERE n > ?2))",
                params![cutoff, keep as i64],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e3_orphaned_running_rows_become_aborted_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        let (s, _) = Store::open(&path).unwrap();
        s.insert_running("a", "p", "schedule", "h").unwrap();
        s.insert_running("b", "p", "api", "h").unwrap();
        s.finish("b", "passed", "{\"x\":1}").unwrap();
        drop(s);
        let (s, report) = Store::open(&path).unwrap();
        assert_eq!(report.orphans_aborted, 1);
        assert_eq!(s.get("a").unwrap().unwrap().status, "aborted");
        let b = s.get("b").unwrap().unwrap();
        assert_eq!(
            (b.status.as_str(), b.summary.unwrap()["x"].as_i64()),
            ("passed", Some(1))
        );
        assert_eq!(s.list(Some("p"), Some("passed"), 10, 0).unwrap().len(), 1);
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
        let aside = report.quarantined.expect("quarantined");
        assert!(aside.exists());
        assert!(s.list(None, None, 10, 0).unwrap().is_empty());
    }

    #[test]
    fn e8_retention_keeps_the_newest_runs_per_plan() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Store::open(&dir.path().join("runs.db")).unwrap();
        for i in 0..10 {
            s.insert_running(&format!("r{i}"), "p", "schedule", "h")
                .unwrap();
            s.finish(&format!("r{i}"), "passed", "{}").unwrap();
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
}
