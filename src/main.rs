//! The `loadpacer` command line. Exit codes of `run` and `hit`: 0 passed, 1 a threshold
//! failed or the run was aborted, 2 bad config or usage, 3 run invalid (the generator was the
//! bottleneck), 130 interrupted.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use loadpacer::config::{self, Config, PlanSpec};
use loadpacer::demo::{self, DemoOptions};
use loadpacer::metrics::Metrics;
use loadpacer::report::{console, Outcome, Summary};
use loadpacer::run::{self, plan::Segment, RunOptions};
use loadpacer::session;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EXAMPLES: &str = "\
Examples:
  loadpacer demo-target --listen 127.0.0.1:8080 &     # a target to practise on
  loadpacer validate config/examples/demo.yaml        # every error, with file:line:column
  loadpacer run config/examples/demo.yaml --out out/  # one run, summary.json in out/
  loadpacer run config/examples/demo.yaml --with-demo-target   # demo target started in-process
  loadpacer serve --demo                              # daemon: scheduled demo runs, /metrics on :9464
  loadpacer serve --config loadpacer.yaml             # SIGHUP or POST /-/reload reloads it
  loadpacer hit http://127.0.0.1:8080/ --rate 200 -d 10s
  loadpacer hit http://127.0.0.1:8080/ -c 50 -n 10000 --json result.json

Exit codes (run, hit): 0 passed, 1 threshold failed or aborted, 2 bad config or usage,
3 invalid (the generator was the bottleneck), 130 interrupted.";

#[derive(Parser)]
#[command(name = "loadpacer", version, about = "Coordinated-omission-correct HTTP load testing from YAML plans", after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run as a daemon: scheduled plans, run history, /metrics and the API.
    Serve(ServeArgs),
    /// Run the plans of a file (or one of them) and exit with the verdict.
    Run(RunArgs),
    /// Ad-hoc load against one URL, no file needed.
    Hit(HitArgs),
    /// Check a config file and print every error.
    Validate {
        /// The YAML file.
        file: PathBuf,
    },
    /// Start the built-in demo target (latency, error and stall knobs).
    DemoTarget(DemoArgs),
    /// Turn a saved summary.json into an HTML report and/or JUnit XML.
    Report {
        /// A summary.json written by `run --out`.
        summary: PathBuf,
        /// Write a self-contained HTML report here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Write JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Compare two summary.json files side by side (B against baseline A).
    Compare {
        /// The baseline summary.
        a: PathBuf,
        /// The summary to compare with it.
        b: PathBuf,
    },
}

#[derive(Args)]
struct ServeArgs {
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

#[derive(Args)]
struct RunArgs {
    /// The YAML plan file.
    file: PathBuf,
    /// Run only this plan (default: every plan in the file, in name order).
    #[arg(long)]
    plan: Option<String>,
    /// Write summary.json here (one sub-folder per plan when several run).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run the I-th of N equal shares of the load, e.g. 2/4, for distributed runs.
    #[arg(long, value_parser = Segment::parse)]
    segment: Option<Segment>,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
    /// Start the built-in demo target in-process on this loopback address first
    /// (the example plans use 127.0.0.1:18080).
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:18080")]
    with_demo_target: Option<SocketAddr>,
    /// Compare with this earlier summary.json; a regression beyond the tolerances (latency
    /// +10 %, error rate +0.5 points, throughput −10 %) fails the run (exit 1).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Write JUnit XML here (one test suite per plan; a case per threshold and check).
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write a self-contained HTML report here (`NAME-PLAN.html` when several plans run).
    #[arg(long)]
    html: Option<PathBuf>,
    /// Serve /metrics here during the run (e.g. 0.0.0.0:9464 in a segment pod).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Keep serving /metrics this long after the last plan, so the final state is scraped.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15s")]
    metrics_linger: Duration,
}

#[derive(Args)]
struct HitArgs {
    /// Absolute http(s) URL.
    url: String,
    /// Closed model: this many concurrent connections (VUs). With --rate: max in flight.
    #[arg(short = 'c', long)]
    concurrency: Option<u64>,
    /// Open model: arrivals per second (latency measured from the intended send time).
    #[arg(long)]
    rate: Option<f64>,
    /// How long to run.
    #[arg(short = 'd', long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many requests.
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// HTTP method.
    #[arg(short = 'm', long, default_value = "GET")]
    method: String,
    /// Header "Name: value" (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Request body.
    #[arg(long)]
    body: Option<String>,
    /// Per-request timeout.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    timeout: Duration,
    /// Fail (exit 1) when more than this share of requests fail (0.01 = 1 %).
    #[arg(long, default_value_t = 0.01, value_parser = parse_ratio)]
    max_error_rate: f64,
    /// Write {result, reasons, requests, rps, p50_ms, p90_ms, p99_ms, max_ms, avg_ms, errors,
    /// error_kinds} here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
    /// `direct` (one HTTP/1.1 connection per VU, cheapest; the default for http URLs) or
    /// `pooled` (reqwest: redirects, https, http2; the default for https URLs).
    #[arg(long)]
    transport: Option<String>,
}

#[derive(Args)]
struct DemoArgs {
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

fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("a ratio from 0 to 1, e.g. 0.01 for 1 %".into()),
    }
}

