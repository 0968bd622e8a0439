//! The demo target's WebSocket endpoints, on the same port as its HTTP ones:
//! - `/ws/echo?delay_ms=N`: every text or binary message comes back after `N` ms (plus any
//!   stall);
//! - `/ws/ticker?every=100ms&count=N&close=CODE`: a JSON tick `{"seq":n}` every `every`;
//!   after `count` ticks the server closes the session with `CODE` (default 1000).
//!
//! The stall mode applies: nothing is sent during a freeze window.

use super::{query_str, stall_left, State};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// True for a WebSocket upgrade request.
pub(super) fn is_upgrade(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Answers the upgrade with 101 and serves the session on its own task.
pub(super) fn upgrade(state: Arc<State>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(key) = req.headers().get(http::header::SEC_WEBSOCKET_KEY).cloned() else {
        return super::json(
            StatusCode::BAD_REQUEST,
            "{\"error\":\"missing Sec-WebSocket-Key\"}".into(),
        );
    };
    let path = req.uri().path().to_string();
    if path != "/ws/echo" && path != "/ws/ticker" {
        return super::json(StatusCode::NOT_FOUND, "{\"error\":\"not found\"}".into());
    }
    let every = query_str(&req, "every")
        .and_then(|v| humantime::parse_duration(&v).ok())
        .unwrap_or(Duration::from_millis(100))
        .max(Duration::from_millis(1));
    let count = query_str(&req, "count").and_then(|v| v.parse::<u64>().ok());
    let close = query_str(&req, "close")
        .and_then(|v| v.parse::<u16>().ok())
        .unwrap_or(1000);
    let delay = Duration::from_millis(
        query_str(&req, "delay_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    let protocol = req
        .headers()
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|p| p.trim().to_string());
    let upgrading = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrading.await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        if path == "/ws/echo" {
            echo(&state, ws, delay).await;
        } else {
            ticker(&state, ws, every, count, close).await;
        }
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("websocket"),
    );
    h.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(http::header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(p) = protocol.and_then(|p| http::HeaderValue::from_str(&p).ok()) {
        h.insert(http::header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    r
}

async fn echo(state: &State, mut ws: Ws, delay: Duration) {
    while let Some(Ok(msg)) = ws.next().await {
        let reply = match msg {
            Message::Text(_) | Message::Binary(_) => msg,
            Message::Close(_) => break,
            Message::Ping(_) => {
                // The protocol layer sends the pong at the next read: a frozen server
                // answers it when the freeze ends.
                let frozen = stall_left(state);
                if !frozen.is_zero() {
                    tokio::time::sleep(frozen).await;
                }
                continue;
            }
            _ => continue,
        };
        let wait = delay + stall_left(state);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        if ws.send(reply).await.is_err() {
            break;
        }
    }
}

async fn ticker(state: &State, mut ws: Ws, every: Duration, count: Option<u64>, close: u16) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; the first message comes after `every`
    let mut seq = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            msg = ws.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => continue,
            },
        }
        let frozen = stall_left(state);
        if !frozen.is_zero() {
            tokio::time::sleep(frozen).await;
        }
        seq += 1;
        let text = format!("{{\"seq\":{seq}}}");
        if ws.send(Message::text(text)).await.is_err() {
            return;
        }
        if count.is_some_and(|n| seq >= n) {
            let frame = CloseFrame {
                code: CloseCode::from(close),
                reason: "ticker done".into(),
            };
            let _ = ws.close(Some(frame)).await;
            // Let the client's close reply arrive before dropping the connection.
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
            return;
        }
    }
}
