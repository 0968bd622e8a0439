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
                .serve_connection(TokioIo::new(stream), service);
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
