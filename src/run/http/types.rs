//! What the transports exchange with the scenario: the request, the response, a failure,
//! and the body cap both apply while streaming.

use crate::config::Transport;
use crate::measure::ErrorKind;
use bytes::{Bytes, BytesMut};
use std::time::Duration;

/// What of a response the scenario reads, so a transport can skip the rest.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    /// The body, up to the cap (otherwise it is drained and counted).
    pub body: bool,
    /// The headers (otherwise `Response::headers` may be empty).
    pub headers: bool,
}

/// A response as the scenario sees it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Empty when not asked for ([`Keep::headers`]) on the direct transport.
    pub headers: http::HeaderMap,
    /// The body, kept only when asked for (up to the cap).
    pub body: Option<Bytes>,
    /// From the send to the response headers.
    pub ttfb: Duration,
}

/// A failed exchange.
#[derive(Debug)]
pub struct Failure {
    pub kind: ErrorKind,
    /// Present when the failure came after the headers (reset mid-body, body too large).
    pub status: Option<u16>,
    pub ttfb: Option<Duration>,
}

/// Could not build the client for a target.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client for target {target}: {source}")]
pub struct ClientError {
    pub(super) target: String,
    pub(super) source: reqwest::Error,
}

/// A request ready to send: built once per request for static requests, cloned cheaply.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: http::Method,
    pub dest: Dest,
    pub headers: http::HeaderMap,
    pub body: Option<Bytes>,
    pub timeout: Option<Duration>,
    /// The whole request as the direct transport writes it, encoded once for a request with
    /// nothing templated ([`super::Client::pre_encode`]); `headers` and `body` are then left
    /// empty and the transport sends these bytes as they are.
    pub wire: Option<Bytes>,
}

/// Where a request goes, in the form its transport consumes without re-parsing.
#[derive(Debug, Clone)]
pub enum Dest {
    /// Absolute URL, for the pooled transport.
    Url(reqwest::Url),
    /// Origin-form path and query, for the direct transport.
    Path(http::Uri),
}

impl Dest {
    /// The form `transport` needs.
    pub fn for_transport(url: reqwest::Url, transport: Transport) -> Option<Dest> {
        match transport {
            Transport::Pooled => Some(Dest::Url(url)),
            Transport::Direct => url[url::Position::BeforePath..]
                .parse()
                .ok()
                .map(Dest::Path),
        }
    }
}

/// Counts body bytes against the cap and keeps them when asked.
pub(super) struct BodyCap {
    max: usize,
    read: usize,
    kept: Option<BytesMut>,
}

impl BodyCap {
    pub(super) fn new(max: usize, keep: bool, declared: Option<u64>) -> Result<Self, ErrorKind> {
        if declared.is_some_and(|n| n > max as u64) {
            return Err(ErrorKind::BodyTooLarge);
        }
        Ok(Self {
            max,
            read: 0,
            kept: keep.then(BytesMut::new),
        })
    }

    pub(super) fn push(&mut self, chunk: &[u8]) -> Result<(), ErrorKind> {
        self.read += chunk.len();
        if self.read > self.max {
            return Err(ErrorKind::BodyTooLarge);
        }
        if let Some(k) = self.kept.as_mut() {
            k.extend_from_slice(chunk);
        }
        Ok(())
    }

    pub(super) fn finish(self) -> Option<Bytes> {
        self.kept.map(BytesMut::freeze)
    }
}
