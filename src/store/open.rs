//! Opening a store: its lock, its schema (created or migrated in one transaction), the
//! integrity check, and the quarantine of a file SQLite proves damaged.

use super::*;

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

/// Version 1: the runs.
pub(super) const RUNS_TABLE: &str = "CREATE TABLE runs (
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
pub(super) fn lock_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Takes the store's lock for the life of the returned file, or says who holds it.
pub(super) fn take_lock(path: &Path) -> Result<std::fs::File, StoreError> {
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
}

/// Moves a damaged store aside with its `-wal` and `-shm` (they belong to it), under a name
/// no earlier quarantine took.
pub(super) fn quarantine(path: &Path, stamp: i64) -> std::io::Result<PathBuf> {
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
