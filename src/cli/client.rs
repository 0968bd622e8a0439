//! The daemon's API from the command line: `runs`, `trigger [--wait]`, `cancel`, `reload`.
//! Readable tables by default, the API's JSON with `--json`; one clear line and a distinct
//! exit code when the daemon cannot be reached, refuses the token, or knows no such plan or
//! run.

use anyhow::Result;
use clap::Args;
use loadpacer::api::types::{Cancelling, ErrorBody, Reloaded, Run, RunPage, Started};
use loadpacer::report::{Outcome, Summary};
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

/// An answer that is not a success: the line to print, the exit code, and the HTTP status
/// when the daemon answered at all.
pub(crate) struct Failure {
    pub line: String,
    pub code: u8,
    pub status: Option<u16>,
}

impl Failure {
    fn new(line: String, code: u8, status: Option<u16>) -> Self {
        Failure { line, code, status }
    }

    /// Worth trying again: the daemon was not reached or failed on its side (5xx).
    pub fn transient(&self) -> bool {
        self.status.is_none_or(|s| s >= 500)
    }
}

/// The one HTTP client of the daemon's API (`runs`, `trigger`, `cancel`, `reload`, and
/// `run --report-to`): the token from its environment variable, bounded answers read into
/// the API's own types (`loadpacer::api::types`).
pub(crate) struct DaemonClient {
    server: String,
    token: Option<String>,
    token_env: String,
    http: reqwest::Client,
}

impl DaemonClient {
    /// A client of the daemon at `server`, with the token held in `token_env` (if set).
    pub fn new(server: &str, token_env: &str) -> std::result::Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Failure::new(format!("error: {e}"), EXIT_UNREACHABLE, None))?;
        Ok(DaemonClient {
            server: server.trim_end_matches('/').to_string(),
            token: std::env::var(token_env).ok(),
            token_env: token_env.to_string(),
            http,
        })
    }

    /// The daemon's address as it may be shown (credentials redacted, terminal-safe).
    pub fn shown(&self) -> String {
        safe(&loadpacer::metrics::remote_write::shown_url(&self.server))
    }

    /// Sends a request (with a JSON body when given); the success's answer as `T`, or the
    /// line to print and the exit code.
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> std::result::Result<T, Failure> {
        let mut req = self.http.request(method, format!("{}{path}", self.server));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let resp = req.send().await.map_err(|e| {
            Failure::new(
                format!(
                    "error: cannot reach the daemon at {}: {}; is `loadpacer serve` running there? (set --server or LOADPACER_SERVER)",
                    self.shown(),
                    root_cause(&e)
                ),
                EXIT_UNREACHABLE,
                None,
            )
        })?;
        let status = resp.status();
        let body = read_json(resp).await;
        let not_api = |why: String| {
            Failure::new(
                format!(
                    "error: {} answered {status} with {why}; is --server (or LOADPACER_SERVER) a loadpacer daemon?",
                    self.shown()
                ),
                EXIT_UNREACHABLE,
                Some(status.as_u16()),
            )
        };
        if status.is_success() {
            let body = body.map_err(not_api)?;
            return serde_json::from_value(body)
                .map_err(|e| not_api(format!("JSON that is not the API's answer ({e})")));
        }
        let said = body
            .ok()
            .and_then(|b| serde_json::from_value::<ErrorBody>(b).ok())
            .map_or_else(|| "no reason given".to_string(), |b| safe(&b.error));
        let code = match status.as_u16() {
            401 => EXIT_UNAUTHORIZED,
            404 => EXIT_NOT_FOUND,
            _ => EXIT_REFUSED,
        };
        let line = match code {
            EXIT_UNAUTHORIZED => format!(
                "error: the daemon refused the token ({status}: {said}); export it in {} (or name another variable with --token-env)",
                self.token_env
            ),
            EXIT_NOT_FOUND => format!("error: {said}"),
            _ => format!("error: {status}: {said}"),
        };
        Err(Failure::new(line, code, Some(status.as_u16())))
    }
}

