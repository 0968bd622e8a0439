//! The accept loop of the daemon's listener (and of `run --metrics-listen`), instead of
//! `axum::serve`, which sets no header-read timeout and waits for every connection to close
//! before it returns: a client that never finishes its request headers kept the daemon alive
//! after SIGTERM. Here a connection must send its headers within [`HEADER_READ_TIMEOUT`],
//! every request must be answered within [`REQUEST_TIMEOUT`] (body reads included), and on
//! shutdown open connections get [`CLOSE_GRACE`] to finish their current request before
//! they are dropped.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A client must have sent its request headers this long after connecting or after its
/// previous response.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request, body included, must be answered within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// After shutdown, connections get this long to finish their current request.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` is cancelled; returns once every
/// connection has closed or the close grace (1 s) has passed.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let router = router.layer(axum::middleware::from_fn(request_timeout));
    let connections = TaskTracker::new();
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(JsonParseErrors::new(stream)), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(CLOSE_GRACE, conn).await;
                }
            }
        });
    }
    connections.close();
    let _ = tokio::time::timeout(CLOSE_GRACE * 2, connections.wait()).await;
}

/// hyper answers a request it cannot parse (a space or `<` in the target, a malformed method
/// or header) itself, before any route, with an empty 400 (or 414, 431) and a close. This
/// connection wrapper rewrites that one head into the JSON error every other answer has, so
/// that docs/api.md's "every error is JSON" holds for those too.
struct JsonParseErrors<S> {
    inner: S,
    /// The rewritten answer still to be written, and how much of it was.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> JsonParseErrors<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

/// The JSON answer for hyper's own parse-error head, or `None` for any other write.
fn rewritten(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let (status, why) = [
        ("400 Bad Request", "the request could not be parsed as HTTP/1.1 (a malformed method, target or header; encode spaces and < > as %20, %3C, %3E)"),
        ("414 URI Too Long", "the request target is too long"),
        ("431 Request Header Fields Too Large", "the request headers are too large"),
    ]
    .into_iter()
    .find(|(s, _)| text.starts_with(&format!("HTTP/1.1 {s}\r\n")))?;
    if !text.contains("\r\ncontent-length: 0\r\n") || !text.ends_with("\r\n\r\n") {
        return None;
    }
    let body = serde_json::to_string(&super::types::ErrorBody { error: why.into() }).ok()?;
    Some(
        format!(
            "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for JsonParseErrors<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for JsonParseErrors<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        if self.pending.is_none() {
            match rewritten(buf) {
                Some(answer) => self.pending = Some((answer, 0)),
                None => return std::pin::Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        let this = &mut *self;
        let (answer, done) = this.pending.as_mut().expect("set above");
        while *done < answer.len() {
            match std::pin::Pin::new(&mut this.inner).poll_write(cx, &answer[*done..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        this.pending = None;
        // hyper wrote its head: all of it is accounted for.
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn request_timeout(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => super::error(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "the request was not complete within 30 s",
        ),
    }
}
