//! Server-Sent Events sessions: a GET with `Accept: text/event-stream` on a lean HTTP/1.1
//! connection of the session's own (the allowlist checked at connect, TLS with the web PKI
//! roots and `ca_file`; a 4 KiB read buffer, chunked, length or close-delimited bodies),
//! events parsed by `eventsource-stream`, held for the step's `duration` or until enough events or a matching
//! one, reconnecting after a drop with the stream's `retry:` and `Last-Event-ID`. An event
//! larger than the target's `max_body` ends the session as `too_large`.

use super::{connect_io, Io, Net, Session};
use crate::config::{EventMatch, PlanSpec, SseSpec};
use crate::measure::{ErrorKind, StreamEnd};
use crate::run::content::{capture_into, join_url, message_passes};
use crate::run::vu::{lock, Sink, VuState};
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

/// A fault under the event parser: the transport's, broken framing, or an event over the
/// size cap.
#[derive(Debug)]
enum BodyError {
    Transport(ErrorKind),
    Framing,
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

/// How the response body is delimited.
enum Framing {
    Chunked { left: usize, done: bool },
    Length(u64),
    Close,
}

/// An open event stream: the connection, bytes already read past the head, the framing.
struct Body {
    io: Box<dyn Io>,
    buf: bytes::BytesMut,
    framing: Framing,
}

/// Bound on a response head: more is not an event stream.
const MAX_HEAD: usize = 16 * 1024;
/// Read size of a stream connection.
const READ: usize = 4 * 1024;

/// Opens the stream within the step's connect bound; `Refused` when the answer is not a 2xx
/// event stream.
async fn open(
    plan: &PlanSpec,
    net: &Net<'_>,
    spec: &SseSpec,
    p: &Progress<'_, '_>,
    u: &url::Url,
) -> Result<Body, StreamEnd> {
    let connect = spec.timeout.unwrap_or(plan.target.timeout);
    match tokio::time::timeout(connect, open_within(plan, net, spec, p, u)).await {
        Ok(r) => r,
        Err(_) => Err(StreamEnd::Timeout),
    }
}

async fn open_within(
    plan: &PlanSpec,
    net: &Net<'_>,
    spec: &SseSpec,
    p: &Progress<'_, '_>,
    u: &url::Url,
) -> Result<Body, StreamEnd> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut io = connect_io(u, net, plan.target.ca_pem.as_deref()).await?;
    let mut head = format!(
        "GET {}{} HTTP/1.1\r\nHost: {}\r\nUser-Agent: loadpacer/{}\r\n",
        u.path(),
        u.query().map(|q| format!("?{q}")).unwrap_or_default(),
        match u.port() {
            Some(port) => format!("{}:{port}", u.host_str().unwrap_or_default()),
            None => u.host_str().unwrap_or_default().to_string(),
        },
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in headers(plan, spec, p.vu, p.last_id.as_deref()).iter() {
        if let Ok(v) = value.to_str() {
            head.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    io.write_all(head.as_bytes())
        .await
        .map_err(|_| StreamEnd::Reset)?;
    let mut buf = bytes::BytesMut::with_capacity(READ);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let code = resp.code.unwrap_or(0);
                let get = |n: &str| {
                    resp.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(n))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .map(str::trim)
                };
                let event_stream = get("content-type")
                    .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"));
                if !(200..300).contains(&code) || !event_stream {
                    return Err(StreamEnd::Refused);
                }
                let framing = if get("transfer-encoding")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
                {
                    Framing::Chunked {
                        left: 0,
                        done: false,
                    }
                } else if let Some(n) = get("content-length").and_then(|v| v.parse().ok()) {
                    Framing::Length(n)
                } else {
                    Framing::Close
                };
                let _ = buf.split_to(len);
                return Ok(Body { io, buf, framing });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            _ => return Err(StreamEnd::Protocol),
        }
        let mut chunk = [0u8; READ];
        match io.read(&mut chunk).await {
            Ok(0) => return Err(StreamEnd::Reset),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return Err(StreamEnd::Reset),
        }
    }
}

/// Reads more of the body into `b.buf`; false at the end of the connection.
async fn fill(b: &mut Body) -> Result<bool, BodyError> {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; READ];
    match b.io.read(&mut chunk).await {
        Ok(0) => Ok(false),
        Ok(n) => {
            b.buf.extend_from_slice(&chunk[..n]);
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            Err(BodyError::Transport(ErrorKind::Timeout))
        }
        Err(_) => Err(BodyError::Transport(ErrorKind::Reset)),
    }
}

