//! `loadpacer store backup|restore`: a consistent copy of a store, and a checked way back.

use super::open::take_lock;
use super::*;

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
