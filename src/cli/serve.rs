//! `loadpacer serve`: the daemon (scheduler, API, /metrics), or `--demo` with no file.

use super::load;
use super::signals::{daemon_signals, next_stop_signal};
use anyhow::{bail, Context, Result};
use clap::Args;
use loadpacer::config;
use loadpacer::demo::{self, DemoOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The YAML config (plans with `schedule:`; `server:`, `store:`, `limits:`).
    #[arg(long, required_unless_present = "demo")]
    config: Option<PathBuf>,
    /// No file needed: the embedded demo config against the built-in demo target.
    #[arg(long, conflicts_with = "config")]
    demo: bool,
    /// Listen here instead of server.listen (e.g. 127.0.0.1:0 for any free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

const DEMO_DAEMON: &str = include_str!("../../config/demo-daemon.yaml");

pub(crate) async fn serve(args: ServeArgs) -> Result<u8> {
    let demo_stop = CancellationToken::new();
    let _demo_guard = demo_stop.clone().drop_guard();
    let (cfg, source) = if args.demo {
        let opts = DemoOptions {
            latency: Duration::from_millis(3),
            jitter: Duration::from_millis(10),
            error_rate: 0.002,
            body_size: 256,
            stall: None,
            workers: None,
            latency_growth_per_s: Duration::ZERO,
        };
        let (addr, _) = demo::start("127.0.0.1:0".parse()?, opts, demo_stop.clone())
            .await
            .context("cannot start the demo target")?;
        let text = DEMO_DAEMON.replace("127.0.0.1:18080", &addr.to_string());
        match config::load_str(
            &text,
            "embedded demo config",
            std::env::current_dir().ok().as_deref(),
            &|k| std::env::var(k).ok(),
        ) {
            Ok(c) => (c, None),
            Err(e) => bail!("the embedded demo config is invalid: {e}"),
        }
    } else {
        let path = args
            .config
            .clone()
            .expect("clap requires --config without --demo");
        let Some(cfg) = load(&path) else { return Ok(2) };
        (cfg, Some(path))
    };
    let listen = args.listen.unwrap_or(cfg.server.listen);
    if !listen.ip().is_loopback() && cfg.server.token.is_none() {
        eprintln!("error: {listen} is not a loopback address; set server.token_env so the API requires a token");
        return Ok(2);
    }
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}; is another loadpacer running? choose another address with --listen or server.listen");
            return Ok(2);
        }
    };
    let app = loadpacer::app::App::new(cfg, source).context("cannot open the run store")?;
    let addr = listener.local_addr()?;
    println!("loadpacer serving on http://{addr}  (metrics: /metrics, plans: /api/v1/plans, runs: /api/v1/runs)");
    app.start();
    if args.demo {
        for p in &app.config().plans {
            let _ = app.trigger(&p.name, loadpacer::store::Trigger::Startup);
        }
    }
    let router = loadpacer::api::router(app.clone());
    let server = tokio::spawn(loadpacer::api::serve(
        listener,
        router,
        app.shutdown_signal(),
    ));
    daemon_signals(&app).await;
    eprintln!("stopping: no new runs; runs in progress finish and are stored as interrupted (signal again to quit at once)");
    tokio::select! {
        _ = app.shutdown() => {}
        _ = next_stop_signal() => std::process::exit(130),
    }
    let _ = server.await;
    Ok(0)
}
