//! Shared test helpers: real loopback targets (the demo target and raw TCP fault servers),
//! config files in temp dirs, and running the real binary.
#![allow(dead_code)]

use loadpacer::demo::{self, DemoOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A demo target on 127.0.0.1:0; stops when the guard drops.
pub struct Target {
    pub addr: SocketAddr,
    _stop: tokio_util::sync::DropGuard,
}

impl Target {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub async fn demo_target(opts: DemoOptions) -> Target {
    let stop = CancellationToken::new();
    let (addr, _) = demo::start("127.0.0.1:0".parse().unwrap(), opts, stop.clone())
        .await
        .unwrap();
    Target {
        addr,
        _stop: stop.drop_guard(),
    }
}

/// What a raw fault server does with each connection.
#[derive(Clone, Copy)]
pub enum Fault {
    /// Sends bytes that are not HTTP.
    Garbage,
    /// Reads the request, then resets the connection (SO_LINGER 0).
    Reset,
    /// Accepts and never answers.
    Hang,
    /// Sends headers with a 10 MiB content-length and streams the body.
    Huge,
    /// Answers every request with a redirect to itself.
    RedirectLoop,
    /// Redirects to a host outside the allowlist (`blocked.example.com`, refused before any lookup, never contacted).
    RedirectOut,
    /// Answers the first request of each connection (keep-alive), then closes the connection
    /// when the next request arrives on it: a keep-alive close at the moment of reuse (C5).
    CloseAtReuse,
    /// Sends a valid head, then the body one byte every 100 ms (slowloris).
    Trickle,
    /// Accepts a WebSocket upgrade, then sends bytes that are no valid frame.
    WsGarbageFrames,
    /// Accepts a WebSocket upgrade, then sends a 1 MiB text message.
    WsHugeMessage,
    /// Answers as an event stream, then sends one line that never ends (1 MiB, no newline).
    SseEndlessLine,
}

/// The `101 Switching Protocols` answer to the upgrade request in `req`.
fn ws_accept(req: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(req);
    let key = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").into_bytes()
}

/// A raw TCP server on 127.0.0.1:0 that misbehaves; runs until the test's runtime ends.
pub async fn fault_server(fault: Fault) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                match fault {
                    Fault::WsGarbageFrames => {
                        let _ = s.write_all(&ws_accept(&buf[..n])).await;
                        // Reserved bits and an undefined opcode: no client may accept it.
                        let _ = s
                            .write_all(&[0xF3, 0x05, b'h', b'e', b'l', b'l', b'o'])
                            .await;
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    Fault::WsHugeMessage => {
                        let _ = s.write_all(&ws_accept(&buf[..n])).await;
                        let len: u64 = 1 << 20;
                        let mut head = vec![0x81, 127];
                        head.extend_from_slice(&len.to_be_bytes());
                        let _ = s.write_all(&head).await;
                        let _ = s.write_all(&vec![b'x'; len as usize]).await;
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    Fault::SseEndlessLine => {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: ok\n\ndata: ")
                            .await;
                        let _ = s.write_all(&vec![b'x'; 1 << 20]).await;
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    Fault::Garbage => {
                        let _ = s.write_all(b"SMTP READY\x00\x01 garbage\r\n\r\n").await;
                    }
                    Fault::Reset => {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                            .await;
                        let _ = s.set_zero_linger();
                        drop(s);
                        return;
                    }
                    Fault::Hang => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    Fault::RedirectLoop => loop {
                        let reply =
                            b"HTTP/1.1 302 Found\r\nlocation: /again\r\ncontent-length: 0\r\n\r\n";
                        if s.write_all(reply).await.is_err()
                            || matches!(s.read(&mut buf).await, Ok(0) | Err(_))
                        {
                            return;
                        }
                    },
                    Fault::CloseAtReuse => {
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if s.write_all(reply).await.is_err() {
                            return;
                        }
                        let _ = s.read(&mut buf).await;
                        return; // dropped unanswered
                    }
                    Fault::RedirectOut => {
                        let reply = b"HTTP/1.1 302 Found\r\nlocation: http://blocked.example.com/x\r\ncontent-length: 0\r\n\r\n";
                        let _ = s.write_all(reply).await;
                    }
                    Fault::Trickle => {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                            .await;
                        for _ in 0..1000 {
                            if s.write_all(b".").await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    Fault::Huge => {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                            .await;
                        let chunk = vec![b'x'; 65536];
                        for _ in 0..160 {
                            let head = format!("{:x}\r\n", chunk.len());
                            if s.write_all(head.as_bytes()).await.is_err()
                                || s.write_all(&chunk).await.is_err()
                                || s.write_all(b"\r\n").await.is_err()
                            {
                                return;
                            }
                        }
                        let _ = s.write_all(b"0\r\n\r\n").await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            });
        }
    });
    addr
}

/// Writes a config into a fresh temp dir and returns (dir guard, path).
pub fn write_config(yaml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.yaml");
    std::fs::write(&path, yaml).unwrap();
    (dir, path)
}

/// Runs the loadpacer binary with args.
pub fn loadpacer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadpacer"))
        .args(args)
        .output()
        .unwrap()
}

/// Path to a file under tests/fixtures.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Loads config text (relative paths resolved against `base_dir`), runs its first plan
/// in-process with `opts`, and judges it.
pub async fn run_plan(
    yaml: &str,
    base_dir: Option<&Path>,
    opts: loadpacer::run::RunOptions,
) -> loadpacer::report::Summary {
    run_observed(yaml, base_dir, opts, None).await
}

/// [`run_plan`] with the run published to `metrics` (live windows and the finished run), as
/// the daemon and `run --metrics-listen` do.
pub async fn run_observed(
    yaml: &str,
    base_dir: Option<&Path>,
    opts: loadpacer::run::RunOptions,
    metrics: Option<&loadpacer::metrics::Metrics>,
) -> loadpacer::report::Summary {
    use loadpacer::{config, report::console::Progress, run, session};
    let cfg =
        config::load_str(yaml, "test.yaml", base_dir, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let plan = cfg.plans[0].clone();
    if let Some(m) = metrics {
        m.set_plans(&cfg.plans);
    }
    let mut watchers = run::Both(
        Progress::new(true),
        metrics.map(|m| m.publisher(&plan.name)),
    );
    let opts = session::Options {
        run: opts,
        processes: cfg.host.processes.clone(),
        monitor_sink: metrics.map(|m| m.monitor_sink(&plan.name)),
        ..Default::default()
    };
    let judged = session::run(
        plan.clone(),
        &cfg.limits,
        &cfg.hash,
        &opts,
        &mut watchers,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    drop(watchers);
    if let Some(m) = metrics {
        m.run_finished(
            &plan.name,
            &judged.summary,
            &judged.output.total.merged_latency(),
        );
    }
    judged.summary
}

/// Every panel query of every bundled dashboard: (file, panel title, PromQL as written).
pub fn dashboard_queries() -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files {
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let mut panels: Vec<&serde_json::Value> = Vec::new();
        for p in d["panels"].as_array().unwrap() {
            panels.push(p);
            panels.extend(p["panels"].as_array().into_iter().flatten());
        }
        for p in panels {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((
                    name.clone(),
                    p["title"].as_str().unwrap_or("").to_string(),
                    t["expr"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
    }
    out
}

/// Replaces Grafana's variables so a query runs on Prometheus as it is.
pub fn substitute(expr: &str) -> String {
    let re = regex::Regex::new(r"\$\{?([a-zA-Z_]+)(:[a-z]+)?\}?").unwrap();
    re.replace_all(expr, |c: &regex::Captures| match &c[1] {
        "__rate_interval" | "__interval" | "__range" => "1m".to_string(),
        _ => ".*".to_string(),
    })
    .into_owned()
}

/// Runs headless Chromium (installed by scripts/test.sh) with the flags this machine needs;
/// `args` are the action, e.g. `--dump-dom URL`. Returns stdout.
pub fn chromium(args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("60")
        .arg("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("chromium is installed by scripts/test.sh");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running `loadpacer serve` process; killed when dropped.
pub struct Daemon {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve --config FILE` on a free loopback port with these environment variables.
pub fn serve(config: &Path, env: &[(&str, &str)]) -> Daemon {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadpacer"));
    cmd.args(["serve", "--config", config.to_str().unwrap()])
        .envs(env.iter().copied());
    serve_with(cmd)
}

/// Starts `cmd` (a `loadpacer serve …` command, e.g. `serve --demo` in a temp dir) on a free
/// loopback port and waits for the address it prints.
pub fn serve_with(mut cmd: Command) -> Daemon {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Daemon {
        child,
        base: format!("http://{addr}"),
        addr,
    }
}

/// Writes `yaml` to a temp dir, runs `loadpacer run FILE -q --out DIR` (plus `extra` args)
/// and returns the process output, the parsed summary.json, and the dir (kept alive).
pub async fn run_to_summary(
    yaml: &str,
    extra: &[&str],
) -> (Output, serde_json::Value, tempfile::TempDir) {
    let (dir, plan) = write_config(yaml);
    let out_dir = dir.path().join("out");
    let mut args: Vec<String> = vec![
        "run".into(),
        plan.display().to_string(),
        "-q".into(),
        "--out".into(),
        out_dir.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loadpacer"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = std::fs::read_to_string(out_dir.join("summary.json")).unwrap_or_else(|e| {
        panic!(
            "no summary.json ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, serde_json::from_str(&text).unwrap(), dir)
}

/// Runs an external checker (promtool, hadolint, …) in the project folder and fails the test
/// with its output when it does not succeed.
/// `promtool check metrics` on an exposition text: fails the test with promtool's words.
pub fn promtool_check_metrics(text: &str) {
    use std::io::Write;
    use std::process::Stdio;
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .expect("promtool is installed by scripts/test.sh");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn tool_ok(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("{cmd} is installed by scripts/test.sh: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A child process killed when dropped.
pub struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real Prometheus on 127.0.0.1:0 with the bundled rules, scraping each `(job, address)`
/// every second; returns the guard and its address.
pub fn prometheus(dir: &std::path::Path, jobs: &[(&str, &str)]) -> (Killed, String) {
    use std::process::{Command, Stdio};
    use std::time::Instant;
    let scrape: String = jobs
        .iter()
        .map(|(job, target)| {
            format!("  - job_name: {job}\n    static_configs: [{{ targets: [\"{target}\"] }}]\n")
        })
        .collect();
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/loadpacer.rules.yml");
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\nrule_files: [\"{}\"]\nscrape_configs:\n{scrape}",
            rules.display()
        ),
    )
    .unwrap();
    let log = dir.join("prometheus.log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg("--web.listen-address=127.0.0.1:0")
        .arg("--web.enable-remote-write-receiver")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("prometheus is installed by scripts/test.sh");
    let child = Killed(child);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .find(|l| l.contains("msg=\"Listening on\""))
            .and_then(|l| l.split("address=").nth(1))
        {
            return (child, addr.trim().to_string());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "prometheus did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// A Prometheus HTTP API call (`query`, `alerts`, …) as JSON.
pub async fn prometheus_api(prom: &str, path: &str, query: &str) -> serde_json::Value {
    let url = format!("http://{prom}/api/v1/{path}");
    let r = reqwest::Client::new()
        .get(url)
        .query(&[("query", query)])
        .send()
        .await
        .unwrap();
    serde_json::from_str(&r.text().await.unwrap()).unwrap_or_default()
}

/// Checks a summary (as written to summary.json) against `schemas/summary.v1.json` with the
/// real JSON Schema validator.
pub fn check_summary_schema(summary: &impl serde::Serialize) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("summary.json");
    std::fs::write(&file, serde_json::to_string(summary).unwrap()).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/summary.v1.json");
    tool_ok(
        "check-jsonschema",
        &[
            "--schemafile",
            schema.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
}

/// A loopback address nothing listens on (bound, then closed): connecting is refused.
pub fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// GETs `url` and parses the body as JSON (`Null` when it is not JSON).
/// `POST /api/v1/plans/{plan}/trigger` on a daemon (with the bearer token when given); the
/// new run's id.
pub async fn trigger(base: &str, plan: &str, token: Option<&str>) -> String {
    let mut req = reqwest::Client::new().post(format!("{base}/api/v1/plans/{plan}/trigger"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let text = req.send().await.unwrap().text().await.unwrap();
    let started: loadpacer::api::types::Started =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a started run ({e}): {text}"));
    started.id
}

/// Waits (at most 20 s) until run `id` is no longer running; its API record (read as the
/// API's `Run`, returned as JSON for the tests to look into its summary).
pub async fn wait_stored(base: &str, id: &str) -> serde_json::Value {
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let json = get_json(&format!("{base}/api/v1/runs/{id}")).await;
        let run: loadpacer::api::types::Run = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("not a run record ({e}): {json}"));
        if run.outcome().is_some() {
            return json;
        }
    }
    panic!("run {id} not stored within 20 s");
}

pub async fn get_text(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

pub async fn get_json(url: &str) -> serde_json::Value {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_default()
}

/// Sends SIGINT (Ctrl-C) to a running `loadpacer` after `after`, and waits for its output.
pub async fn interrupt_after(child: std::process::Child, after: Duration) -> Output {
    tokio::time::sleep(after).await;
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

/// A histogram for a segment's summary that claims a 64 MiB payload of counts and inflates
/// to it from a few KB (the probe of the hardening issue): base64 of HdrHistogram's deflated
/// V2 form.
pub fn histogram_bomb() -> String {
    use base64::Engine;
    use std::io::Write;
    let payload: u32 = 64 << 20;
    let mut plain = (0x1c84_9303u32 | 0x10).to_be_bytes().to_vec();
    plain.extend(payload.to_be_bytes());
    plain.extend(0u32.to_be_bytes());
    plain.extend(3u32.to_be_bytes());
    plain.extend(1u64.to_be_bytes());
    plain.extend((1u64 << 40).to_be_bytes());
    plain.extend(1.0f64.to_be_bytes());
    plain.resize(plain.len() + payload as usize, 0);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&plain).unwrap();
    let body = z.finish().unwrap();
    let mut out = (0x1c84_9304u32 | 0x10).to_be_bytes().to_vec();
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(body);
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// A loopback target that answers 200 to anything and keeps every path and query it was sent.
pub async fn recording_target() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let kept = kept.clone();
        async move {
            kept.lock().unwrap().push(uri.to_string());
            "ok"
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}