fn parse_stall(s: &str) -> Result<(Duration, Duration), String> {
    let (a, b) = s.split_once('/').ok_or("write FREEZE/EVERY, e.g. 1s/5s")?;
    let a = humantime::parse_duration(a).map_err(|e| e.to_string())?;
    let b = humantime::parse_duration(b).map_err(|e| e.to_string())?;
    if a >= b || b.is_zero() {
        return Err("the freeze must be shorter than its period".into());
    }
    Ok((a, b))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOADPACER_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a log file or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Measured: a current-thread runtime was no cheaper per request than this (within noise).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<u8> {
    match cli.cmd {
        Cmd::Validate { file } => Ok(validate(&file)),
        Cmd::Serve(args) => serve(args).await,
        Cmd::Report {
            summary,
            html,
            junit,
        } => report(&summary, html.as_deref(), junit.as_deref()),
        Cmd::Compare { a, b } => compare(&a, &b),
        Cmd::Run(args) => run_file(args).await,
        Cmd::Hit(args) => hit(args).await,
        Cmd::DemoTarget(args) => demo_target(args).await,
    }
}

fn load(file: &Path) -> Option<Config> {
    match config::load_file(file) {
        Ok(c) => Some(c),
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "{} error(s) in {}; fix them and run `loadpacer validate {}`",
                errors.0.len(),
                file.display(),
                file.display()
            );
            None
        }
    }
}

fn validate(file: &Path) -> u8 {
    let Some(cfg) = load(file) else { return 2 };
    for p in &cfg.plans {
        println!("{}", describe_plan(p));
    }
    println!("{}: OK, {} plan(s)", file.display(), cfg.plans.len());
    0
}

fn describe_plan(p: &PlanSpec) -> String {
    let shape = match &p.load.shape {
        config::LoadShape::Open {
            phases,
            max_in_flight,
        } => {
            let peak = phases
                .iter()
                .map(|ph| ph.rate.max(ph.ramp_to))
                .fold(0.0, f64::max);
            format!(
                "open model, {} phase(s), peak {peak}/s, max_in_flight {max_in_flight}",
                phases.len()
            )
        }
        config::LoadShape::Closed { stages } => format!(
            "closed model, {} stage(s), peak {} VUs",
            stages.len(),
            stages.iter().map(|s| s.target).max().unwrap_or(0)
        ),
    };
    let requests: usize = p.requests.len();
    format!(
        "plan {}: {}, {} → {}, {} scenario(s), {} request(s), {} check(s), {} threshold(s)",
        p.name,
        humantime::format_duration(p.load.duration()),
        shape,
        p.target.base_url,
        p.scenarios.len(),
        requests,
        p.checks.len(),
        p.thresholds.len()
    )
}

