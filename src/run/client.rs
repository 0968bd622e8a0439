//! The HTTP transport, behind one small interface with two implementations:
//! - `pooled`: one reqwest client per target (redirects, TLS, HTTP/2, shared pool);
//! - `direct` (see `direct.rs`): one HTTP/1.1 connection owned by each VU slot, driven by
//!   hyper directly, for plain-HTTP load where the generator's own cost matters (`hit`).
//!
//! Bodies are streamed under a cap and failures are classified into [`ErrorKind`]s.

use crate::config::{host_allowed, TargetSpec, Transport};
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

/// A request ready to send: built once per request for static requests, cloned cheaply.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: http::Method,
    pub dest: Dest,
    pub headers: http::HeaderMap,
    pub body: Option<Bytes>,
    pub timeout: Option<Duration>,
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

/// A client bound to one target's settings.
pub enum Client {
    Pooled(Pooled),
    Direct(super::direct::Direct),
}

impl Client {
    /// Builds the client the target asks for.
    pub fn new(target: &TargetSpec, allow: &[String]) -> Result<Self, ClientError> {
        Ok(match target.transport {
            Transport::Pooled => Client::Pooled(Pooled::new(target, allow)?),
            Transport::Direct => Client::Direct(super::direct::Direct::new(target, allow)),
        })
    }

    /// Sends a request and reads its body: kept if `keep_body`, otherwise drained; past the
    /// cap the exchange fails with `body_too_large`. `conn` is the VU's own connection,
    /// used by the direct transport only.
    pub async fn send(
        &self,
        req: Outgoing,
        conn: &mut ConnSlot,
        keep_body: bool,
    ) -> Result<Response, Failure> {
        match self {
            Client::Pooled(c) => c.send(req, keep_body).await,
            Client::Direct(c) => c.send(req, conn, keep_body).await,
        }
    }
}

/// A VU's own connection for the direct transport; cloning a VU never shares it.
#[derive(Default)]
pub struct ConnSlot(
    pub(super) Option<super::direct::Conn>,
    /// Set when the last request was re-sent because its kept-alive connection was stale.
    pub(super) bool,
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

/// The reqwest-based transport.
pub struct Pooled {
    inner: reqwest::Client,
    max_body: usize,
}

impl Pooled {
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
        for cert in target
            .ca_pem
            .as_deref()
            .map(reqwest::Certificate::from_pem_bundle)
            .transpose()
            .map_err(|source| ClientError {
                target: target.name.clone(),
                source,
            })?
            .unwrap_or_default()
        {
            b = b.add_root_certificate(cert);
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

    async fn send(&self, req: Outgoing, keep_body: bool) -> Result<Response, Failure> {
        let sent = Instant::now();
        let Dest::Url(url) = req.dest else {
            return Err(Failure {
                kind: ErrorKind::Protocol,
                status: None,
                ttfb: None,
            });
        };
        let mut r = reqwest::Request::new(req.method, url);
        *r.headers_mut() = req.headers;
        *r.body_mut() = req.body.map(Into::into);
        *r.timeout_mut() = req.timeout;
        let mut resp = self.inner.execute(r).await.map_err(|e| Failure {
            kind: classify_reqwest(&e),
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
        let mut body =
            BodyCap::new(self.max_body, keep_body, resp.content_length()).map_err(fail)?;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => body.push(&chunk).map_err(fail)?,
                Ok(None) => break,
                Err(e) => return Err(fail(classify_reqwest(&e))),
            }
        }
        Ok(Response {
            status,
            headers: std::mem::take(resp.headers_mut()),
            body: body.finish(),
            ttfb,
        })
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

/// Maps a reqwest failure to an error kind.
pub fn classify_reqwest(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    match classify_chain(e.source()) {
        Some(kind) => kind,
        None if e.is_connect() => ErrorKind::Connect,
        None => ErrorKind::Protocol,
    }
}

/// Classifies by walking an error's source chain: I/O kinds, hyper's own flags, then the
/// text of DNS and TLS errors (they have no typed marker reqwest exposes).
pub(super) fn classify_chain(mut src: Option<&(dyn StdError + 'static)>) -> Option<ErrorKind> {
    let mut text = String::new();
    while let Some(s) = src {
        if s.is::<Blocked>() {
            return Some(ErrorKind::Blocked);
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    return Some(ErrorKind::Reset)
                }
                K::ConnectionRefused
                | K::AddrNotAvailable
                | K::HostUnreachable
                | K::NetworkUnreachable => return Some(ErrorKind::Connect),
                K::TimedOut => return Some(ErrorKind::Timeout),
                _ => {}
            }
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() {
                return Some(ErrorKind::Reset);
            }
            if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
                return Some(ErrorKind::Protocol);
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
        Some(ErrorKind::Dns)
    } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        // rustls names the certificate problem in its message (no typed marker survives
        // reqwest's error chain).
        let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        Some(
            if squeezed.contains("notvalidforname") || squeezed.contains("notvalidforcontext") {
                ErrorKind::TlsHostname
            } else if squeezed.contains("expired") || squeezed.contains("notvalidyet") {
                ErrorKind::TlsExpired
            } else if squeezed.contains("unknownissuer")
                || squeezed.contains("self-signed")
                || squeezed.contains("selfsigned")
            {
                ErrorKind::TlsUntrusted
            } else {
                ErrorKind::Tls
            },
        )
    } else if text.contains("connection closed") || text.contains("reset") {
        Some(ErrorKind::Reset)
    } else {
        None
    }
}
