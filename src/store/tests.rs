//! The store against real SQLite files in temporary folders.

use super::open::{quarantine, RUNS_TABLE};
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
