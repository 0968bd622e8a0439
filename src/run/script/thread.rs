//! One engine thread: its VUs, its HTTP client, and the loop that drives an iteration from
//! one wait of its script to the next.

use super::{Job, Msg, Shared};
use crate::config::{TargetSpec, Transport};
use crate::measure::{ErrorKind, Sample};
use crate::run::http::{Client, ConnSlot, Dest, Failure, Keep, Outgoing};
use crate::run::vu::lock;
use crate::script::{Event, Exec, HttpCall, HttpReply, Op, Reply, Vu};
use crate::sync::LockExt;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::warn;

/// `http://` origins an engine thread sends to on VU connections; others use the pool.
const DIRECT_ORIGINS: usize = 16;

/// How often an iteration's exception is logged at most (the rest are counted).
const LOG_EVERY: Duration = Duration::from_secs(5);

struct Engine {
    shared: Arc<Shared>,
    /// `console.*` lines of this thread's VUs, rate-limited.
    console: RefCell<Console>,
    /// Any URL the allowlist admits: a shared keep-alive pool.
    client: Client,
    /// Per `http://` origin, a transport on the VU's own connection: the lowest overhead
    /// (what `transport: direct` does for step plans). A VU keeps one such connection, to
    /// the origin it last used; at most [`DIRECT_ORIGINS`] origins.
    direct: RefCell<HashMap<String, Rc<Client>>>,
    vus: RefCell<HashMap<u64, Vu>>,
}

pub(super) fn main(mut rx: mpsc::UnboundedReceiver<Msg>, shared: Arc<Shared>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds");
    let target = TargetSpec {
        transport: Transport::Pooled,
        ..(*shared.plan.target).clone()
    };
    let client = match Client::new(&target, &shared.allow) {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "the script's HTTP client cannot be built");
            return;
        }
    };
    let engine = Rc::new(Engine {
        shared,
        console: RefCell::new(Console::default()),
        client,
        direct: RefCell::default(),
        vus: RefCell::default(),
    });
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Job(job) => {
                    tokio::task::spawn_local(engine.clone().run(*job));
                }
                Msg::Init(ids, done) => {
                    let _ = done.send(engine.init(&ids));
                }
                Msg::Worker(worker, done) => {
                    tokio::task::spawn_local(async move {
                        use futures_util::FutureExt;
                        let ended = std::panic::AssertUnwindSafe(worker).catch_unwind().await;
                        let _ = done.send(ended);
                    });
                }
                Msg::Exit => break,
            }
        }
    });
    // Iterations still waiting are dropped with the set; every VU frees its runtime on its
    // own stack ([`Vu`]'s drop).
    drop(local);
    engine.vus.borrow_mut().clear();
}

impl Engine {
    async fn run(self: Rc<Self>, mut job: Job) {
        let id = job.vu.vu;
        let existing = self.vus.borrow_mut().remove(&id);
        let vu = match existing {
            Some(vu) => Ok(vu),
            None => self.new_vu(id),
        };
        let mut vu = match vu {
            Ok(vu) => vu,
            Err(e) => {
                self.count_failure(&e);
                let _ = job.done.send((job.vu, Err(e)));
                return;
            }
        };
        let result = self.iterate(&mut vu, &mut job).await;
        if let Err(e) = &result {
            self.count_failure(e);
        }
        self.vus.borrow_mut().insert(id, vu);
        let _ = job.done.send((job.vu, result));
    }

    /// Initialises VUs ahead of their first iteration.
    fn init(&self, ids: &[u64]) -> Result<(), String> {
        for &id in ids {
            if self.vus.borrow().contains_key(&id) {
                continue;
            }
            let vu = self.new_vu(id)?;
            self.vus.borrow_mut().insert(id, vu);
        }
        Ok(())
    }

    /// A VU with its init context evaluated.
    fn new_vu(&self, id: u64) -> Result<Vu, String> {
        let program = self.shared.script.program.clone();
        // VU 0 runs `setup()` and `teardown()`; load VUs count from 1.
        let halt = if id == 0 {
            &self.shared.halt_edges
        } else {
            &self.shared.halt
        };
        let mut vu = Vu::new(program, id, halt.clone())
            .map_err(|e| format!("cannot allocate the VU's stack: {e}"))?;
        match vu.resume(Reply::Start) {
            Some(Op::Ready(Ok(()))) => Ok(vu),
            Some(Op::Ready(Err(e))) => Err(format!("the init context failed: {e}")),
            other => Err(format!("the VU did not start ({other:?})")),
        }
    }

