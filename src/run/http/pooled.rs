//! The reqwest-based transport: one client per target with a shared pool, redirects
//! (checked against the allowlist at every hop), TLS with optional extra roots, HTTP/2.

use super::classify::{address_allowed, classify_chain, Blocked};
use super::types::{BodyCap, ClientError, Dest, Failure, Outgoing, Response};
use crate::config::{host_allowed, TargetSpec};
use crate::measure::ErrorKind;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

    pub(super) async fn send(&self, req: Outgoing, keep_body: bool) -> Result<Response, Failure> {
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
        if max == 0 {
            // None followed: the 3xx is the response.
            attempt.stop()
        } else if attempt.previous().len() > max as usize {
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
                .filter(|a| address_allowed(&host, a.ip(), &allow))
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
fn classify_reqwest(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    match classify_chain(e.source()) {
        Some(kind) => kind,
        None if e.is_connect() => ErrorKind::Connect,
        None => ErrorKind::Protocol,
    }
}
