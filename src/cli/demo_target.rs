//! `loadpacer demo-target`: the built-in target with latency, error and stall knobs.

use anyhow::{Context, Result};
use clap::Args;
use loadpacer::demo::{self, DemoOptions};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Base latency of every response.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0ms")]
    latency: Duration,
    /// Random extra latency, uniform in 0..=JITTER.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0ms")]
    jitter: Duration,
    /// Share of responses answered with 500.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Body size of `/`.
    #[arg(long, default_value_t = 2)]
    body_size: usize,
    /// Freeze all responses for X out of every Y, e.g. 1s/5s.
    #[arg(long, value_parser = parse_stall)]
    stall: Option<(Duration, Duration)>,
    /// Serve at most N requests at once: capacity becomes N / latency req/s.
    #[arg(long)]
    workers: Option<usize>,
    /// Add this much latency per second of uptime (a slowly degrading service).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0ms")]
    latency_growth: Duration,
}

pub(crate) fn parse_stall(s: &str) -> Result<(Duration, Duration), String> {
    let (a, b) = s.split_once('/').ok_or("write FREEZE/EVERY, e.g. 1s/5s")?;
    let a = humantime::parse_duration(a).map_err(|e| e.to_string())?;
    let b = humantime::parse_duration(b).map_err(|e| e.to_string())?;
    if a >= b || b.is_zero() {
        return Err("the freeze must be shorter than its period".into());
    }
    Ok((a, b))
}

pub(crate) async fn demo_target(a: DemoArgs) -> Result<u8> {
    let opts = DemoOptions {
        latency: a.latency,
        jitter: a.jitter,
        error_rate: a.error_rate,
        body_size: a.body_size,
        stall: a.stall,
        workers: a.workers,
        latency_growth_per_s: a.latency_growth,
    };
    let stop = CancellationToken::new();
    let (addr, handle) = demo::start(a.listen, opts, stop.clone())
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is the port in use? pick another with --listen",
                a.listen
            )
        })?;
    eprintln!("demo target listening on http://{addr} (endpoints: /, /products?page=N, POST /auth/login, POST /orders, /bytes?size=N; any takes ?delay_ms=&status=&size=)");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) { s.recv().await; } } => {}
    }
    stop.cancel();
    let _ = handle.await;
    Ok(0)
}
