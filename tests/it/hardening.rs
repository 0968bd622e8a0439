//! Faults found by probing the daemon from outside (issue 10), each reproduced on a real
//! `serve` process with a real SQLite store.

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A config with one on-demand plan against `target`, defaults everywhere else (30-s request
/// timeout, 10-s graceful_stop): the settings the probe used.
fn config(dir: &std::path::Path, target: &str) -> std::path::PathBuf {
    config_with(dir, "", target)
}

/// [`config`] with a `server:` block (e.g. `server: { token_env: … }`).
fn config_with(dir: &std::path::Path, server: &str, target: &str) -> std::path::PathBuf {
    let path = dir.join("loadpacer.yaml");
    std::fs::write(
        &path,
        format!(
            "{server}\nstore: {{ path: runs.db }}\ntargets:\n  t: {{ base_url: \"{target}\" }}\nplans:\n  on-demand:\n    target: t\n    load: {{ phases: [{{ duration: 60s, rate: 10 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}]\n"
        ),
    )
    .unwrap();
    path
}

/// The daemon's `/metrics` text.
async fn scrape(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Sends SIGTERM and waits for the process; returns its exit code and how long it took.
async fn terminate(mut d: support::Daemon) -> (Option<i32>, Duration) {
    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status()
        .unwrap();
    let code = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = d.child.try_wait().unwrap() {
                return s.code();
            }
            if Instant::now() > deadline {
                return None; // the Daemon guard kills it
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    (code, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_hanging_target_stores_the_partial_run_interrupted_within_10_s() {
    let hang = support::fault_server(support::Fault::Hang).await;
    let dir = tempfile::tempdir().unwrap();
    let d = support::serve(&config(dir.path(), &format!("http://{hang}")), &[]);
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/plans/on-demand/trigger", d.base))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let id = body["id"].as_str().expect("a run id").to_string();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, took) = terminate(d).await;
    assert_eq!(code, Some(0), "exit after {took:?}");
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    let (store, _) = loadpacer::store::Store::open(&dir.path().join("runs.db")).unwrap();
    let run = store.get(&id).unwrap().expect("the run is stored");
    assert_eq!(run.status.as_str(), "interrupted");
    let summary = run.summary.expect("with its summary");
    assert_eq!(summary["result"], "interrupted");
    // Nothing was answered; what was on the wire when the budget ran out is counted as
    // cancelled (10/s for about 2 s), never lost unmeasured.
    let requests = summary["totals"]["requests"].as_u64().unwrap();
    assert!(
        requests >= 15,
        "the in-flight requests are counted: {summary}"
    );
    assert_eq!(summary["totals"]["errors"].as_u64(), Some(requests));
    assert_eq!(
        summary["requests"][0]["errors"]["cancelled"].as_u64(),
        Some(requests),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stuck_in_its_request_headers_does_not_keep_the_daemon_alive() {
    let dir = tempfile::tempdir().unwrap();
    let d = support::serve(&config(dir.path(), "http://127.0.0.1:9"), &[]);
    let mut stuck = tokio::net::TcpStream::connect(&d.addr).await.unwrap();
    stuck
        .write_all(b"GET /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (code, took) = terminate(d).await;
    assert_eq!(code, Some(0), "exit after {took:?}");
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let d = support::serve(&config(dir.path(), "http://127.0.0.1:9"), &[]);
    let mut stuck = tokio::net::TcpStream::connect(&d.addr).await.unwrap();
    stuck.write_all(b"GET / HTTP/1.1\r\nHost: 1").await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stuck.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(read.is_ok(), "still connected after 20 s");
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "closed by the header-read timeout, not at once: {:?}",
        started.elapsed()
    );
    // The daemon still answers others.
    let r = reqwest::get(format!("{}/healthz", d.base)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_row_is_skipped_logged_and_counted_and_the_history_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.db");
    {
        let (store, _) = loadpacer::store::Store::open(&db).unwrap();
        store
            .insert_running("good-run", "on-demand", loadpacer::store::Trigger::Api, "h")
            .unwrap();
        store
            .finish("good-run", loadpacer::report::Outcome::Passed, "{}")
            .unwrap();
    }
    // Damage SQLite's quick_check does not see: a text column holding bytes that are not UTF-8.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO runs (id, plan, trigger, status, config_hash, started_at) VALUES ('bad-run', CAST(x'fffe' AS TEXT), 'api', 'passed', 'h', 2)",
            [],
        )
        .unwrap();
    let d = support::serve(&config(dir.path(), "http://127.0.0.1:9"), &[]);
    let r = reqwest::get(format!("{}/api/v1/runs", d.base))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let ids: Vec<&str> = body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["good-run"]);
    let metrics = scrape(&d.base).await;
    assert!(
        metrics.contains("loadpacer_store_unreadable_rows_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_guard_holds_with_a_token_set_and_allowed_hosts_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_with(
        dir.path(),
        "server: { token_env: LOADPACER_TEST_TOKEN, allowed_hosts: [loadpacer.internal, \"*.svc.cluster.local\"] }",
        "http://127.0.0.1:9",
    );
    let d = support::serve(&path, &[("LOADPACER_TEST_TOKEN", "t0k3n-secret")]);
    let port = d.addr.rsplit(':').next().unwrap().to_string();
    let client = reqwest::Client::new();
    let status = |host: String, path: &'static str| {
        let (client, base) = (client.clone(), d.base.clone());
        async move {
            let origin = format!("http://{host}");
            client
                .get(format!("{base}{path}"))
                .header("Host", &host)
                .header("Origin", origin)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // A DNS-rebinding page: its own name in Host, a matching Origin.
    for path in ["/api/v1/plans", "/api/v1/runs"] {
        assert_eq!(
            status(format!("evil.example:{port}"), path).await,
            403,
            "{path}"
        );
    }
    assert_eq!(
        status(format!("loadpacer.internal:{port}"), "/api/v1/plans").await,
        200
    );
    assert_eq!(
        status(format!("lp.mon.svc.cluster.local:{port}"), "/api/v1/runs").await,
        200
    );
    assert_eq!(
        status(format!("127.0.0.1:{port}"), "/api/v1/plans").await,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_error_is_json_and_unauthorized_requests_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_with(
        dir.path(),
        "server: { token_env: LOADPACER_TEST_TOKEN }",
        "http://127.0.0.1:9",
    );
    let d = support::serve(&path, &[("LOADPACER_TEST_TOKEN", "t0k3n-secret")]);
    let client = reqwest::Client::new();
    let cases = [
        // A known route with the wrong method (was 405 with an empty body).
        client.delete(format!("{}/api/v1/plans", d.base)),
        client.put(format!("{}/api/v1/runs/abc/cancel", d.base)),
        // The framework's own rejections (were text/plain).
        client.get(format!("{}/api/v1/runs?limit=abc", d.base)),
        // Without the token.
        client.post(format!("{}/api/v1/plans/on-demand/trigger", d.base)),
        client
            .post(format!("{}/api/v1/plans/on-demand/trigger", d.base))
            .bearer_auth("wrong"),
    ];
    let mut statuses = Vec::new();
    for req in cases {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = r.text().await.unwrap();
        assert!(
            content_type.starts_with("application/json"),
            "{status} {content_type}: {body}"
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{status}: {body}"
        );
        statuses.push(status);
    }
    assert_eq!(statuses, vec![405, 405, 400, 401, 401]);
    let metrics = scrape(&d.base).await;
    assert!(
        metrics.contains("loadpacer_api_unauthorized_requests_total 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_to_a_file_carry_no_colour_codes_and_a_quarantine_says_why() {
    use std::io::{BufRead, Read};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("runs.db"),
        b"not a database at all".repeat(100),
    )
    .unwrap();
    let path = config(dir.path(), "http://127.0.0.1:9");
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadpacer"))
        .args([
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("serving on"), "{line}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let _ = child.wait();
    assert!(log.contains("moved aside"), "{log}");
    assert!(log.contains("not a database"), "the reason is given: {log}");
    assert!(!log.contains('\u{1b}'), "no ANSI escape codes: {log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_calls_waiting_on_a_lock_do_not_stall_the_daemon() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let d = support::serve(&config(dir.path(), "http://127.0.0.1:9"), &[]);
    // Another process holds the store's write lock for 4 s: every write now waits.
    let mut holder = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys,time\nc=sqlite3.connect(sys.argv[1],isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\nc.execute('UPDATE runs SET plan=plan')\nprint('locked',flush=True)\ntime.sleep(4)",
        ])
        .arg(dir.path().join("runs.db"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    let client = reqwest::Client::new();
    // More waiting writes (a trigger stores the new run) than the daemon has runtime threads
    // (it runs one per core).
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (
                client.clone(),
                format!("{}/api/v1/plans/on-demand/trigger", d.base),
            );
            tokio::spawn(async move { client.post(url).send().await.map(|r| r.status()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let health = client
        .get(format!("{}/healthz", d.base))
        .timeout(Duration::from_secs(3))
        .send()
        .await;
    let took = started.elapsed();
    assert!(
        health.is_ok_and(|r| r.status().as_u16() == 200),
        "took {took:?}"
    );
    assert!(
        took < Duration::from_secs(1),
        "healthz waited {took:?} behind the store"
    );
    for w in waiting {
        let _ = w.await;
    }
    let _ = holder.wait();
}

/// A tmpfs of `size` mounted for the test (this suite runs as root, as CI does); unmounted
/// when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a small tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e6_a_full_disk_keeps_finished_runs_in_memory_until_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&dir.path().join("disk"), "1m");
    let t = support::demo_target(Default::default()).await;
    let path = dir.path().join("loadpacer.yaml");
    std::fs::write(
        &path,
        format!(
            "store: {{ path: \"{}\" }}\ntargets:\n  t: {{ base_url: \"{}\" }}\nplans:\n  on-demand:\n    target: t\n    load: {{ phases: [{{ duration: 3s, rate: 20 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}]\n",
            disk.0.join("runs.db").display(),
            t.url()
        ),
    )
    .unwrap();
    let d = support::serve(&path, &[]);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/api/v1/plans/on-demand/trigger", d.base))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let id = body["id"].as_str().expect("a run id").to_string();
    // While the run goes on, the disk fills up.
    let filler = disk.0.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", filler.display()))
        .output()
        .unwrap();
    let metric = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("loadpacer_store_write_errors_total "))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let get = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert!(
            Instant::now() < deadline,
            "the failed write was never counted"
        );
        if metric(&get(format!("{}/metrics", d.base)).await) >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The daemon keeps serving, and the run waits in memory.
    assert_eq!(
        reqwest::get(format!("{}/healthz", d.base))
            .await
            .unwrap()
            .status(),
        200
    );
    // Space returns: the run is written at the next retry (every 10 s).
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the kept run was never written");
        let run = get(format!("{}/api/v1/runs/{id}", d.base)).await;
        if run.contains("\"status\":\"passed\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(d);
    // The file was never corrupted.
    let check: String = rusqlite::Connection::open(disk.0.join("runs.db"))
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// H7: a second daemon on the same store (an overlapping restart, a second `compose up`) is
/// refused at start with the locked-store message; the first one's running run stays
/// running, and it keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h7_a_second_daemon_on_the_same_store_is_refused() {
    let t = support::demo_target(loadpacer::demo::DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &t.url());
    let first = support::serve(&cfg, &[]);
    let id = support::trigger(&first.base, "on-demand", None).await;
    let second = tokio::task::spawn_blocking({
        let cfg = cfg.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_loadpacer"))
                .args(["serve", "--config", cfg.to_str().unwrap()])
                .args(["--listen", "127.0.0.1:0"])
                .output()
                .unwrap()
        }
    });
    let second = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("the second daemon exits by itself")
        .unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{said}");
    assert!(said.contains("is locked by another process"), "{said}");
    let run = support::get_json(&format!("{}/api/v1/runs/{id}", first.base)).await;
    assert_eq!(run["status"], "running", "{run}");
}

/// Query parameters at their edges answer 400 with a JSON (or page) reason, never a panic:
/// a date whose next day has five digits, an unknown run status, a scale below the floor or
/// given twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_parameters_at_their_edges_are_refused_by_name() {
    let t = support::demo_target(loadpacer::demo::DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let d = support::serve(&config(dir.path(), &t.url()), &[]);
    let get = |path: &str| reqwest::get(format!("{}{path}", d.base));
    for (path, says) in [
        (
            "/plans/on-demand?to=9999-12-31",
            "from 1970-01-01 to 9999-12-30",
        ),
        (
            "/plans/on-demand?from=0001-01-01",
            "from 1970-01-01 to 9999-12-30",
        ),
        ("/api/v1/runs?status=bogus", "use one of running, passed"),
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let text = r.text().await.unwrap();
        assert!(text.contains(says), "{path}: {text}");
    }
    let ok = get("/plans/on-demand?to=9999-12-30").await.unwrap();
    assert_eq!(ok.status(), 200);
    // No page may be framed by another site (the live view's cancel form).
    for path in ["/", "/plans", "/api/v1/runs"] {
        let r = get(path).await.unwrap();
        assert_eq!(r.headers()["x-frame-options"], "DENY", "{path}");
        assert_eq!(
            r.headers()["content-security-policy"],
            "frame-ancestors 'none'",
            "{path}"
        );
    }
    let post = |q: &'static str| {
        reqwest::Client::new()
            .post(format!("{}/api/v1/plans/on-demand/trigger?{q}", d.base))
            .send()
    };
    for (q, says) in [
        ("scale=1e-320", "must be a number from 0.001 to 1000"),
        ("scale=1e-9", "must be a number from 0.001 to 1000"),
        ("scale=1&scale=5", "more than once"),
    ] {
        let r = post(q).await.unwrap();
        assert_eq!(r.status(), 400, "{q}");
        let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{q}: {body}"
        );
    }
}
