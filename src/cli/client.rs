//! The daemon's API from the command line: `runs`, `trigger [--wait]`, `cancel`, `reload`.
//! Readable tables by default, the API's JSON with `--json`; one clear line and a distinct
//! exit code when the daemon cannot be reached, refuses the token, or knows no such plan or
//! run.

use anyhow::Result;
use clap::Args;
use std::time::{Duration, Instant};

/// The daemon cannot be reached.
pub(crate) const EXIT_UNREACHABLE: u8 = 4;
/// The daemon refused the token (missing or wrong).
pub(crate) const EXIT_UNAUTHORIZED: u8 = 5;
/// No such plan or run.
pub(crate) const EXIT_NOT_FOUND: u8 = 6;
/// The daemon refused the request for another reason (an overlap, its limits, bad input).
pub(crate) const EXIT_REFUSED: u8 = 7;

/// Where the daemon is and how to talk to it.
#[derive(Args, Clone)]
pub(crate) struct Daemon {
    /// The daemon's address.
    #[arg(
        long,
        env = "LOADPACER_SERVER",
        default_value = "http://127.0.0.1:9464"
    )]
    server: String,
    /// The environment variable holding the API token (for trigger, cancel and reload).
    #[arg(long, default_value = "LOADPACER_TOKEN")]
    token_env: String,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct RunsArgs {
    /// Only this plan's runs.
    #[arg(long)]
    plan: Option<String>,
    /// Only runs with this status: running, passed, failed, aborted, interrupted, invalid, error.
    #[arg(long)]
    status: Option<String>,
    /// How many, newest first (1-500).
    #[arg(long, default_value_t = 20)]
    limit: u32,
    #[command(flatten)]
    daemon: Daemon,
}

#[derive(Args)]
pub(crate) struct TriggerArgs {
    /// The plan to run now.
    plan: String,
    /// Multiply every rate and VU count by F (within the daemon's limits).
    #[arg(long, value_name = "F")]
    scale: Option<f64>,
    /// Wait for the run to end, print its figures, and exit with its verdict (0 passed,
    /// 1 failed or aborted, 3 invalid, 130 interrupted).
    #[arg(long)]
    wait: bool,
    /// With --wait: give up waiting after this long (the run goes on); by default the
    /// plan's scheduled length plus 10 minutes (setup, graceful stop, teardown).
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    #[command(flatten)]
    daemon: Daemon,
}

#[derive(Args)]
pub(crate) struct CancelArgs {
    /// The run's id (from `loadpacer runs`).
    run: String,
    #[command(flatten)]
    daemon: Daemon,
}

#[derive(Args)]
pub(crate) struct ReloadArgs {
    #[command(flatten)]
    daemon: Daemon,
}

/// An answer that is not a success, as one line and an exit code.
struct Failure(String, u8);

impl Daemon {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }

    /// Sends a request; a success's JSON, or the line to print and the exit code.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> std::result::Result<serde_json::Value, Failure> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Failure(format!("error: {e}"), EXIT_UNREACHABLE))?;
        let mut req = client.request(method.clone(), self.url(path));
        if let Ok(token) = std::env::var(&self.token_env) {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| {
            Failure(
                format!(
                    "error: cannot reach the daemon at {}: {}; is `loadpacer serve` running there? (set --server or LOADPACER_SERVER)",
                    safe(&loadpacer::metrics::remote_write::shown_url(&self.server)),
                    root_cause(&e)
                ),
                EXIT_UNREACHABLE,
            )
        })?;
        let status = resp.status();
        let body = read_json(resp).await;
        let body = match (body, status.is_success()) {
            (Ok(b), true) => return Ok(b),
            (Ok(b), false) => b,
            (Err(why), true) => {
                return Err(Failure(
                    format!(
                        "error: {} answered {status} with {why}; is --server (or LOADPACER_SERVER) a loadpacer daemon?",
                        safe(&loadpacer::metrics::remote_write::shown_url(&self.server))
                    ),
                    EXIT_UNREACHABLE,
                ))
            }
            (Err(_), false) => serde_json::Value::Null,
        };
        let said = safe(body["error"].as_str().unwrap_or("no reason given"));
        Err(match status.as_u16() {
            401 => Failure(
                format!(
                    "error: the daemon refused the token ({said}); export it in {} (or name another variable with --token-env)",
                    self.token_env
                ),
                EXIT_UNAUTHORIZED,
            ),
            404 => Failure(format!("error: {said}"), EXIT_NOT_FOUND),
            _ => Failure(format!("error: {status}: {said}"), EXIT_REFUSED),
        })
    }
}

/// The most of a daemon's answer the client reads (a page of 500 runs with summaries fits).
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// A response body as JSON, read through [`MAX_ANSWER_BYTES`] (H4): what is not JSON, or
/// more than that, is an error, never an empty answer.
async fn read_json(mut resp: reqwest::Response) -> std::result::Result<serde_json::Value, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("a broken body ({e})"))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!("more than {MAX_ANSWER_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|_| {
        let kind = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type");
        format!("something that is not JSON ({})", safe(kind))
    })
}

/// Server-supplied text as it may reach a terminal: control characters (escape sequences
/// that set the title or clear the screen) are shown escaped, never sent (H5).
pub(crate) fn safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// Prints the failure and returns its exit code.
fn fail(f: Failure) -> u8 {
    eprintln!("{}", f.0);
    f.1
}

