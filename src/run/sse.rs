//! Server-Sent Events sessions: a GET with `Accept: text/event-stream` through the target's
//! pooled client (the allowlist, TLS roots and `ca_file` apply), events parsed by
//! `eventsource-stream`, held for the step's `duration` or until enough events or a matching
//! one, reconnecting after a drop with the stream's `retry:` and `Last-Event-ID`. An event
//! larger than the target's `max_body` ends the session as `too_large`.

use super::content::{capture_into, join_url, message_passes};
use super::http::Pooled;
use super::stream::Session;
use super::vu::{lock, Sink, VuState};
use crate::config::{EventMatch, PlanSpec, SseSpec};
use crate::measure::{ErrorKind, StreamEnd};
use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The longest wait between reconnects a server's `retry:` may ask for.
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Why reading the body stopped.
#[derive(Debug)]
enum Stop {
    /// The hold ended, enough events arrived, or `until` matched.
    Done,
    /// The server ended the stream.
    Dropped,
    Failed(StreamEnd),
}

/// A fault under the event parser: the transport's, or an event over the size cap.
#[derive(Debug)]
enum BodyError {
    Transport(ErrorKind),
    TooLarge,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for BodyError {}

/// Where the stream is read, across reconnects.
struct Progress<'s, 'v> {
    spec: &'s SseSpec,
    vu: &'v mut VuState,
    last_id: Option<String>,
    retry: Duration,
    events: u64,
    until_met: bool,
}

fn url(plan: &PlanSpec, spec: &SseSpec, vu: &VuState) -> Option<url::Url> {
    let mut u = join_url(
        &plan.target.base_url,
        &spec.path.render(vu),
        &spec.query,
        vu,
    )?;
    let scheme = match u.scheme() {
        "ws" | "http" => "http",
        _ => "https",
    };
    u.set_scheme(scheme).ok()?;
    Some(u)
}

fn headers(
    plan: &PlanSpec,
    spec: &SseSpec,
    vu: &VuState,
    last_id: Option<&str>,
) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (name, t) in plan.target.headers.iter().chain(&spec.headers) {
        if let Ok(v) = http::HeaderValue::from_str(&t.render(vu)) {
            h.insert(name.clone(), v);
        }
    }
    h.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    if let Some(v) = last_id.and_then(|id| http::HeaderValue::from_str(id).ok()) {
        h.insert("last-event-id", v);
    }
    h
}

/// Opens the stream; `Refused` when the answer is not a 2xx event stream.
async fn open(
    plan: &PlanSpec,
    client: &Pooled,
    spec: &SseSpec,
    p: &Progress<'_, '_>,
    u: &url::Url,
    left: Duration,
) -> Result<reqwest::Response, StreamEnd> {
    let connect = spec.timeout.unwrap_or(plan.target.timeout);
    let resp = client
        .open_stream(
            u.clone(),
            headers(plan, spec, p.vu, p.last_id.as_deref()),
            connect,
            left,
        )
        .await
        .map_err(StreamEnd::from_error)?;
    let event_stream = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !resp.status().is_success() || !event_stream {
        return Err(StreamEnd::Refused);
    }
    Ok(resp)
}

/// Runs one `sse` step. `intended` is the iteration's intended start when this is its first
/// step. Returns false when the stream never opened, which ends the iteration like a failed
/// request.
pub(super) async fn session(
    plan: &PlanSpec,
    client: &Pooled,
    spec: &SseSpec,
    vu: &mut VuState,
    intended: Option<Instant>,
    sink: &Sink,
) -> bool {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + spec.duration;
    let Some(u) = url(plan, spec, vu) else {
        lock(sink)
            .stream(spec.index)
            .ended(StreamEnd::Blocked, None);
        return false;
    };
    let mut p = Progress {
        spec,
        vu,
        last_id: None,
        retry: Duration::from_secs(1),
        events: 0,
        until_met: false,
    };
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    let resp = match open(plan, client, spec, &p, &u, left()).await {
        Ok(r) => r,
        Err(end) => {
            lock(sink).stream(spec.index).ended(end, None);
            return false;
        }
    };
    let now = Instant::now();
    lock(sink)
        .stream(spec.index)
        .connected(now - intended.unwrap_or(started).min(started));
    let mut s = Session::open(sink, spec.index, now);
    let mut resp = Some(resp);
    let mut reconnects = spec.reconnect;
    loop {
        let body = match resp.take() {
            Some(r) => r,
            None => match open(plan, client, spec, &p, &u, left()).await {
                Ok(r) => {
                    let mut rec = lock(sink);
                    let st = rec.stream(spec.index);
                    st.reconnects += 1;
                    r
                }
                Err(end) => {
                    s.end = end;
                    break;
                }
            },
        };
        match read(body, &mut s, &mut p, deadline, plan.target.max_body).await {
            Stop::Done => break,
            Stop::Failed(end) => {
                s.end = end;
                break;
            }
            Stop::Dropped if reconnects > 0 && p.retry < left() => {
                reconnects -= 1;
                tokio::time::sleep(p.retry).await;
            }
            Stop::Dropped => {
                s.end = StreamEnd::ClosedByServer;
                break;
            }
        }
    }
    if let Some(m) = spec.until.as_ref().filter(|_| !p.until_met) {
        let mut rec = lock(sink);
        for c in &m.matchers {
            rec.record_check(c.index, false);
        }
    }
    true
}

