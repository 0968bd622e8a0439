//! Why a request failed: the error taxonomy shared by requests and stream connects.

use serde::Serialize;

/// Why a request failed. The label values are part of the public metric and JSON schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The per-request timeout fired.
    Timeout,
    /// TCP connect failed (refused or unreachable).
    Connect,
    /// loadpacer refused the destination itself: a redirect, or a name resolving, outside
    /// `limits.allow_targets` or into the always-refused ranges.
    Blocked,
    /// Name resolution failed.
    Dns,
    /// TLS handshake failure other than the certificate cases below (protocol, stall).
    Tls,
    /// The certificate does not chain to a trusted root (self-signed, unknown CA).
    TlsUntrusted,
    /// The certificate is expired or not yet valid.
    TlsExpired,
    /// The certificate is not valid for the target's host name.
    TlsHostname,
    /// The peer reset or closed the connection mid-exchange.
    Reset,
    /// The response was not valid HTTP.
    Protocol,
    /// The status was not an expected one: not in the request's `status` check, or 4xx/5xx
    /// without one. (A failed check of another kind is counted as a failed check, not as an
    /// error.)
    Status,
    /// The response body exceeded the configured cap.
    BodyTooLarge,
    /// Still in flight when the run's stop budget ran out (an interrupt, an abort): sent,
    /// never answered in the time the run had.
    Cancelled,
}

impl ErrorKind {
    /// Every kind, in label order.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Blocked,
        ErrorKind::Dns,
        ErrorKind::Tls,
        ErrorKind::TlsUntrusted,
        ErrorKind::TlsExpired,
        ErrorKind::TlsHostname,
        ErrorKind::Reset,
        ErrorKind::Protocol,
        ErrorKind::Status,
        ErrorKind::BodyTooLarge,
        ErrorKind::Cancelled,
    ];

    /// The label value used in metrics and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Blocked => "blocked",
            ErrorKind::Dns => "dns",
            ErrorKind::Tls => "tls",
            ErrorKind::TlsUntrusted => "tls_untrusted",
            ErrorKind::TlsExpired => "tls_expired",
            ErrorKind::TlsHostname => "tls_hostname",
            ErrorKind::Reset => "reset",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Status => "status",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::Cancelled => "cancelled",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}
