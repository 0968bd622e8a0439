//! The HTTP transports, behind one small interface with two implementations:
//! - `pooled`: one reqwest client per target (redirects, TLS, HTTP/2, shared pool);
//! - `direct`: one HTTP/1.1 connection owned by each VU slot, driven by hyper directly,
//!   for plain-HTTP load where the generator's own cost matters (`hit`).
//!
//! `types` holds what both exchange, `classify` how failures become error kinds and the
//! one address check both apply at connect time. Dependencies point one way:
//! `mod` → `pooled`, `direct` → `types`, `classify`.

mod classify;
mod direct;
mod pooled;
mod types;

pub(in crate::run) use classify::address_allowed;
pub use direct::ConnSlot;
pub use pooled::Pooled;
pub use types::{ClientError, Dest, Failure, Keep, Outgoing, Response};

use crate::config::{TargetSpec, Transport};

/// A client bound to one target's settings.
pub enum Client {
    Pooled(Pooled),
    Direct(direct::Direct),
}

impl Client {
    /// Builds the client the target asks for.
    pub fn new(target: &TargetSpec, allow: &[String]) -> Result<Self, ClientError> {
        Ok(match target.transport {
            Transport::Pooled => Client::Pooled(Pooled::new(target, allow)?),
            Transport::Direct => Client::Direct(direct::Direct::new(target, allow)),
        })
    }

    /// Sends a request and reads its body: kept if `keep.body`, otherwise drained; past the
    /// cap the exchange fails with `body_too_large`. `conn` is the VU's own connection,
    /// used by the direct transport only.
    pub async fn send(
        &self,
        req: Outgoing,
        conn: &mut ConnSlot,
        keep: Keep,
    ) -> Result<Response, Failure> {
        match self {
            Client::Pooled(c) => c.send(req, keep.body).await,
            Client::Direct(c) => c.send(req, conn, keep).await,
        }
    }

    /// The bytes the direct transport would write for `req`, for a request sent unchanged
    /// many times; `None` for the pooled transport.
    pub fn pre_encode(&self, req: &Outgoing) -> Option<bytes::Bytes> {
        match self {
            Client::Pooled(_) => None,
            Client::Direct(c) => c.encode(req).ok().map(Into::into),
        }
    }
}
