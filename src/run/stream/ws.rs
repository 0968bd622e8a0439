//! WebSocket sessions: connecting with the network rule applied at connect time, and running
//! a session's actions (send, expect, ping, hold, close) while counting everything that
//! arrives. One session per `ws` step; memory per idle session is a few KiB (small read and
//! write buffers, messages capped at the target's `max_body`).

use super::{connect_io, Io, Net, Session};
use crate::config::{ExpectSpec, HoldSpec, Payload, PlanSpec, WsAction, WsSpec};
use crate::measure::StreamEnd;
use crate::run::content::{capture_into, join_url, message_passes, render_json};
use crate::run::vu::{lock, Sink, VuState};
use futures_util::{SinkExt, StreamExt};

use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<Box<dyn Io>>;

/// What happened while waiting on the socket.
enum Got {
    Data(String),
    Pong(Vec<u8>),
    Ended(StreamEnd),
}

fn end_of(e: &WsError) -> StreamEnd {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => StreamEnd::ClosedByServer,
        WsError::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut => StreamEnd::Timeout,
            _ => StreamEnd::Reset,
        },
        WsError::Capacity(_) => StreamEnd::TooLarge,
        WsError::Http(_) => StreamEnd::Refused,
        _ => StreamEnd::Protocol,
    }
}

/// The session's URL: the target's base URL with `ws`/`wss` for `http`/`https`.
fn ws_url(plan: &PlanSpec, spec: &WsSpec, vu: &VuState) -> Option<url::Url> {
    let mut url = join_url(
        &plan.target.base_url,
        &spec.path.render(vu),
        &spec.query,
        vu,
    )?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        _ => "wss",
    };
    url.set_scheme(scheme).ok()?;
    Some(url)
}

fn config(max_message: usize) -> WebSocketConfig {
    let mut c = WebSocketConfig::default();
    c.read_buffer_size = 4 * 1024;
    c.write_buffer_size = 0;
    c.max_message_size = Some(max_message.max(1024));
    c.max_frame_size = Some(max_message.max(1024));
    c
}

async fn connect(
    plan: &PlanSpec,
    net: &Net<'_>,
    spec: &WsSpec,
    vu: &VuState,
) -> Result<Ws, StreamEnd> {
    let url = ws_url(plan, spec, vu).ok_or(StreamEnd::Blocked)?;
    let io = connect_io(&url, net, plan.target.ca_pem.as_deref()).await?;
    let mut req = url
        .as_str()
        .into_client_request()
        .map_err(|_| StreamEnd::Protocol)?;
    for (name, t) in &spec.headers {
        if let Ok(v) = http::HeaderValue::from_str(&t.render(vu)) {
            req.headers_mut().insert(name.clone(), v);
        }
    }
    for (name, t) in &plan.target.headers {
        if !req.headers().contains_key(name) {
            if let Ok(v) = http::HeaderValue::from_str(&t.render(vu)) {
                req.headers_mut().insert(name.clone(), v);
            }
        }
    }
    if !spec.subprotocols.is_empty() {
        if let Ok(v) = http::HeaderValue::from_str(&spec.subprotocols.join(", ")) {
            req.headers_mut()
                .insert(http::header::SEC_WEBSOCKET_PROTOCOL, v);
        }
    }
    let (ws, _resp) =
        tokio_tungstenite::client_async_with_config(req, io, Some(config(plan.target.max_body)))
            .await
            .map_err(|e| end_of(&e))?;
    Ok(ws)
}

fn render(p: &Payload, vu: &VuState) -> String {
    match p {
        Payload::Text(t) => t.render(vu),
        Payload::Json(j) => render_json(j, vu).to_string(),
    }
}

/// Runs one `ws` step. `intended` is the iteration's intended start when this is its first
/// step (the connect latency is then measured from it). Returns false when the session
/// could not open, which ends the iteration like a failed request.
pub(in crate::run) async fn session(
    plan: &PlanSpec,
    net: &Net<'_>,
    spec: &WsSpec,
    vu: &mut VuState,
    intended: Option<Instant>,
    sink: &Sink,
) -> bool {
    let timeout = spec.timeout.unwrap_or(plan.target.timeout);
    let started = Instant::now();
    let opened = match tokio::time::timeout(timeout, connect(plan, net, spec, vu)).await {
        Ok(Ok(ws)) => Ok(ws),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(StreamEnd::Timeout),
    };
    let now = Instant::now();
    let mut ws = match opened {
        Ok(ws) => ws,
        Err(end) => {
            lock(sink).stream(spec.index).ended(end, None);
            return false;
        }
    };
    lock(sink)
        .stream(spec.index)
        .connected(now - intended.unwrap_or(started).min(started));
    let mut s = Session::open(sink, spec.index, now);
    let mut last_send = now;
    for action in &spec.actions {
        let result = match action {
            WsAction::Send(p) => send(&mut ws, &mut s, Message::text(render(p, vu)))
                .await
                .map(|_| last_send = Instant::now()),
            WsAction::Expect(e) => expect(&mut ws, &mut s, e, last_send, vu).await,
            WsAction::Ping { count } => {
                let mut r = Ok(());
                for _ in 0..*count {
                    r = ping(&mut ws, &mut s, timeout).await;
                    if r.is_err() {
                        break;
                    }
                }
                r
            }
            WsAction::Hold(h) => hold(&mut ws, &mut s, h, vu, timeout).await,
            WsAction::Close => break,
        };
        if let Err(end) = result {
            s.end = end;
            return true;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    true
}

async fn send(ws: &mut Ws, s: &mut Session<'_>, m: Message) -> Result<(), StreamEnd> {
    let bytes = m.len();
    ws.send(m).await.map_err(|e| end_of(&e))?;
    lock(s.sink).stream(s.index).sent(bytes);
    Ok(())
}

/// The next thing the socket delivers (server pings are answered by the protocol layer).
async fn next(ws: &mut Ws, s: &mut Session<'_>) -> Got {
    loop {
        return match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                s.received(t.len());
                Got::Data(t.to_string())
            }
            Some(Ok(Message::Binary(b))) => {
                s.received(b.len());
                Got::Data(String::from_utf8_lossy(&b).into_owned())
            }
            Some(Ok(Message::Pong(p))) => Got::Pong(p.to_vec()),
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                lock(s.sink)
                    .stream(s.index)
                    .close_codes
                    .add(&code.to_string(), 1);
                Got::Ended(StreamEnd::ClosedByServer)
            }
            None => Got::Ended(StreamEnd::ClosedByServer),
            Some(Ok(_)) => continue,
            Some(Err(e)) => Got::Ended(end_of(&e)),
        };
    }
}