/// Reads events until the hold ends, enough arrived, `until` matched, or the stream stops.
async fn read(
    resp: reqwest::Response,
    s: &mut Session<'_>,
    p: &mut Progress<'_, '_>,
    deadline: tokio::time::Instant,
    max_event: usize,
) -> Stop {
    // Bytes since the last complete event: an event that never ends cannot grow without bound.
    let pending = AtomicUsize::new(0);
    let bytes = resp.bytes_stream().map(|chunk| match chunk {
        Ok(b) => {
            if pending.fetch_add(b.len(), Relaxed) + b.len() > max_event {
                Err(BodyError::TooLarge)
            } else {
                Ok(b)
            }
        }
        Err(e) => Err(BodyError::Transport(if e.is_timeout() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Reset
        })),
    });
    let mut events = bytes.eventsource();
    loop {
        let next = match tokio::time::timeout_at(deadline, events.next()).await {
            Err(_) => return Stop::Done,
            Ok(None) => return Stop::Dropped,
            Ok(Some(n)) => n,
        };
        let ev = match next {
            Ok(ev) => ev,
            Err(EventStreamError::Transport(BodyError::TooLarge)) => {
                return Stop::Failed(StreamEnd::TooLarge)
            }
            Err(EventStreamError::Transport(BodyError::Transport(ErrorKind::Timeout))) => {
                return Stop::Done
            }
            Err(EventStreamError::Transport(BodyError::Transport(_))) => return Stop::Dropped,
            Err(_) => return Stop::Failed(StreamEnd::Protocol),
        };
        pending.store(0, Relaxed);
        s.received(ev.data.len());
        let kind = if ev.event.is_empty() {
            "message"
        } else {
            ev.event.as_str()
        };
        lock(s.sink).stream(s.index).event_types.add(kind, 1);
        p.events += 1;
        if !ev.id.is_empty() {
            p.last_id = Some(ev.id.clone());
        }
        if let Some(r) = ev.retry {
            p.retry = r.min(MAX_RETRY);
        }
        let parsed = serde_json::from_str::<serde_json::Value>(&ev.data).ok();
        if let Some(m) = p.spec.check.as_ref().filter(|m| of_type(m, &ev.event)) {
            let mut rec = lock(s.sink);
            for c in &m.matchers {
                rec.record_check(c.index, message_passes(&c.kind, &ev.data, parsed.as_ref()));
            }
        }
        if let Some(m) = p.spec.until.as_ref().filter(|m| of_type(m, &ev.event)) {
            if m.matchers
                .iter()
                .all(|c| message_passes(&c.kind, &ev.data, parsed.as_ref()))
            {
                p.until_met = true;
                let mut rec = lock(s.sink);
                for c in &m.matchers {
                    rec.record_check(c.index, true);
                }
                drop(rec);
                capture_into(&m.captures, &ev.data, parsed.as_ref(), p.vu);
                return Stop::Done;
            }
        }
        if p.spec.events.is_some_and(|n| p.events >= n) {
            return Stop::Done;
        }
    }
}

/// Whether an event is of the type a match asks for (`message` when the stream names none).
fn of_type(m: &EventMatch, event: &str) -> bool {
    m.event
        .as_deref()
        .is_none_or(|t| t == event || (event.is_empty() && t == "message"))
}
