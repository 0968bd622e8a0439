//! The direct transport: each VU slot owns one HTTP/1.1 connection, driven by hyper's
//! connection API with no pool, no per-request URL parsing and no redirect machinery. Plain
//! HTTP only (validated at load time). A connection is reopened when the server closes it.

use super::client::{classify_chain, BodyCap, ConnSlot, Failure, Outgoing, Response};
use crate::config::{host_allowed, TargetSpec};
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
}

/// The direct transport of one target.
pub struct Direct {
    host: String,
    port: u16,
    authority: HeaderValue,
    allow: Vec<String>,
    timeout: Duration,
    max_body: usize,
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
        let conn = slot.0.as_mut().expect("connection was just opened");
        conn.sender
            .ready()
            .await
            .map_err(|e| fail(classify_chain(Some(&e)).unwrap_or(ErrorKind::Reset)))?;
        let mut r = http::Request::new(Full::new(req.body.unwrap_or_default()));
        *r.method_mut() = req.method;
        let super::client::Dest::Path(path) = req.dest else {
            return Err(fail(ErrorKind::Protocol));
        };
        *r.uri_mut() = path;
        *r.headers_mut() = req.headers;
        r.headers_mut()
            .entry(http::header::HOST)
            .or_insert_with(|| self.authority.clone());
        let sent = Instant::now();
        let resp = conn
            .sender
            .send_request(r)
            .await
            .map_err(|e| fail(classify_chain(Some(&e)).unwrap_or(ErrorKind::Protocol)))?;
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
        Ok(Response {
            status,
            headers: parts.headers,
            body: cap.finish(),
            ttfb,
        })
    }

    async fn connect(&self) -> Result<Conn, ErrorKind> {
        let addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|_| ErrorKind::Dns)?;
        let name_ok = host_allowed(&self.host, &self.allow).is_ok();
        let addr = addrs
            .into_iter()
            .find(|a| {
                let ip = a.ip().to_string();
                host_allowed(&ip, &[]).is_ok()
                    && (name_ok || host_allowed(&ip, &self.allow).is_ok())
            })
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
        Ok(Conn { sender })
    }
}