    /// One call of the job's function, answering the script's waits.
    async fn iterate(&self, vu: &mut Vu, job: &mut Job) -> Result<Option<String>, String> {
        let sh = &self.shared;
        // `setup()` and `teardown()` (VU 0) book their requests under their own names.
        let scenario = if job.vu.vu == 0 {
            &job.function
        } else {
            &sh.plan.scenarios[job.scenario.min(sh.plan.scenarios.len() - 1)].name
        };
        let exec = Exec {
            function: job.function.clone(),
            data: sh.data.locked().clone(),
            vu: job.vu.vu,
            scenario: scenario.clone(),
            iteration_in_scenario: job.vu.iteration,
            // `setup()` and `teardown()` (VU 0) are no iterations.
            iteration_in_test: if job.vu.vu == 0 {
                0
            } else {
                sh.iterations.fetch_add(1, Ordering::Relaxed)
            },
        };
        let mut reply = Reply::Iterate(exec);
        let mut intended = job.intended;
        loop {
            let op = vu.resume(reply);
            self.book(
                vu.events(),
                scenario,
                &job.sink,
                (job.vu.vu, job.vu.iteration),
            );
            reply = match op {
                Some(Op::Http(calls)) => {
                    let conn = &mut job.vu.conn;
                    let sent = self.exchange_all(calls, scenario, intended.take(), &job.sink, conn);
                    tokio::select! {
                        r = sent => Reply::Http(r),
                        _ = job.done.closed() => Reply::Stop,
                    }
                }
                Some(Op::Sleep(d)) => tokio::select! {
                    _ = tokio::time::sleep(d) => Reply::Slept,
                    _ = job.done.closed() => Reply::Stop,
                },
                Some(Op::Done(r)) => return r.map_err(|e| e.to_string()),
                Some(Op::Ready(_)) | None => return Err("the VU ended".into()),
            };
        }
    }

    /// Books what the script reported: checks, metric samples, log lines, an abort.
    fn book(
        &self,
        events: Vec<Event>,
        scenario: &str,
        sink: &crate::run::vu::Sink,
        (vu, iteration): (u64, u64),
    ) {
        if events.is_empty() {
            return;
        }
        let sh = &self.shared;
        let mut rec = lock(sink);
        for e in events {
            match e {
                Event::Check { name, group, ok } => {
                    rec.record_check(sh.names.check(scenario, &group, &name), ok)
                }
                Event::Metric { name, value } => {
                    let Some((_, i, is_time)) = sh.script.metrics.iter().find(|(n, ..)| *n == name)
                    else {
                        continue;
                    };
                    let spec = &sh.plan.metrics[*i];
                    let stats = rec.custom(*i);
                    use crate::config::custom::CustomKind;
                    match spec.kind {
                        CustomKind::Rate => stats.outcome(value != 0.0),
                        CustomKind::Trend => {
                            let v = if *is_time { value / 1000.0 } else { value };
                            stats.value(v, Some(spec.unit.scale()))
                        }
                        _ => stats.value(value, None),
                    }
                }
                Event::Log { level, message } => {
                    if self.console.borrow_mut().admit() {
                        log(level, vu, iteration, &message);
                    }
                }
                Event::Abort(reason) => {
                    sh.abort.locked().get_or_insert(reason);
                }
            }
        }
    }

