//! How a failed exchange becomes an [`ErrorKind`], and the address rule both transports
//! apply at connect time.

use crate::config::host_allowed;
use crate::measure::ErrorKind;
use std::error::Error as StdError;
use std::net::IpAddr;

/// A connection refused by loadpacer itself (allowlist or address rules).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Blocked(pub(super) String);

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

/// Whether loadpacer may connect to `ip`, which `name` resolved to: never to the
/// always-refused ranges; otherwise the name or the address must be in `allow` (an
/// allowlisted name may resolve anywhere else). Checked at connect time by both
/// transports, so a DNS answer cannot point load somewhere the file could not.
pub(in crate::run) fn address_allowed(name: &str, ip: IpAddr, allow: &[String]) -> bool {
    let ip = ip.to_string();
    host_allowed(&ip, &[]).is_ok()
        && (host_allowed(name, allow).is_ok() || host_allowed(&ip, allow).is_ok())
}