impl Daemon {
    fn client(&self) -> std::result::Result<DaemonClient, Failure> {
        DaemonClient::new(&self.server, &self.token_env)
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> std::result::Result<T, Failure> {
        self.client()?.call(method, path, None).await
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
    eprintln!("{}", f.line);
    f.code
}

pub(crate) async fn runs(a: RunsArgs) -> Result<u8> {
    let mut query = vec![format!("limit={}", a.limit.clamp(1, 500))];
    query.extend(a.plan.as_ref().map(|p| format!("plan={}", encode(p))));
    query.extend(a.status.as_ref().map(|s| format!("status={}", encode(s))));
    let page: RunPage = match a
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
        println!("{}", serde_json::to_string_pretty(&page.runs)?);
        return Ok(0);
    }
    if page.runs.is_empty() {
        println!("no runs");
        return Ok(0);
    }
    println!(
        "{:<36}  {:<20}  {:<11}  {:<9}  {:<24}  {:>9}",
        "ID", "PLAN", "STATUS", "TRIGGER", "STARTED", "DURATION"
    );
    for r in &page.runs {
        println!(
            "{:<36}  {:<20}  {:<11}  {:<9}  {:<24}  {:>9}",
            safe(&r.id),
            safe(&r.plan),
            r.status,
            r.trigger,
            safe(r.started_at.as_deref().unwrap_or("-")),
            r.duration_s()
                .map_or_else(|| "-".into(), |d| format!("{d:.1} s"))
        );
    }
    Ok(0)
}

pub(crate) async fn trigger(a: TriggerArgs) -> Result<u8> {
    let mut path = format!("/api/v1/plans/{}/trigger", encode(&a.plan));
    if let Some(f) = a.scale {
        path.push_str(&format!("?scale={f}"));
    }
    let started: Started = match a.daemon.call(reqwest::Method::POST, &path).await {
        Ok(b) => b,
        Err(f) => return Ok(fail(f)),
    };
    let id = safe(&started.id);
    if !loadpacer::api::valid_id(&started.id) {
        eprintln!("error: the daemon answered without a run id: {id:?}");
        return Ok(EXIT_UNREACHABLE);
    }
    if !a.wait {
        if a.daemon.json {
            println!("{}", serde_json::to_string(&started)?);
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
        let planned = started.duration_s.unwrap_or(7200.0).clamp(0.0, 1e7);
        Duration::from_secs_f64(planned) + Duration::from_secs(600)
    });
    let deadline = Instant::now() + wait;
    let (run, outcome) = loop {
        match a
            .daemon
            .call::<Run>(reqwest::Method::GET, &format!("/api/v1/runs/{id}"))
            .await
        {
            Ok(r) => {
                if let Some(o) = r.outcome() {
                    break (r, o);
                }
            }
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
    if a.daemon.json {
        println!("{}", serde_json::to_string_pretty(&run)?);
    } else {
        print_verdict(&id, &a.plan, &run, outcome);
    }
    // The verdict's own exit code.
    Ok(outcome.exit_code() as u8)
}

/// A finished run in one line and its reasons.
fn print_verdict(id: &str, plan: &str, run: &Run, outcome: Outcome) {
    let summary = run
        .summary
        .clone()
        .and_then(|s| serde_json::from_value::<Summary>(s).ok());
    let figures = summary.as_ref().map_or_else(String::new, |s| {
        format!(
            "  requests {}  p95 {:.1} ms  errors {:.2} %",
            s.totals.requests,
            s.totals.latency.p95_ms,
            s.totals.error_rate * 100.0
        )
    });
    println!(
        "run {id} of {}: {}{figures}",
        safe(plan),
        outcome.as_str().to_uppercase()
    );
    let reasons = match (&summary, &run.summary) {
        (Some(s), _) => s.reasons.clone(),
        (None, Some(other)) => serde_json::from_value::<ErrorBody>(other.clone())
            .map(|e| vec![e.error])
            .unwrap_or_default(),
        (None, None) => Vec::new(),
    };
    for r in reasons {
        println!("  {}", safe(&r));
    }
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
        Ok(b) if a.daemon.json => println!("{}", serde_json::to_string::<Cancelling>(&b)?),
        Ok(_) => println!("cancelling run {}", a.run),
        Err(f) => return Ok(fail(f)),
    }
    Ok(0)
}

pub(crate) async fn reload(a: ReloadArgs) -> Result<u8> {
    match a.daemon.call(reqwest::Method::POST, "/-/reload").await {
        Ok(b) if a.daemon.json => println!("{}", serde_json::to_string::<Reloaded>(&b)?),
        Ok(b) => println!("reloaded: {} plan(s)", b.plans),
        Err(f) => return Ok(fail(f)),
    }
    Ok(0)
}

/// Percent-encodes a path segment or query value.
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
