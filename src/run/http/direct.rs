//! The direct transport: each VU slot owns one HTTP/1.1 connection and speaks it itself, in
//! the VU's own task: the request head is written with one `write`, the response head is
//! parsed in place with `httparse` (the parser hyper uses) and the body is framed by its
//! length, by chunks or by the end of the connection. No pool, no connection task, no
//! channel between the two, no per-request URL parsing, no redirect machinery. Plain HTTP
//! only (validated at load time). A connection is reopened when the server closes it.
//!
//! Measured with perf on `hit -c 50` (benches/compare.sh): hyper's client connection cost a
//! channel send, a cross-task wake and a dispatcher poll per request on top of the parse;
//! they were the largest user-space items after the kernel's TCP path.

use super::classify::{address_allowed, classify_chain};
use super::types::{BodyCap, Dest, Failure, Keep, Outgoing, Response};
use crate::config::TargetSpec;
use crate::measure::ErrorKind;
use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One VU's connection and what it has read beyond the last response.
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    /// When the last exchange on it ended: a connection idle longer than
    /// [`STALE_AFTER_IDLE`] may have been closed by the target's keep-alive timeout.
    idle_since: Instant,
}

/// Idle time after which a kept-alive connection is at risk of a keep-alive close at reuse;
/// idempotent requests sent on one are kept for one re-send on a fresh connection. Below it
/// (a closed loop) nothing is kept, so the hot path pays nothing.
const STALE_AFTER_IDLE: Duration = Duration::from_millis(500);

/// Idle time after which a connection is checked for a close that has already arrived (one
/// non-blocking read) before it is reused.
const CHECK_AFTER_IDLE: Duration = Duration::from_millis(2);

/// Bytes made room for before a read. A connection holds no buffer while it waits for a
/// response (it waits for readability first) or between requests: with 10,000 VUs an 8-KiB
/// buffer each was 80 MB of the generator's RSS.
const READ_CHUNK: usize = 4096;

/// The largest response head read; more is a protocol error.
const MAX_HEAD: usize = 64 * 1024;
/// Response headers parsed at most.
const MAX_HEADERS: usize = 100;

/// The direct transport of one target.
pub struct Direct {
    host: String,
    port: u16,
    authority: HeaderValue,
    allow: Vec<String>,
    timeout: Duration,
    max_body: usize,
}