/// Ctrl-C or SIGTERM cancels the token (graceful stop); a second one exits at once.
fn interrupt_token() -> CancellationToken {
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

async fn run_file(args: RunArgs) -> Result<u8> {
    let Some(cfg) = load(&args.file) else {
        return Ok(2);
    };
    let plans: Vec<Arc<PlanSpec>> = match &args.plan {
        Some(name) => match cfg.plan(name) {
            Some(p) => vec![p.clone()],
            None => {
                let names: Vec<&str> = cfg.plans.iter().map(|p| p.name.as_str()).collect();
                eprintln!(
                    "error: no plan named {name:?} in {}; plans: {}",
                    args.file.display(),
                    names.join(", ")
                );
                return Ok(2);
            }
        },
        None => cfg.plans.clone(),
    };
    let opts = RunOptions {
        segment: args.segment.unwrap_or(Segment::WHOLE),
        ..Default::default()
    };
    let interrupt = interrupt_token();
    let demo_stop = CancellationToken::new();
    let _demo_guard = demo_stop.clone().drop_guard();
    if let Some(addr) = args.with_demo_target {
        if !addr.ip().is_loopback() {
            eprintln!("error: --with-demo-target takes a loopback address such as 127.0.0.1:18080");
            return Ok(2);
        }
        let opts = DemoOptions {
            latency: Duration::from_millis(2),
            jitter: Duration::from_millis(8),
            body_size: 256,
            ..Default::default()
        };
        demo::start(addr, opts, demo_stop.clone())
            .await
            .with_context(|| {
                format!("cannot start the demo target on {addr}; is the port in use?")
            })?;
    }
    let metrics = match args.metrics_listen {
        Some(addr) => {
            let m = Metrics::default();
            m.set_plans(&plans);
            m.set_reload(true);
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!("cannot listen on {addr} for /metrics; is the port in use?")
            })?;
            eprintln!("serving /metrics on http://{}", listener.local_addr()?);
            let router = loadpacer::api::metrics_router(m.clone());
            tokio::spawn(loadpacer::api::serve(
                listener,
                router,
                CancellationToken::new(),
            ));
            Some(m)
        }
        None => None,
    };
    let baseline = match &args.baseline {
        Some(p) => Some((p.display().to_string(), read_summary(p)?)),
        None => None,
    };
    let ctx = RunCtx {
        baseline: baseline.as_ref(),
        cfg: &cfg,
        opts,
        quiet: args.quiet,
        metrics: metrics.as_ref(),
        interrupt: interrupt.clone(),
    };
    let mut worst = Outcome::Passed;
    let mut summaries = Vec::new();
    for plan in &plans {
        let out_dir = args.out.as_ref().map(|d| {
            if plans.len() > 1 {
                d.join(&plan.name)
            } else {
                d.clone()
            }
        });
        let summary = run_plan(plan.clone(), &ctx, out_dir.as_deref()).await?;
        let outcome = summary.result;
        if let Some(html) = &args.html {
            let path = if plans.len() > 1 {
                per_plan_path(html, &plan.name)
            } else {
                html.clone()
            };
            write_file(
                &path,
                &plan.redact(&loadpacer::report::html::render(&summary)),
            )?;
        }
        summaries.push((plan.clone(), summary));
        if outcome.exit_code() > worst.exit_code() {
            worst = outcome;
        }
        if outcome == Outcome::Interrupted {
            break;
        }
    }
    if let Some(junit) = &args.junit {
        let refs: Vec<&Summary> = summaries.iter().map(|(_, s)| s).collect();
        let xml = loadpacer::report::junit::render(&refs)?;
        let redacted = summaries.iter().fold(xml, |x, (p, _)| p.redact(&x));
        write_file(junit, &redacted)?;
    }
    if metrics.is_some() && worst != Outcome::Interrupted {
        // Let the last scrape see the final counters before the pod goes away.
        tokio::select! {
            _ = tokio::time::sleep(args.metrics_linger) => {}
            _ = interrupt.cancelled() => {}
        }
    }
    Ok(worst.exit_code() as u8)
}

struct RunCtx<'a> {
    cfg: &'a Config,
    opts: RunOptions,
    quiet: bool,
    metrics: Option<&'a Metrics>,
    baseline: Option<&'a (String, Summary)>,
    interrupt: CancellationToken,
}

