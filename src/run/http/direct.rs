//! The direct transport: each VU slot owns one HTTP/1.1 connection, driven by hyper's
//! connection API with no pool, no per-request URL parsing and no redirect machinery. Plain
//! HTTP only (validated at load time). A connection is reopened when the server closes it.

use super::classify::{address_allowed, classify_chain};
use super::types::{BodyCap, Dest, Failure, Outgoing, Response};
use crate::config::TargetSpec;
use crate::measure::ErrorKind;
use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// One VU's connection; its driver runs as a task of its own (one per connection, not per
/// request). Driving it inside the VU's exchange instead was measured slower: 2× fewer
/// requests per second with a millisecond tail.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    /// When the last exchange on it ended: a connection idle longer than
    /// [`STALE_AFTER_IDLE`] may have been closed by the target's keep-alive timeout.
    idle_since: Instant,
}

/// Idle time after which a kept-alive connection is at risk of a keep-alive close at reuse;
/// idempotent requests sent on one are kept for one re-send on a fresh connection. Below it
/// (a closed loop) nothing is kept, so the hot path pays nothing.
const STALE_AFTER_IDLE: Duration = Duration::from_millis(500);

/// The direct transport of one target.
pub struct Direct {
    host: String,
    port: u16,
    authority: HeaderValue,
    allow: Vec<String>,
    timeout: Duration,
    max_body: usize,
}

/// Why a request could not be sent or got no response head.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("the request is not for this transport")]
    Protocol,
    #[error(transparent)]
    Hyper(hyper::Error),
}

/// A kept-alive connection the target closed before answering (at reuse): nothing of a
/// response arrived.
fn stale(e: &SendError) -> bool {
    matches!(e, SendError::Hyper(h) if h.is_incomplete_message() || h.is_canceled() || h.is_closed())
}

fn classify_send(e: &SendError) -> ErrorKind {
    match e {
        SendError::Protocol => ErrorKind::Protocol,
        SendError::Hyper(h) => classify_chain(Some(h)).unwrap_or(if h.is_closed() {
            ErrorKind::Reset
        } else {
            ErrorKind::Protocol
        }),
    }
}

fn fail(kind: ErrorKind) -> Failure {
    Failure {
        kind,
        status: None,
        ttfb: None,
    }
}

impl Direct {
    pub fn new(target: &TargetSpec, allow: &[String]) -> Self {
        let url = &target.base_url;
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        Self {
            host,
            port,
            authority: HeaderValue::from_str(&authority)
                .unwrap_or(HeaderValue::from_static("localhost")),
            allow: allow.to_vec(),
            timeout: target.timeout,
            max_body: target.max_body,
        }
    }

    /// Sends on the VU's connection, opening it first if needed. The timeout covers
    /// connecting, the response and the whole body, so a trickling body cannot hold a VU.
    pub async fn send(
        &self,
        req: Outgoing,
        slot: &mut ConnSlot,
        keep_body: bool,
    ) -> Result<Response, Failure> {
        let limit = req.timeout.unwrap_or(self.timeout);
        match tokio::time::timeout(limit, self.exchange(req, slot, keep_body)).await {
            Ok(result) => {
                if result.is_err() {
                    slot.0 = None;
                }
                result
            }
            Err(_) => {
                slot.0 = None;
                Err(fail(ErrorKind::Timeout))
            }
        }
    }

    async fn exchange(
        &self,
        req: Outgoing,
        slot: &mut ConnSlot,
        keep_body: bool,
    ) -> Result<Response, Failure> {
        if slot.0.as_ref().is_none_or(|c| c.sender.is_closed()) {
            slot.0 = Some(self.connect().await.map_err(fail)?);
        }
        let at_risk = slot
            .0
            .as_ref()
            .is_some_and(|c| c.idle_since.elapsed() >= STALE_AFTER_IDLE)
            && req.method.is_idempotent();
        let again = at_risk.then(|| req.clone());
        let sent = Instant::now();
        let resp = match self.send_on(slot, req).await {
            Ok(resp) => resp,
            // C5: the target closed the kept-alive connection as the request went out; that
            // is the pool's problem, not the target's: re-send once on a fresh connection.
            Err(e) if again.is_some() && stale(&e) => {
                slot.1 = true;
                slot.0 = Some(self.connect().await.map_err(fail)?);
                self.send_on(slot, again.expect("kept for the re-send"))
                    .await
                    .map_err(|e| fail(classify_send(&e)))?
            }
            Err(e) => return Err(fail(classify_send(&e))),
        };
        let ttfb = sent.elapsed();
        let status = resp.status().as_u16();
        let with_status = |kind| Failure {
            kind,
            status: Some(status),
            ttfb: Some(ttfb),
        };
        let declared = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let (parts, mut body) = resp.into_parts();
        let mut cap = BodyCap::new(self.max_body, keep_body, declared).map_err(with_status)?;
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| with_status(classify_chain(Some(&e)).unwrap_or(ErrorKind::Reset)))?;
            if let Some(data) = frame.data_ref() {
                cap.push(data).map_err(with_status)?;
            }
        }
        if let Some(c) = slot.0.as_mut() {
            c.idle_since = Instant::now();
        }
        Ok(Response {
            status,
            headers: parts.headers,
            body: cap.finish(),
            ttfb,
        })
    }

    /// Sends one request on the slot's open connection, up to the response head.
    async fn send_on(
        &self,
        slot: &mut ConnSlot,
        req: Outgoing,
    ) -> Result<http::Response<hyper::body::Incoming>, SendError> {
        let conn = slot.0.as_mut().ok_or(SendError::Protocol)?;
        conn.sender.ready().await.map_err(SendError::Hyper)?;
        let mut r = http::Request::new(Full::new(req.body.unwrap_or_default()));
        *r.method_mut() = req.method;
        let Dest::Path(path) = req.dest else {
            return Err(SendError::Protocol);
        };
        *r.uri_mut() = path;
        *r.headers_mut() = req.headers;
        r.headers_mut()
            .entry(http::header::HOST)
            .or_insert_with(|| self.authority.clone());
        conn.sender.send_request(r).await.map_err(SendError::Hyper)
    }

    async fn connect(&self) -> Result<Conn, ErrorKind> {
        let addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|_| ErrorKind::Dns)?;
        let addr = addrs
            .into_iter()
            .find(|a| address_allowed(&self.host, a.ip(), &self.allow))
            .ok_or(ErrorKind::Blocked)?;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| classify_chain(Some(&e)).unwrap_or(ErrorKind::Connect))?;
        let _ = stream.set_nodelay(true);
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| ErrorKind::Protocol)?;
        tokio::spawn(async move {
            let _ = driver.await;
        });
        Ok(Conn {
            sender,
            idle_since: Instant::now(),
        })
    }
}

/// A VU's own connection for the direct transport; cloning a VU never shares it.
#[derive(Default)]
pub struct ConnSlot(
    Option<Conn>,
    /// Set when the last request was re-sent because its kept-alive connection was stale.
    bool,
);

impl ConnSlot {
    /// Whether the last request had to be re-sent on a fresh connection (and clears it).
    pub fn take_stale_retry(&mut self) -> bool {
        std::mem::take(&mut self.1)
    }
}

impl Clone for ConnSlot {
    fn clone(&self) -> Self {
        ConnSlot(None, false)
    }
}

impl std::fmt::Debug for ConnSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ConnSlot(open)"
        } else {
            "ConnSlot(none)"
        })
    }
}