pub(crate) async fn runs(a: RunsArgs) -> Result<u8> {
    let mut query = vec![format!("limit={}", a.limit.clamp(1, 500))];
    query.extend(a.plan.as_ref().map(|p| format!("plan={}", encode(p))));
    query.extend(a.status.as_ref().map(|s| format!("status={}", encode(s))));
    let body = match a
        .daemon
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/runs?{}", query.join("&")),
        )
        .await
    {
        Ok(b) => b,
        Err(f) => return Ok(fail(f)),
    };
    if a.daemon.json {
        println!("{}", serde_json::to_string_pretty(&body["runs"])?);
        return Ok(0);
    }
    let runs = body["runs"].as_array().cloned().unwrap_or_default();
    if runs.is_empty() {
        println!("no runs");
        return Ok(0);
    }
    println!(
        "{:<36}  {:<20}  {:<11}  {:<9}  {:<24}  {:>9}",
        "ID", "PLAN", "STATUS", "TRIGGER", "STARTED", "DURATION"
    );
    for r in &runs {
        let duration = match (r["started_at_ms"].as_i64(), r["finished_at_ms"].as_i64()) {
            (Some(s), Some(f)) => format!("{:.1} s", (f - s) as f64 / 1000.0),
            _ => "-".into(),
        };
        println!(
            "{:<36}  {:<20}  {:<11}  {:<9}  {:<24}  {:>9}",
            text(&r["id"]),
            text(&r["plan"]),
            text(&r["status"]),
            text(&r["trigger"]),
            text(&r["started_at"]),
            duration
        );
    }
    Ok(0)
}

pub(crate) async fn trigger(a: TriggerArgs) -> Result<u8> {
    let mut path = format!("/api/v1/plans/{}/trigger", encode(&a.plan));
    if let Some(f) = a.scale {
        path.push_str(&format!("?scale={f}"));
    }
    let started = match a.daemon.call(reqwest::Method::POST, &path).await {
        Ok(b) => b,
        Err(f) => return Ok(fail(f)),
    };
    let id = text(&started["id"]);
    if !loadpacer::api::valid_id(&id) {
        eprintln!(
            "error: the daemon answered without a run id: {}",
            safe(&started.to_string())
        );
        return Ok(EXIT_UNREACHABLE);
    }
    if !a.wait {
        if a.daemon.json {
            println!("{started}");
        } else {
            println!("started run {id} of {}", safe(&a.plan));
        }
        return Ok(0);
    }
    eprintln!(
        "started run {id} of {}; waiting for it to end",
        safe(&a.plan)
    );
    let wait = a.timeout.unwrap_or_else(|| {
        let planned = started["duration_s"]
            .as_f64()
            .unwrap_or(7200.0)
            .clamp(0.0, 1e7);
        Duration::from_secs_f64(planned) + Duration::from_secs(600)
    });
    let deadline = Instant::now() + wait;
    let run = loop {
        match a
            .daemon
            .call(reqwest::Method::GET, &format!("/api/v1/runs/{id}"))
            .await
        {
            Ok(r) if r["status"] != "running" => break r,
            Ok(_) => {}
            Err(f) => return Ok(fail(f)),
        }
        if Instant::now() > deadline {
            eprintln!(
                "error: run {id} was still running after {}; it goes on (loadpacer cancel {id} stops it)",
                humantime::format_duration(Duration::from_secs(wait.as_secs()))
            );
            return Ok(EXIT_REFUSED);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let status = text(&run["status"]);
    if a.daemon.json {
        println!("{}", serde_json::to_string_pretty(&run)?);
    } else {
        let s = &run["summary"];
        let t = &s["totals"];
        println!(
            "run {id} of {}: {}  requests {}  p95 {} ms  errors {:.2} %",
            safe(&a.plan),
            status.to_uppercase(),
            t["requests"],
            t["latency"]["p95_ms"],
            t["error_rate"].as_f64().unwrap_or(0.0) * 100.0
        );
        for r in s["reasons"].as_array().into_iter().flatten() {
            println!("  {}", text(r));
        }
    }
    // The verdict's own exit code; a status the client does not know fails.
    Ok(loadpacer::report::Outcome::from_status(&status).map_or(1, |o| o.exit_code() as u8))
}

pub(crate) async fn cancel(a: CancelArgs) -> Result<u8> {
    if !loadpacer::api::valid_id(&a.run) {
        eprintln!(
            "error: no run {:?}: run ids are UUIDs (see `loadpacer runs`)",
            safe(&loadpacer::config::clip(&a.run))
        );
        return Ok(EXIT_NOT_FOUND);
    }
    match a
        .daemon
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/runs/{}/cancel", encode(&a.run)),
        )
        .await
    {
        Ok(b) if a.daemon.json => println!("{b}"),
        Ok(_) => println!("cancelling run {}", a.run),
        Err(f) => return Ok(fail(f)),
    }
    Ok(0)
}

pub(crate) async fn reload(a: ReloadArgs) -> Result<u8> {
    match a.daemon.call(reqwest::Method::POST, "/-/reload").await {
        Ok(b) if a.daemon.json => println!("{b}"),
        Ok(b) => println!("reloaded: {} plan(s)", b["plans"]),
        Err(f) => return Ok(fail(f)),
    }
    Ok(0)
}

/// A JSON string without its quotes (anything else as JSON), safe for a terminal.
fn text(v: &serde_json::Value) -> String {
    safe(&v.as_str().map_or_else(|| v.to_string(), str::to_string))
}

/// Percent-encodes a path segment or query value.
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