/// The next piece of body payload; `None` at its end.
async fn piece(b: &mut Body) -> Option<Result<bytes::Bytes, BodyError>> {
    loop {
        match &mut b.framing {
            Framing::Length(0) | Framing::Chunked { done: true, .. } => return None,
            Framing::Length(n) if !b.buf.is_empty() => {
                let k = (*n).min(b.buf.len() as u64) as usize;
                *n -= k as u64;
                return Some(Ok(b.buf.split_to(k).freeze()));
            }
            Framing::Length(_) => match fill(b).await {
                Ok(true) => continue,
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            },
            Framing::Close => {
                if b.buf.is_empty() {
                    match fill(b).await {
                        Ok(true) => continue,
                        Ok(false) => return None,
                        Err(e) => return Some(Err(e)),
                    }
                }
                let all = b.buf.len();
                return Some(Ok(b.buf.split_to(all).freeze()));
            }
            Framing::Chunked { left, .. } if *left > 0 => {
                if b.buf.is_empty() {
                    match fill(b).await {
                        Ok(true) => continue,
                        Ok(false) => return None,
                        Err(e) => return Some(Err(e)),
                    }
                }
                let k = (*left).min(b.buf.len());
                *left -= k;
                return Some(Ok(b.buf.split_to(k).freeze()));
            }
            Framing::Chunked { .. } => {
                // A size line (after the CRLF that ends the previous chunk's data).
                let Some(pos) = b.buf.windows(2).position(|w| w == b"\r\n") else {
                    if b.buf.len() > 1024 {
                        return Some(Err(BodyError::Framing));
                    }
                    match fill(b).await {
                        Ok(true) => continue,
                        Ok(false) => return None,
                        Err(e) => return Some(Err(e)),
                    }
                };
                let line = b.buf.split_to(pos + 2);
                let text = String::from_utf8_lossy(&line[..pos]);
                let size = text.split(';').next().unwrap_or("").trim();
                if size.is_empty() {
                    continue;
                }
                let Ok(size) = usize::from_str_radix(size, 16) else {
                    return Some(Err(BodyError::Framing));
                };
                b.framing = Framing::Chunked {
                    left: size,
                    done: size == 0,
                };
            }
        }
    }
}

/// Runs one `sse` step. `intended` is the iteration's intended start when this is its first
/// step. Returns false when the stream never opened, which ends the iteration like a failed
/// request.
pub(in crate::run) async fn session(
    plan: &PlanSpec,
    net: &Net<'_>,
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
    let resp = match open(plan, net, spec, &p, &u).await {
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
            None => match open(plan, net, spec, &p, &u).await {
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
    body: Body,
    s: &mut Session<'_>,
    p: &mut Progress<'_, '_>,
    deadline: tokio::time::Instant,
    max_event: usize,
) -> Stop {
    // Bytes since the last complete event: an event that never ends cannot grow without bound.
    let pending = AtomicUsize::new(0);
    let bytes =
        futures_util::stream::unfold(
            body,
            |mut b| async move { piece(&mut b).await.map(|r| (r, b)) },
        )
        .map(|chunk| match chunk {
            Ok(b) if pending.fetch_add(b.len(), Relaxed) + b.len() > max_event => {
                Err(BodyError::TooLarge)
            }
            other => other,
        });
    let mut events = std::pin::pin!(bytes.eventsource());
    loop {
        let next = match tokio::time::timeout_at(deadline, events.next()).await {
            Err(_) => return Stop::Done,
            Ok(None) => return Stop::Dropped,
            Ok(Some(n)) => n,
        };
        let ev = match next {
            Ok(ev) => ev,
            Err(e) => return stop_for(e),
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

/// How a stream that failed while reading ended.
fn stop_for(e: EventStreamError<BodyError>) -> Stop {
    match e {
        EventStreamError::Transport(BodyError::TooLarge) => Stop::Failed(StreamEnd::TooLarge),
        EventStreamError::Transport(BodyError::Transport(ErrorKind::Timeout)) => Stop::Done,
        EventStreamError::Transport(BodyError::Transport(_)) => Stop::Dropped,
        _ => Stop::Failed(StreamEnd::Protocol),
    }
}

/// Whether an event is of the type a match asks for (`message` when the stream names none).
fn of_type(m: &EventMatch, event: &str) -> bool {
    m.event
        .as_deref()
        .is_none_or(|t| t == event || (event.is_empty() && t == "message"))
}