async fn expect(
    ws: &mut Ws,
    s: &mut Session<'_>,
    e: &ExpectSpec,
    since: Instant,
    vu: &mut VuState,
) -> Result<(), StreamEnd> {
    let deadline = tokio::time::Instant::now() + e.timeout;
    loop {
        let got = match tokio::time::timeout_at(deadline, next(ws, s)).await {
            Ok(g) => g,
            // No matching reply in time: failed checks, and the session ends as a timeout
            // (docs/runbooks.md), not as a normal end of the flow.
            Err(_) => {
                record_matchers(s, e, false);
                return Err(StreamEnd::Timeout);
            }
        };
        match got {
            Got::Data(text) => {
                let parsed = serde_json::from_str::<serde_json::Value>(&text).ok();
                let all = e
                    .matchers
                    .iter()
                    .all(|m| message_passes(&m.kind, &text, parsed.as_ref()));
                if all {
                    lock(s.sink).stream(s.index).round_trip(since.elapsed());
                    record_matchers(s, e, true);
                    capture_into(&e.captures, &text, parsed.as_ref(), vu);
                    return Ok(());
                }
                if e.next {
                    record_matchers(s, e, false);
                    return Ok(());
                }
            }
            Got::Pong(_) => {}
            Got::Ended(end) => {
                record_matchers(s, e, false);
                return Err(end);
            }
        }
    }
}

fn record_matchers(s: &Session<'_>, e: &ExpectSpec, passed: bool) {
    let mut rec = lock(s.sink);
    for m in &e.matchers {
        rec.record_check(m.index, passed);
    }
}

async fn ping(ws: &mut Ws, s: &mut Session<'_>, timeout: Duration) -> Result<(), StreamEnd> {
    let payload = rand::random::<u64>().to_be_bytes().to_vec();
    let sent = Instant::now();
    ws.send(Message::Ping(payload.clone().into()))
        .await
        .map_err(|e| end_of(&e))?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, next(ws, s)).await {
            Err(_) => return Err(StreamEnd::Timeout),
            Ok(Got::Pong(p)) if p == payload => {
                lock(s.sink).stream(s.index).pong(sent.elapsed());
                return Ok(());
            }
            Ok(Got::Ended(end)) => return Err(end),
            Ok(_) => {}
        }
    }
}

async fn hold(
    ws: &mut Ws,
    s: &mut Session<'_>,
    h: &HoldSpec,
    vu: &VuState,
    timeout: Duration,
) -> Result<(), StreamEnd> {
    let end = tokio::time::Instant::now() + h.duration;
    let far = Duration::from_secs(86_400 * 365);
    let mut sends = tokio::time::interval(h.every.as_ref().map(|e| e.0).unwrap_or(far));
    sends.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sends.tick().await;
    let mut pings = tokio::time::interval(h.ping_every.unwrap_or(far));
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    pings.tick().await;
    // An outstanding ping: its payload, when it was sent.
    let mut waiting: Option<(Vec<u8>, Instant)> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => return Ok(()),
            _ = sends.tick(), if h.every.is_some() => {
                if let Some((_, p)) = &h.every {
                    send(ws, s, Message::text(render(p, vu))).await?;
                }
            }
            _ = pings.tick(), if h.ping_every.is_some() => {
                if let Some((_, at)) = &waiting {
                    if at.elapsed() > timeout {
                        return Err(StreamEnd::Timeout);
                    }
                } else {
                    let payload = rand::random::<u64>().to_be_bytes().to_vec();
                    ws.send(Message::Ping(payload.clone().into())).await.map_err(|e| end_of(&e))?;
                    waiting = Some((payload, Instant::now()));
                }
            }
            got = next(ws, s) => match got {
                Got::Pong(p) => {
                    if let Some((want, at)) = &waiting {
                        if *want == p {
                            lock(s.sink).stream(s.index).pong(at.elapsed());
                            waiting = None;
                        }
                    }
                }
                Got::Data(_) => {}
                Got::Ended(end) => return Err(end),
            },
        }
    }
}
