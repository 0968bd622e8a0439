//! The HTTP transport: one pooled reqwest client per target, bodies streamed under a cap,
//! failures classified into [`ErrorKind`]s.

use crate::config::{host_allowed, TargetSpec};
use crate::measure::ErrorKind;
use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A response as the scenario sees it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
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
    target: String,
    source: reqwest::Error,
}

/// A pooled client bound to one target's settings.
#[derive(Clone)]
pub struct Client {
    inner: reqwest::Client,
    max_body: usize,
}

impl Client {
    /// Builds the client. Resolved addresses are checked against `allow` at connect time, so
    /// a DNS answer cannot redirect load to a refused address.
    pub fn new(target: &TargetSpec, allow: &[String]) -> Result<Self, ClientError> {
        let mut b = reqwest::Client::builder()
            .timeout(target.timeout)
            .connect_timeout(target.timeout.min(Duration::from_secs(10)))
            // Below common server keep-alive timeouts (nginx 75 s, Node 5 s is the outlier),
            // so a pooled connection is rarely closed under us at reuse.
            .pool_idle_timeout(Duration::from_secs(4))
            .pool_max_idle_per_host(usize::MAX)
            .tcp_nodelay(true)
            .redirect(redirect_policy(target.max_redirects, allow.to_vec()))
            .dns_resolver(Arc::new(CheckedResolver {
                allow: allow.to_vec(),
            }))
            .user_agent(concat!("loadpacer/", env!("CARGO_PKG_VERSION")));
        if !target.http2 {
            b = b.http1_only();
        }
        let inner = b.build().map_err(|source| ClientError {
            target: target.name.clone(),
            source,
        })?;
        Ok(Self {
            inner,
            max_body: target.max_body,
        })
    }

    /// Sends a request and reads its body: kept if `keep_body`, otherwise drained. Either way
    /// at most the cap is read; past it the exchange fails with `body_too_large`.
    pub async fn send(&self, req: reqwest::Request, keep_body: bool) -> Result<Response, Failure> {
        let sent = Instant::now();
        let mut resp = self.inner.execute(req).await.map_err(|e| Failure {
            kind: classify(&e),
            status: None,
            ttfb: None,
        })?;
        let ttfb = sent.elapsed();
        let status = resp.status().as_u16();
        let fail = |kind| Failure {
            kind,
            status: Some(status),
            ttfb: Some(ttfb),
        };
        if resp
            .content_length()
            .is_some_and(|n| n as usize > self.max_body)
        {
            return Err(fail(ErrorKind::BodyTooLarge));
        }
        let mut kept = keep_body.then(BytesMut::new);
        let mut read = 0usize;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    if read > self.max_body {
                        return Err(fail(ErrorKind::BodyTooLarge));
                    }
                    if let Some(k) = kept.as_mut() {
                        k.extend_from_slice(&chunk);
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(fail(classify(&e))),
            }
        }
        Ok(Response {
            status,
            headers: std::mem::take(resp.headers_mut()),
            body: kept.map(BytesMut::freeze),
            ttfb,
        })
    }

    /// The underlying client, for building requests.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.inner
    }
}

fn redirect_policy(max: u32, allow: Vec<String>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let host = attempt.url().host_str().unwrap_or_default().to_string();
        if attempt.previous().len() > max as usize {
            attempt.error(format!("more than {max} redirects"))
        } else if !matches!(attempt.url().scheme(), "http" | "https") {
            attempt.stop()
        } else if let Err(e) = host_allowed(&host, &allow) {
            attempt.error(Blocked(format!("redirect to {host} refused: {e}")))
        } else {
            attempt.follow()
        }
    })
}

/// A connection refused by loadpacer itself (allowlist or address rules).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Blocked(String);

struct CheckedResolver {
    allow: Vec<String>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| {
                    // A name that is itself allowlisted may resolve anywhere but to the
                    // always-refused ranges; otherwise the address must be allowlisted too.
                    host_allowed(&a.ip().to_string(), &[]).is_ok()
                        && (host_allowed(&host, &allow).is_ok()
                            || host_allowed(&a.ip().to_string(), &allow).is_ok())
                })
                .collect();
            if allowed.is_empty() {
                let e: Box<dyn StdError + Send + Sync> = Box::new(Blocked(format!(
                    "{host} resolved only to refused addresses"
                )));
                return Err(e);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Maps a reqwest failure to an error kind by walking its source chain.
pub fn classify(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    let mut src: Option<&(dyn StdError + 'static)> = e.source();
    let mut text = String::new();
    while let Some(s) = src {
        if s.is::<Blocked>() {
            return ErrorKind::Connect;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    return ErrorKind::Reset
                }
                K::ConnectionRefused
                | K::AddrNotAvailable
                | K::HostUnreachable
                | K::NetworkUnreachable => return ErrorKind::Connect,
                K::TimedOut => return ErrorKind::Timeout,
                _ => {}
            }
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() {
                return ErrorKind::Reset;
            }
            if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
                return ErrorKind::Protocol;
            }
        }
        text.push_str(&s.to_string().to_ascii_lowercase());
        text.push(' ');
        src = s.source();
    }
    if text.contains("dns error")
        || text.contains("failed to lookup")
        || text.contains("name or service")
    {
        ErrorKind::Dns
    } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        ErrorKind::Tls
    } else if e.is_connect() {
        ErrorKind::Connect
    } else if e.is_redirect() {
        ErrorKind::Protocol
    } else if text.contains("connection closed") || text.contains("reset") {
        ErrorKind::Reset
    } else {
        ErrorKind::Protocol
    }
}