    fn count_failure(&self, e: &str) {
        let n = self.shared.failed.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.shared.logged.locked();
        if last.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            *last = Some(Instant::now());
            warn!(failed_iterations = n, "a script iteration failed: {e}");
        }
    }

    /// Sends the requests of one wait at once and gives each its reply.
    async fn exchange_all(
        &self,
        calls: Vec<HttpCall>,
        scenario: &str,
        intended: Option<Instant>,
        sink: &crate::run::vu::Sink,
        conn: &mut ConnSlot,
    ) -> Vec<HttpReply> {
        if calls.len() == 1 {
            let call = calls.into_iter().next().expect("one call");
            return vec![
                self.exchange(call, scenario, intended, sink, Some(conn))
                    .await,
            ];
        }
        // A batch: each request on a connection of its own, as k6 sends them.
        futures_util::future::join_all(
            calls
                .into_iter()
                .map(|c| self.exchange(c, scenario, intended, sink, None)),
        )
        .await
    }

    /// One request: sent, measured from its intended time, booked under its name.
    async fn exchange(
        &self,
        call: HttpCall,
        scenario: &str,
        intended: Option<Instant>,
        sink: &crate::run::vu::Sink,
        conn: Option<&mut ConnSlot>,
    ) -> HttpReply {
        let sh = &self.shared;
        let name = call
            .name
            .clone()
            .unwrap_or_else(|| without_credentials(&call.url));
        let row = sh.names.request(scenario, &name, &call.method);
        let mut reply = HttpReply {
            url: call.url.clone(),
            ..HttpReply::default()
        };
        let req = match self.outgoing(&call) {
            Ok(r) => r,
            Err(why) => {
                lock(sink).record(&Sample::unsent(row, ErrorKind::Blocked));
                reply.error = Some((why, 1000));
                return reply;
            }
        };
        let keep = Keep {
            body: call.keep_body && !sh.script.discard_bodies || call.binary,
            headers: true,
        };
        let sent = Instant::now();
        let mut spare = ConnSlot::default();
        let (client, req, conn) = self.transport(req, conn, &mut spare);
        let result = match &client {
            Some(direct) => direct.send(req, conn, keep).await,
            None => self.client.send(req, conn, keep).await,
        };
        let done = Instant::now();
        let from = intended.unwrap_or(sent).min(sent);
        let service = done - sent;
        let (status, ttfb, error) = fill_reply(&mut reply, result, &call, service);
        lock(sink).record(&Sample {
            request: row,
            latency: done - from,
            service,
            ttfb,
            status,
            error,
            stale_retry: false,
        });
        reply
    }

    /// The VU's own connection when the request goes to the plan's origin over `http://`,
    /// the shared pool otherwise.
    fn transport<'a>(
        &self,
        mut req: Outgoing,
        conn: Option<&'a mut ConnSlot>,
        spare: &'a mut ConnSlot,
    ) -> (Option<Rc<Client>>, Outgoing, &'a mut ConnSlot) {
        let Dest::Url(url) = &req.dest else {
            return (None, req, spare);
        };
        let (Some(conn), "http") = (conn, url.scheme()) else {
            return (None, req, spare);
        };
        let origin = url.origin().ascii_serialization();
        let mut direct = self.direct.borrow_mut();
        if !direct.contains_key(&origin) && direct.len() < DIRECT_ORIGINS {
            let target = TargetSpec {
                transport: Transport::Direct,
                base_url: url.clone(),
                ..(*self.shared.plan.target).clone()
            };
            if let Ok(c) = Client::new(&target, &self.shared.allow) {
                direct.insert(origin.clone(), Rc::new(c));
            }
        }
        let (Some(client), Some(dest)) = (
            direct.get(&origin).cloned(),
            Dest::for_transport(url.clone(), Transport::Direct),
        ) else {
            return (None, req, spare);
        };
        // The VU's connection is to one origin: another origin opens a fresh one.
        if conn.origin() != Some(origin.as_str()) {
            *conn = ConnSlot::default();
            conn.set_origin(origin);
        }
        req.dest = dest;
        (Some(client), req, conn)
    }

    /// The request as the transport takes it, after the allowlist and `hosts`.
    fn outgoing(&self, call: &HttpCall) -> Result<Outgoing, String> {
        let sh = &self.shared;
        let mut url = reqwest::Url::parse(&call.url)
            .map_err(|e| format!("invalid URL {:?}: {e}", call.url))?;
        let mut headers = http::HeaderMap::new();
        if let Some(host) = url.host_str().map(str::to_string) {
            if let Some((_, addr)) = sh.script.hosts.iter().find(|(n, _)| *n == host) {
                let (h, port) = match addr.rsplit_once(':') {
                    Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().ok()),
                    _ => (addr.clone(), url.port()),
                };
                url.set_host(Some(&h))
                    .map_err(|e| format!("hosts {host}={addr}: {e}"))?;
                let _ = url.set_port(port);
                if let Ok(v) = http::HeaderValue::from_str(&host) {
                    headers.insert(http::header::HOST, v);
                }
            }
        }
        if let Some(auth) = basic_auth(&mut url) {
            headers.insert(http::header::AUTHORIZATION, auth);
        }
        let host = url.host_str().unwrap_or_default();
        crate::config::host_allowed(host, &sh.allow).map_err(|e| format!("{}: {e}", call.url))?;
        if let Some(ua) = &sh.script.user_agent {
            if let Ok(v) = http::HeaderValue::from_str(ua) {
                headers.insert(http::header::USER_AGENT, v);
            }
        }
        for (k, v) in &call.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("invalid header name {k:?}"))?;
            let value = http::HeaderValue::from_str(v)
                .map_err(|_| format!("invalid value of header {k}"))?;
            headers.insert(name, value);
        }
        let method = http::Method::from_bytes(call.method.as_bytes())
            .map_err(|_| format!("invalid method {:?}", call.method))?;
        Ok(Outgoing {
            method,
            dest: Dest::Url(url),
            headers,
            body: call.body.clone().map(Into::into),
            timeout: call.timeout,
            wire: None,
        })
    }
}