async fn run_plan(plan: Arc<PlanSpec>, ctx: &RunCtx<'_>, out: Option<&Path>) -> Result<Summary> {
    let cfg = ctx.cfg;
    if !ctx.quiet {
        eprintln!("{}", describe_plan(&plan));
    }
    let opts = session::Options {
        run: ctx.opts,
        processes: cfg.host.processes.clone(),
    };
    let mut watchers = run::Both(
        console::Progress::new(ctx.quiet),
        ctx.metrics.map(|m| m.publisher(&plan.name)),
    );
    let session::Judged {
        output,
        mut summary,
    } = session::run(
        plan.clone(),
        &cfg.limits,
        &cfg.hash,
        &opts,
        &mut watchers,
        ctx.interrupt.clone(),
    )
    .await?;
    drop(watchers);
    if let Some(base) = ctx.baseline {
        summary.compare_with(&base.0, &[base.1.figures()]);
    }
    if let Some(m) = ctx.metrics {
        m.run_finished(&plan.name, &summary, &output.total.merged_latency());
    }
    print!("{}", plan.redact(&console::render(&summary)));
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("summary.json");
        std::fs::write(&path, summary.to_json(&plan))
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(summary)
}

/// Builds a one-request plan as JSON (a subset of YAML) so that `hit` goes through the same
/// validation as a file: URL rules, header rules, limits.
fn hit_config(a: &HitArgs) -> Result<Config> {
    let url = reqwest::Url::parse(&a.url)
        .with_context(|| format!("{:?} is not an absolute URL", a.url))?;
    let base = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    let base = match url.port() {
        Some(p) => format!("{base}:{p}"),
        None => base,
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut headers = serde_json::Map::new();
    for h in &a.headers {
        let (k, v) = h
            .split_once(':')
            .with_context(|| format!("header {h:?} must be \"Name: value\""))?;
        headers.insert(k.trim().to_string(), v.trim().into());
    }
    let duration = a.duration.unwrap_or(if a.requests.is_some() {
        Duration::from_secs(3600)
    } else {
        Duration::from_secs(10)
    });
    let d = format!("{}ms", duration.as_millis().max(1000));
    let load = match (a.rate, a.concurrency) {
        (Some(rate), c) => {
            serde_json::json!({ "phases": [{ "name": "hit", "duration": d, "rate": rate }], "max_in_flight": c.unwrap_or(1000), "iterations": a.requests })
        }
        (None, c) => {
            serde_json::json!({ "vus": [{ "duration": d, "target": c.unwrap_or(10) }], "iterations": a.requests })
        }
    };
    let mut request =
        serde_json::json!({ "name": "hit", "method": a.method, "url": path, "headers": headers });
    if let Some(b) = &a.body {
        request["body"] = b.clone().into();
    }
    let doc = serde_json::json!({
        "targets": { "hit": {
            "base_url": base,
            "timeout": format!("{}ms", a.timeout.as_millis().max(1)),
            "transport": a.transport.clone().unwrap_or_else(|| if url.scheme() == "http" { "direct".into() } else { "pooled".into() }),
        } },
        "plans": { "hit": { "target": "hit", "load": load, "scenarios": [{ "name": "hit", "steps": [{ "request": request }] }] } }
    });
    let text = serde_json::to_string(&doc)?;
    match config::load_str(&text, "hit", None, &|_| None) {
        Ok(mut cfg) => {
            // `-c N` means N connections from the first second, not a ramp from zero.
            if let Some(p) = cfg.plans.first_mut() {
                let plan = Arc::make_mut(p);
                if let config::LoadShape::Closed { stages } = &mut plan.load.shape {
                    let n = stages[0].target;
                    stages.insert(
                        0,
                        config::Stage {
                            duration: Duration::ZERO,
                            target: n,
                        },
                    );
                }
            }
            Ok(cfg)
        }
        Err(e) => bail!(
            "{}",
            e.0.iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

async fn hit(a: HitArgs) -> Result<u8> {
    let cfg = match hit_config(&a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(2);
        }
    };
    let plan = cfg.plans[0].clone();
    let mut progress = console::Progress::new(a.quiet);
    let session::Judged { summary: mut s, .. } = session::run(
        plan.clone(),
        &cfg.limits,
        &cfg.hash,
        &session::Options::default(),
        &mut progress,
        interrupt_token(),
    )
    .await?;
    drop(progress);
    s.judge_errors(Some(a.max_error_rate));
    print!("{}", console::render(&s));
    if let Some(path) = &a.json {
        let t = &s.totals;
        let kinds: serde_json::Map<String, serde_json::Value> = s
            .error_kinds()
            .into_iter()
            .map(|(k, n)| (k, n.into()))
            .collect();
        let doc = serde_json::json!({
            "requests": t.requests, "rps": t.rps, "p50_ms": t.latency.p50_ms, "p90_ms": t.latency.p90_ms,
            "p99_ms": t.latency.p99_ms, "max_ms": t.latency.max_ms, "avg_ms": t.latency.avg_ms, "errors": t.errors,
            "error_rate": t.error_rate, "error_kinds": kinds, "max_error_rate": a.max_error_rate,
            "dropped": t.dropped_iterations, "result": s.result.as_str(), "verdict": console::verdict_line(&s),
            "reasons": s.reasons,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(s.result.exit_code() as u8)
}

async fn demo_target(a: DemoArgs) -> Result<u8> {
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

const DEMO_DAEMON: &str = include_str!("../config/demo-daemon.yaml");

async fn serve(args: ServeArgs) -> Result<u8> {
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
            let _ = app.trigger(&p.name, "startup");
        }
    }
    let router = loadpacer::api::router(app.clone());
    let server = tokio::spawn(loadpacer::api::serve(listener, router, app.root.clone()));
    daemon_signals(&app).await;
    eprintln!("stopping: no new runs; runs in progress finish and are stored as interrupted (signal again to quit at once)");
    tokio::select! {
        _ = app.shutdown() => {}
        _ = next_stop_signal() => std::process::exit(130),
    }
    let _ = server.await;
    Ok(0)
}

/// Waits for SIGTERM or SIGINT, reloading on every SIGHUP meanwhile.
async fn daemon_signals(app: &Arc<loadpacer::app::App>) {
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

async fn next_stop_signal() {
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

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn per_plan_path(path: &Path, plan: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!("{stem}-{plan}{ext}"))
}

fn read_summary(path: &Path) -> Result<Summary> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if v["schema_version"] != 1 {
        bail!(
            "{} has schema_version {}; this loadpacer reads version 1",
            path.display(),
            v["schema_version"]
        );
    }
    serde_json::from_value(v).with_context(|| {
        format!(
            "{} is not a loadpacer summary (schemas/summary.v1.json)",
            path.display()
        )
    })
}

fn report(summary: &Path, html: Option<&Path>, junit: Option<&Path>) -> Result<u8> {
    if html.is_none() && junit.is_none() {
        eprintln!("error: say what to write: --html FILE and/or --junit FILE");
        return Ok(2);
    }
    let s = read_summary(summary)?;
    if let Some(p) = html {
        write_file(p, &loadpacer::report::html::render(&s))?;
    }
    if let Some(p) = junit {
        write_file(p, &loadpacer::report::junit::render(&[&s])?)?;
    }
    Ok(0)
}

fn compare(a: &Path, b: &Path) -> Result<u8> {
    let (sa, mut sb) = (read_summary(a)?, read_summary(b)?);
    println!("{}", loadpacer::report::console::compare(&sa, &sb));
    sb.compare_with(&a.display().to_string(), &[sa.figures()]);
    let regressed: Vec<String> = sb
        .regression
        .iter()
        .flat_map(|r| r.deltas.iter())
        .filter(|d| d.regressed)
        .map(|d| format!("{} {:+.1}%", d.metric, d.delta_ratio * 100.0))
        .collect();
    if regressed.is_empty() {
        println!("no regression beyond the tolerances (latency +10 %, error rate +0.5 points, throughput -10 %)");
        Ok(0)
    } else {
        println!("REGRESSION: {}", regressed.join(", "));
        Ok(1)
    }
}