/// How an exchange ended without a response.
enum Trip {
    /// Nothing of a response arrived: the connection was closed or reset under the request
    /// (at reuse, the pool's problem; see C5).
    Stale(ErrorKind),
    Failed(Failure),
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
        keep: Keep,
    ) -> Result<Response, Failure> {
        let limit = req.timeout.unwrap_or(self.timeout);
        match tokio::time::timeout(limit, self.exchange(req, slot, keep)).await {
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
        keep: Keep,
    ) -> Result<Response, Failure> {
        let wire = match req.wire {
            Some(w) => w,
            None => Bytes::from(self.encode(&req).map_err(fail)?),
        };
        let mut sent = Instant::now();
        let mut idle = Duration::ZERO;
        if let Some(c) = &slot.0 {
            idle = sent.saturating_duration_since(c.idle_since);
            if idle >= CHECK_AFTER_IDLE && closed(&c.stream) {
                slot.0 = None;
            }
        }
        if slot.0.is_none() {
            slot.0 = Some(Box::pin(self.connect()).await.map_err(fail)?);
            (sent, idle) = (Instant::now(), Duration::ZERO);
        }
        let conn = slot.0.as_mut().expect("opened above");
        let at_risk = idle >= STALE_AFTER_IDLE && req.method.is_idempotent();
        let head_only = req.method == Method::HEAD;
        let done = match self.round_trip(conn, &wire, head_only, keep, sent).await {
            Ok(done) => done,
            // C5: the target closed the kept-alive connection as the request went out; that
            // is the pool's problem, not the target's: re-send once on a fresh connection.
            Err(Trip::Stale(_)) if at_risk => {
                slot.1 = true;
                slot.0 = Some(Box::pin(self.connect()).await.map_err(fail)?);
                let conn = slot.0.as_mut().expect("opened above");
                match self
                    .round_trip(conn, &wire, head_only, keep, Instant::now())
                    .await
                {
                    Ok(done) => done,
                    Err(Trip::Stale(kind)) => return Err(fail(kind)),
                    Err(Trip::Failed(f)) => return Err(f),
                }
            }
            Err(Trip::Stale(kind)) => return Err(fail(kind)),
            Err(Trip::Failed(f)) => return Err(f),
        };
        let (response, keep_alive) = done;
        match slot.0.as_mut() {
            Some(c) if keep_alive => {
                c.idle_since = Instant::now();
                if c.buf.is_empty() {
                    c.buf = BytesMut::new();
                }
            }
            _ => slot.0 = None,
        }
        Ok(response)
    }

    /// The request as it goes on the wire: head and body in one buffer, one write.
    pub(super) fn encode(&self, req: &Outgoing) -> Result<Vec<u8>, ErrorKind> {
        let Dest::Path(path) = &req.dest else {
            return Err(ErrorKind::Protocol);
        };
        let target = path.path_and_query().map_or("/", |p| p.as_str());
        let body = req.body.as_deref().unwrap_or_default();
        let mut w = Vec::with_capacity(128 + target.len() + body.len() + 64 * req.headers.len());
        w.extend_from_slice(req.method.as_str().as_bytes());
        w.push(b' ');
        w.extend_from_slice(target.as_bytes());
        w.extend_from_slice(b" HTTP/1.1\r\n");
        if !req.headers.contains_key(http::header::HOST) {
            w.extend_from_slice(b"host: ");
            w.extend_from_slice(self.authority.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        for (name, value) in &req.headers {
            w.extend_from_slice(name.as_str().as_bytes());
            w.extend_from_slice(b": ");
            w.extend_from_slice(value.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        let framed = req.headers.contains_key(http::header::CONTENT_LENGTH)
            || req.headers.contains_key(http::header::TRANSFER_ENCODING);
        let needs_length =
            !body.is_empty() || matches!(req.method, Method::POST | Method::PUT | Method::PATCH);
        if needs_length && !framed {
            w.extend_from_slice(b"content-length: ");
            w.extend_from_slice(body.len().to_string().as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        w.extend_from_slice(b"\r\n");
        w.extend_from_slice(body);
        Ok(w)
    }

    /// Writes the request and reads its response; `true` beside it when the connection may
    /// be reused.
    async fn round_trip(
        &self,
        conn: &mut Conn,
        wire: &[u8],
        head_only: bool,
        keep: Keep,
        sent: Instant,
    ) -> Result<(Response, bool), Trip> {
        if let Err(e) = conn.stream.write_all(wire).await {
            return Err(Trip::Stale(io_kind(&e)));
        }
        let head = read_head(conn, keep.headers).await?;
        let ttfb = sent.elapsed();
        let with_status = |kind| Failure {
            kind,
            status: Some(head.status),
            ttfb: Some(ttfb),
        };
        let mut cap = BodyCap::new(self.max_body, keep.body, head.length(head_only))
            .map_err(|k| Trip::Failed(with_status(k)))?;
        let framing = head.framing(head_only);
        read_body(conn, framing, &mut cap)
            .await
            .map_err(|k| Trip::Failed(with_status(k)))?;
        let keep_alive = head.keep_alive && !matches!(framing, Framing::UntilClose);
        Ok((
            Response {
                status: head.status,
                headers: head.headers,
                body: cap.finish(),
                ttfb,
            },
            keep_alive,
        ))
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
        Ok(Conn {
            stream,
            buf: BytesMut::new(),
            idle_since: Instant::now(),
        })
    }
}

fn io_kind(e: &std::io::Error) -> ErrorKind {
    classify_chain(Some(e)).unwrap_or(ErrorKind::Reset)
}

/// Whether a kept-alive connection has been closed by the peer (or sent something unasked)
/// while it was idle: one non-blocking read.
fn closed(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    !matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// A parsed response head.
struct Head {
    status: u16,
    headers: HeaderMap,
    keep_alive: bool,
    chunked: bool,
    content_length: Option<u64>,
}

/// How the body of a response ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

impl Head {
    fn framing(&self, head_only: bool) -> Framing {
        if head_only || self.status == 204 || self.status == 304 || self.status < 200 {
            Framing::None
        } else if self.chunked {
            Framing::Chunked
        } else {
            match self.content_length {
                Some(0) => Framing::None,
                Some(n) => Framing::Length(n),
                None => Framing::UntilClose,
            }
        }
    }

    /// The declared body length, for the body cap.
    fn length(&self, head_only: bool) -> Option<u64> {
        match self.framing(head_only) {
            Framing::Length(n) => Some(n),
            Framing::None => Some(0),
            _ => None,
        }
    }
}

/// Reads until a final (non-1xx) response head is complete and takes it off the buffer.
async fn read_head(conn: &mut Conn, keep_headers: bool) -> Result<Head, Trip> {
    let mut received = !conn.buf.is_empty();
    loop {
        let parsed = parse_head(&mut conn.buf, keep_headers).map_err(|k| Trip::Failed(fail(k)))?;
        if let Some(head) = parsed {
            if (100..200).contains(&head.status) && head.status != 101 {
                continue;
            }
            return Ok(head);
        }
        if conn.buf.len() > MAX_HEAD {
            return Err(Trip::Failed(fail(ErrorKind::Protocol)));
        }
        match read_more(conn).await {
            Ok(0) if !received => return Err(Trip::Stale(ErrorKind::Reset)),
            Ok(0) => return Err(Trip::Failed(fail(ErrorKind::Reset))),
            Ok(_) => received = true,
            Err(e) if !received => return Err(Trip::Stale(io_kind(&e))),
            Err(e) => return Err(Trip::Failed(fail(io_kind(&e)))),
        }
    }
}

/// Parses a complete head at the start of `buf` (and advances past it); `None` when more
/// bytes are needed. The framing headers are always read; a `HeaderMap` (an allocation per
/// header) is built only when `keep_headers`.
fn parse_head(buf: &mut BytesMut, keep_headers: bool) -> Result<Option<Head>, ErrorKind> {
    // Uninitialised slots: filling 100 empty headers first was most of this function's time.
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut r, buf, &mut slots);
    let n = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ErrorKind::Protocol),
    };
    let status = r.code.ok_or(ErrorKind::Protocol)?;
    let http11 = r.version == Some(1);
    let mut head = Head {
        status,
        headers: HeaderMap::new(),
        keep_alive: http11,
        chunked: false,
        content_length: None,
    };
    if keep_headers {
        head.headers.reserve(r.headers.len());
    }
    for h in r.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or(ErrorKind::Protocol)?;
            if head.content_length.is_some_and(|m| m != n) {
                return Err(ErrorKind::Protocol);
            }
            head.content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            head.chunked = std::str::from_utf8(h.value)
                .is_ok_and(|v| v.to_ascii_lowercase().trim_end().ends_with("chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.contains("close") {
                head.keep_alive = false;
            } else if v.contains("keep-alive") {
                head.keep_alive = true;
            }
        }
        if keep_headers {
            let name = HeaderName::from_bytes(name).map_err(|_| ErrorKind::Protocol)?;
            let value = HeaderValue::from_bytes(h.value).map_err(|_| ErrorKind::Protocol)?;
            head.headers.append(name, value);
        }
    }
    buf.advance(n);
    Ok(Some(head))
}

/// Reads a body as framed into the cap. The end of the connection ends an unframed body; it
/// cuts a framed one short (a reset).
async fn read_body(conn: &mut Conn, framing: Framing, cap: &mut BodyCap) -> Result<(), ErrorKind> {
    match framing {
        Framing::None => Ok(()),
        Framing::Length(n) => {
            let mut left = n;
            loop {
                let take = (conn.buf.len() as u64).min(left) as usize;
                cap.push(&conn.buf[..take])?;
                conn.buf.advance(take);
                left -= take as u64;
                if left == 0 {
                    return Ok(());
                }
                fill(conn).await?;
            }
        }
        Framing::UntilClose => loop {
            cap.push(&conn.buf)?;
            conn.buf.clear();
            match read_more(conn).await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(io_kind(&e)),
            }
        },
        Framing::Chunked => loop {
            let (used, size) = match httparse::parse_chunk_size(&conn.buf) {
                Ok(httparse::Status::Complete(x)) => x,
                Ok(httparse::Status::Partial) => {
                    fill(conn).await?;
                    continue;
                }
                Err(_) => return Err(ErrorKind::Protocol),
            };
            conn.buf.advance(used);
            if size == 0 {
                return skip_trailers(conn).await;
            }
            let mut left = size;
            while left > 0 {
                if conn.buf.is_empty() {
                    fill(conn).await?;
                }
                let take = (conn.buf.len() as u64).min(left) as usize;
                cap.push(&conn.buf[..take])?;
                conn.buf.advance(take);
                left -= take as u64;
            }
            while conn.buf.len() < 2 {
                fill(conn).await?;
            }
            if &conn.buf[..2] != b"\r\n" {
                return Err(ErrorKind::Protocol);
            }
            conn.buf.advance(2);
        },
    }
}

/// Skips the trailer section after the last chunk, up to its empty line.
async fn skip_trailers(conn: &mut Conn) -> Result<(), ErrorKind> {
    loop {
        match conn.buf.windows(2).position(|w| w == b"\r\n") {
            Some(0) => {
                conn.buf.advance(2);
                return Ok(());
            }
            Some(end) => conn.buf.advance(end + 2),
            None if conn.buf.len() > MAX_HEAD => return Err(ErrorKind::Protocol),
            None => fill(conn).await?,
        }
    }
}

/// Reads what has arrived into the buffer, waiting for it without holding a buffer.
async fn read_more(conn: &mut Conn) -> std::io::Result<usize> {
    if conn.buf.capacity() - conn.buf.len() < READ_CHUNK / 8 {
        conn.stream.readable().await?;
        conn.buf.reserve(READ_CHUNK);
    }
    conn.stream.read_buf(&mut conn.buf).await
}

/// Reads more into the buffer; the end of the connection here cuts a body short.
async fn fill(conn: &mut Conn) -> Result<(), ErrorKind> {
    match read_more(conn).await {
        Ok(0) => Err(ErrorKind::Reset),
        Ok(_) => Ok(()),
        Err(e) => Err(io_kind(&e)),
    }
}

/// A VU's own connection for the direct transport; cloning a VU never shares it.
#[derive(Default)]
pub struct ConnSlot(
    Option<Conn>,
    /// Set when the last request was re-sent because its kept-alive connection was stale.
    bool,
    /// The origin the connection is to, when a VU may send to several (scripts).
    Option<String>,
);

impl ConnSlot {
    /// The origin this slot's connection is to, if it was set.
    pub fn origin(&self) -> Option<&str> {
        self.2.as_deref()
    }

    /// Marks the slot as one to `origin` (a script VU changing origins starts afresh).
    pub fn set_origin(&mut self, origin: String) {
        self.2 = Some(origin);
    }

    /// Whether the last request had to be re-sent on a fresh connection (and clears it).
    pub fn take_stale_retry(&mut self) -> bool {
        std::mem::take(&mut self.1)
    }
}

impl Clone for ConnSlot {
    fn clone(&self) -> Self {
        ConnSlot(None, false, None)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Transport;
    use tokio::net::TcpListener;

    /// A loopback server that answers each request on a connection with the next canned
    /// reply, and closes the connection after the last one.
    async fn canned(replies: Vec<&'static [u8]>) -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for reply in replies {
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                s.write_all(reply).await.unwrap();
            }
        });
        format!("http://{addr}")
    }

    fn direct(base: &str) -> Direct {
        let target = TargetSpec {
            name: "t".into(),
            base_url: base.parse().unwrap(),
            headers: Vec::new(),
            timeout: Duration::from_secs(2),
            max_redirects: 0,
            max_body: 1024,
            http2: false,
            transport: Transport::Direct,
            ca_pem: None,
        };
        Direct::new(&target, &[])
    }

    fn get(method: Method) -> Outgoing {
        Outgoing {
            method,
            dest: Dest::Path("/x?y=1".parse().unwrap()),
            headers: HeaderMap::new(),
            body: None,
            timeout: None,
            wire: None,
        }
    }

    const ALL: Keep = Keep {
        body: true,
        headers: true,
    };
    /// No header map: framing and keep-alive must still come from the raw head.
    const BODY_ONLY: Keep = Keep {
        body: true,
        headers: false,
    };

    #[tokio::test]
    async fn bodies_are_framed_by_length_chunks_and_close_and_1xx_is_skipped() {
        let base = canned(vec![
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nx-trailer: t\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end",
        ])
        .await;
        let d = direct(&base);
        let mut slot = ConnSlot::default();
        let r = d.send(get(Method::GET), &mut slot, ALL).await.unwrap();
        assert_eq!((r.status, r.body.as_deref()), (200, Some(&b"hello"[..])));
        assert_eq!(r.headers["x-a"], "1");
        let r = d
            .send(get(Method::GET), &mut slot, BODY_ONLY)
            .await
            .unwrap();
        assert_eq!(
            r.body.as_deref(),
            Some(&b"abcdefg"[..]),
            "chunks joined, trailer skipped"
        );
        assert!(r.headers.is_empty(), "not asked for");
        let r = d.send(get(Method::GET), &mut slot, ALL).await.unwrap();
        assert_eq!((r.status, r.body.as_deref()), (204, Some(&b""[..])));
        // A HEAD response announces a length but has no body.
        let r = d.send(get(Method::HEAD), &mut slot, ALL).await.unwrap();
        assert_eq!(r.body.as_deref(), Some(&b""[..]));
        let mut pre = get(Method::GET);
        pre.wire = Some(d.encode(&pre).unwrap().into());
        pre.dest = Dest::Url("http://127.0.0.1:1/unused".parse().unwrap());
        let r = d.send(pre, &mut slot, BODY_ONLY).await.unwrap();
        assert_eq!(r.body.as_deref(), Some(&b"until the end"[..]));
        assert!(slot.0.is_none(), "a connection: close reply is not reused");
        assert!(!slot.take_stale_retry());
    }

    #[tokio::test]
    async fn bad_heads_and_short_bodies_are_named() {
        for (reply, kind) in [
            (&b"HTTP/1.1 2000 What\r\n\r\n"[..], ErrorKind::Protocol),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nab",
                ErrorKind::Protocol,
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
                ErrorKind::Reset,
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 4096\r\n\r\n",
                ErrorKind::BodyTooLarge,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                ErrorKind::Protocol,
            ),
        ] {
            let base = canned(vec![reply]).await;
            let d = direct(&base);
            let mut slot = ConnSlot::default();
            let e = d.send(get(Method::GET), &mut slot, ALL).await.unwrap_err();
            assert_eq!(e.kind, kind, "{}", String::from_utf8_lossy(reply));
            assert!(slot.0.is_none(), "a failed connection is dropped");
        }
    }

    #[test]
    fn requests_are_written_with_host_and_length() {
        let d = direct("http://127.0.0.1:8080");
        let mut req = get(Method::POST);
        req.headers.insert("x-k", HeaderValue::from_static("v"));
        req.body = Some(bytes::Bytes::from_static(b"{}"));
        let wire = String::from_utf8(d.encode(&req).unwrap()).unwrap();
        assert_eq!(
            wire,
            "POST /x?y=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-k: v\r\ncontent-length: 2\r\n\r\n{}"
        );
        let wire = String::from_utf8(d.encode(&get(Method::GET)).unwrap()).unwrap();
        assert_eq!(wire, "GET /x?y=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n\r\n");
    }
}