/// A URL's user and password (`scheme://user:pass@…`) as k6 reads them: basic
/// authentication (`Authorization: Basic`), and the URL without them.
fn basic_auth(url: &mut reqwest::Url) -> Option<http::HeaderValue> {
    use base64::Engine as _;
    if !has_credentials(url) {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let pair = format!(
        "{}:{}",
        decode(url.username()),
        decode(url.password().unwrap_or_default())
    );
    strip_credentials(url);
    let token = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut v = http::HeaderValue::from_str(&format!("Basic {token}")).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// A URL as a request's name: never with the credentials it may carry.
fn without_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if has_credentials(&u) => {
            strip_credentials(&mut u);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

fn has_credentials(url: &reqwest::Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

fn strip_credentials(url: &mut reqwest::Url) {
    let _ = url.set_username("");
    let _ = url.set_password(None);
}

/// What the script sees of an exchange (status, headers, body, timings, error) and what the
/// recorder books: the status, the time to first byte, and why the request failed (a
/// transport error, or a status outside the expected ones).
fn fill_reply(
    reply: &mut HttpReply,
    result: Result<crate::run::http::Response, Failure>,
    call: &HttpCall,
    service: Duration,
) -> (Option<u16>, Option<Duration>, Option<ErrorKind>) {
    reply.duration_ms = service.as_secs_f64() * 1e3;
    match result {
        Ok(resp) => {
            let expected = match &call.expected {
                Some(ranges) => ranges.iter().any(|(a, b)| (*a..=*b).contains(&resp.status)),
                None => (200..400).contains(&resp.status),
            };
            reply.status = resp.status;
            reply.waiting_ms = resp.ttfb.as_secs_f64() * 1e3;
            reply.receiving_ms = (service.saturating_sub(resp.ttfb)).as_secs_f64() * 1e3;
            reply.headers = resp
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            reply.body = resp.body.map(|b| b.to_vec());
            (
                Some(resp.status),
                Some(resp.ttfb),
                (!expected).then_some(ErrorKind::Status),
            )
        }
        Err(Failure { kind, status, ttfb }) => {
            reply.status = status.unwrap_or(0);
            reply.error = Some((kind.as_str().to_string(), k6_code(kind)));
            (status, ttfb, Some(kind))
        }
    }
}

/// `console.*` lines an engine thread writes per second at most; the rest are counted, and
/// the count is written when lines are let through again.
const CONSOLE_PER_SECOND: u32 = 20;

/// A second's worth of console lines.
#[derive(Default)]
struct Console {
    since: Option<Instant>,
    written: u32,
    suppressed: u64,
}

impl Console {
    /// Whether a line may be written now.
    fn admit(&mut self) -> bool {
        let now = Instant::now();
        if self.since.is_none_or(|s| now - s >= Duration::from_secs(1)) {
            if self.suppressed > 0 {
                warn!(target: "script", suppressed = self.suppressed, "console lines suppressed (more than {CONSOLE_PER_SECOND} a second)");
            }
            *self = Console {
                since: Some(now),
                ..Console::default()
            };
        }
        if self.written < CONSOLE_PER_SECOND {
            self.written += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

/// A `console.*` line through tracing, with the VU and its iteration.
fn log(level: &str, vu: u64, iteration: u64, message: &str) {
    match level {
        "error" => tracing::error!(target: "script", vu, iteration, "{message}"),
        "warn" => tracing::warn!(target: "script", vu, iteration, "{message}"),
        "debug" => tracing::debug!(target: "script", vu, iteration, "{message}"),
        _ => tracing::info!(target: "script", vu, iteration, "{message}"),
    }
}

/// k6's `error_code` for a failure kind.
fn k6_code(kind: ErrorKind) -> u32 {
    match kind {
        ErrorKind::Timeout => 1050,
        ErrorKind::Dns => 1100,
        ErrorKind::Connect => 1212,
        ErrorKind::Reset => 1220,
        ErrorKind::Tls
        | ErrorKind::TlsUntrusted
        | ErrorKind::TlsExpired
        | ErrorKind::TlsHostname => 1300,
        ErrorKind::Protocol => 1600,
        _ => 1000,
    }
}
