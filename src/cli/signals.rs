//! Signals: Ctrl-C and SIGTERM stop a run gracefully (a second one exits at once); the
//! daemon reloads on SIGHUP.

use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Ctrl-C or SIGTERM cancels the token (graceful stop); a second one exits at once.
pub(crate) fn interrupt_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let next = async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        next.await;
        eprintln!("\nstopping: finishing in-flight requests (press Ctrl-C again to quit at once)");
        t.cancel();
        let _ = tokio::signal::ctrl_c().await;
        std::process::exit(130);
    });
    token
}

/// Waits for SIGTERM or SIGINT, reloading on every SIGHUP meanwhile.
pub(crate) async fn daemon_signals(app: &Arc<loadpacer::app::App>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return next_stop_signal().await;
    };
    loop {
        tokio::select! {
            _ = next_stop_signal() => return,
            _ = hup.recv() => match app.reload() {
                Ok(n) => eprintln!("reloaded: {n} plan(s)"),
                Err(e) => eprintln!("reload rejected, the previous configuration stays active:\n{e}"),
            },
        }
    }
}

pub(crate) async fn next_stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
