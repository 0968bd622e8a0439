//! What every streaming session (WebSocket or Server-Sent Events) books as it goes: its
//! messages with their gaps and the first one's delay, and how it ended, recorded when the
//! session is dropped whatever ended it (the flow, a fault, or the run's stop deadline).
//! The two protocols are its submodules: `ws` (WebSocket) and `sse` (Server-Sent Events).

use crate::measure::StreamEnd;
use crate::run::http::address_allowed;
use crate::run::vu::{lock, Sink};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub(super) mod sse;
pub(super) mod ws;

/// A plain or TLS connection under a stream.
pub(super) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The TLS client settings of a target's `wss` and `https` stream sessions, built on first use: the web PKI roots
/// plus the target's `ca_file`, never an insecure fallback.
pub(super) type TlsSettings = OnceLock<Result<Arc<rustls::ClientConfig>, String>>;

fn tls_settings(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("ca_file: {e}"))?;
            roots.add(cert).map_err(|e| format!("ca_file: {e}"))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// TCP to the first allowed address of the URL's host, within `timeout`.
async fn dial(url: &url::Url, allow: &[String]) -> Result<TcpStream, StreamEnd> {
    let host = url.host_str().ok_or(StreamEnd::Connect)?;
    let port = url.port_or_known_default().ok_or(StreamEnd::Connect)?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|_| StreamEnd::Connect)?
        .collect();
    let allowed: Vec<_> = addrs
        .into_iter()
        .filter(|a| address_allowed(bare, a.ip(), allow))
        .collect();
    if allowed.is_empty() {
        return Err(StreamEnd::Blocked);
    }
    let mut last = StreamEnd::Connect;
    for a in allowed {
        match TcpStream::connect(a).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => last = StreamEnd::Reset,
            Err(_) => last = StreamEnd::Connect,
        }
    }
    Err(last)
}

/// Where sessions may connect, and how they speak TLS.
pub(super) struct Net<'a> {
    /// `limits.allow_targets`.
    pub allow: &'a [String],
    pub tls: &'a TlsSettings,
}

/// TCP to the URL's host under the network rule, and TLS (web PKI roots plus `ca_pem`) for
/// `wss` and `https`.
pub(super) async fn connect_io(
    url: &url::Url,
    net: &Net<'_>,
    ca_pem: Option<&[u8]>,
) -> Result<Box<dyn Io>, StreamEnd> {
    let tcp = dial(url, net.allow).await?;
    if !matches!(url.scheme(), "wss" | "https") {
        return Ok(Box::new(tcp));
    }
    let config = net
        .tls
        .get_or_init(|| tls_settings(ca_pem))
        .clone()
        .map_err(|_| StreamEnd::Tls)?;
    let host = url.host_str().unwrap_or_default();
    let name = rustls::pki_types::ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    )
    .map_err(|_| StreamEnd::Tls)?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|_| StreamEnd::Tls)?;
    Ok(Box::new(tls))
}

/// Records the end of a session when it is dropped, whatever ended it (the flow, a fault, or
/// the run's stop deadline cutting the iteration).
pub(super) struct Session<'a> {
    pub sink: &'a Sink,
    pub index: usize,
    pub opened: Instant,
    pub end: StreamEnd,
    last_message: Option<Instant>,
    first_seen: bool,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        lock(self.sink)
            .stream(self.index)
            .ended(self.end, Some(self.opened.elapsed()));
    }
}

impl Session<'_> {
    /// Books a received data message.
    pub fn received(&mut self, bytes: usize) {
        let now = Instant::now();
        let gap = self.last_message.map(|t| now - t);
        let mut rec = lock(self.sink);
        let s = rec.stream(self.index);
        if !self.first_seen {
            self.first_seen = true;
            s.first(now - self.opened);
        }
        s.received(bytes, gap);
        self.last_message = Some(now);
    }
}

impl<'a> Session<'a> {
    /// A session of stream `index` that opened at `opened`.
    pub fn open(sink: &'a Sink, index: usize, opened: Instant) -> Self {
        Session {
            sink,
            index,
            opened,
            end: StreamEnd::Normal,
            last_message: None,
            first_seen: false,
        }
    }
}
