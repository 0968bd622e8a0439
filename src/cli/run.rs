//! `loadpacer run FILE`: every plan of a file (or one), reports, exit code from the verdict.

use super::{describe_plan, read_summary, signals::interrupt_token};
use anyhow::{Context, Result};
use clap::Args;
use loadpacer::config::{Config, PlanSpec};
use loadpacer::demo::{self, DemoOptions};
use loadpacer::judge::analysis::Tolerance;
use loadpacer::metrics::Metrics;
use loadpacer::report::summary::{Baseline, Criteria};
use loadpacer::report::{console, Outcome, Summary};
use loadpacer::run::{self, plan::Segment, RunOptions};
use loadpacer::session;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub(crate) struct RunArgs {
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
    #[command(flatten)]
    reports: super::outputs::ReportFiles,
    /// Serve /metrics here during the run (e.g. 0.0.0.0:9464 in a segment pod).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Keep serving /metrics this long after the last plan, so the final state is scraped.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15s")]
    metrics_linger: Duration,
    /// Send the file's target NAME to URL instead, e.g. `--target api=http://127.0.0.1:8081`
    /// (repeatable; the allowlist applies); a bare URL replaces the only target (an
    /// Artillery script's `config.target`).
    #[arg(long = "target", value_name = "NAME=URL", value_parser = parse_target)]
    targets: Vec<(String, String)>,
    /// Multiply every arrival rate, VU count and `max_in_flight` by F: 0.1 for a smoke run,
    /// 3 for three replicas' worth; refused beyond the file's limits.
    #[arg(long, value_name = "F")]
    scale: Option<f64>,
    #[command(flatten)]
    script: super::ScriptArgs,
    /// With `--segment I/N`: post this segment's summary to the daemon at URL (e.g.
    /// http://loadpacer:9464), which merges the segments of one run into one stored run.
    /// Retried on failure; a failure to send is reported and does not change the exit code.
    #[arg(long, value_name = "URL", requires = "run_key")]
    report_to: Option<String>,
    /// The name the segments of one distributed run share (e.g. the Kubernetes Job's name).
    #[arg(long, value_name = "KEY")]
    run_key: Option<String>,
    /// Send the run's series (the families and labels `/metrics` exports, plus `source="ci"`,
    /// `job` and `instance`) to this Prometheus remote-write endpoint every 5 s and at the
    /// end, e.g. http://prometheus:9090/api/v1/write. Retried within bounds; a failure is
    /// reported and never changes the verdict.
    #[arg(long, value_name = "URL")]
    remote_write: Option<String>,
    /// A label added to every remote-written series, replacing the default of the same name
    /// (`source=ci`, `job=loadpacer`, `instance=HOSTNAME`). Repeatable.
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_label)]
    remote_write_label: Vec<(String, String)>,
    /// The environment variable holding the daemon's API token, for `--report-to`.
    #[arg(long, value_name = "NAME", default_value = "LOADPACER_TOKEN")]
    token_env: String,
}

fn parse_target(s: &str) -> Result<(String, String), String> {
    if s.starts_with("http://") || s.starts_with("https://") {
        return Ok((String::new(), s.to_string()));
    }
    match s.split_once('=') {
        Some((name, url)) if !name.trim().is_empty() && !url.trim().is_empty() => {
            Ok((name.trim().to_string(), url.trim().to_string()))
        }
        _ => Err(format!(
            "{s:?} must be NAME=URL, e.g. api=http://127.0.0.1:8081"
        )),
    }
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} must be NAME=VALUE, e.g. env=staging"))?;
    let valid = !k.is_empty()
        && !k.starts_with("__")
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !k.starts_with(|c: char| c.is_ascii_digit());
    if valid {
        Ok((k.to_string(), v.to_string()))
    } else {
        Err(format!(
            "label name {k:?} must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __"
        ))
    }
}

/// The labels of remote-written series: `source=ci`, `job=loadpacer`, `instance=HOST`,
/// each replaced by a `--remote-write-label` of the same name.
fn remote_labels(given: &[(String, String)]) -> Vec<(String, String)> {
    let host = sysinfo::System::host_name().unwrap_or_else(|| "unknown".into());
    let mut labels: Vec<(String, String)> = [
        ("source", "ci".to_string()),
        ("job", "loadpacer".into()),
        ("instance", host),
    ]
    .into_iter()
    .filter(|(k, _)| !given.iter().any(|(g, _)| g == k))
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    labels.extend(given.iter().cloned());
    labels
}

/// The file's config with `--target` applied, or the reason it cannot be.
fn apply_overrides(
    mut cfg: loadpacer::config::Config,
    args: &RunArgs,
) -> std::result::Result<loadpacer::config::Config, String> {
    for (name, url) in &args.targets {
        cfg = if name.is_empty() {
            cfg.with_only_target_url(url)?
        } else {
            cfg.with_target_url(name, url)?
        };
    }
    Ok(cfg)
}

/// The plans at `--scale F` (checked, within the limits), with the config hash `HASH-xF`
/// like the daemon's scaled runs, so that they are never compared with runs at another scale.
fn scaled(
    cfg: &mut Config,
    plans: Vec<Arc<PlanSpec>>,
    scale: Option<f64>,
) -> std::result::Result<Vec<Arc<PlanSpec>>, String> {
    let Some(f) = scale
        .map(loadpacer::config::check_scale)
        .transpose()?
        .filter(|f| *f != 1.0)
    else {
        return Ok(plans);
    };
    let scaled = plans
        .iter()
        .map(|p| p.scaled(f, &cfg.limits).map(Arc::new))
        .collect::<std::result::Result<_, _>>()?;
    cfg.hash = cfg.scaled_hash(f);
    Ok(scaled)
}

pub(crate) async fn run_file(args: RunArgs) -> Result<u8> {
    let Some((cfg, plans, opts)) = prepare(&args) else {
        return Ok(2);
    };
    let interrupt = interrupt_token();
    let demo_stop = CancellationToken::new();
    let _demo_guard = demo_stop.clone().drop_guard();
    if let Some(addr) = args.with_demo_target {
        if !addr.ip().is_loopback() {
            eprintln!("error: --with-demo-target takes a loopback address such as 127.0.0.1:18080");
            return Ok(2);
        }
        start_demo_target(addr, demo_stop.clone()).await?;
    }
    let metrics = match args.metrics_listen {
        Some(addr) => Some(serve_metrics(addr, &plans).await?),
        None if args.remote_write.is_some() => {
            let m = Metrics::default();
            m.set_plans(&plans);
            m.set_reload(true);
            Some(m)
        }
        None => None,
    };
    let remote = match (&args.remote_write, &metrics) {
        (Some(url), Some(m)) => Some(loadpacer::metrics::remote_write::RemoteWriter::start(
            m.clone(),
            url.clone(),
            remote_labels(&args.remote_write_label),
            Duration::from_secs(5),
        )),
        _ => None,
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
    let (worst, summaries) = run_plans(&args, &plans, &ctx).await?;
    if let Some(r) = remote {
        eprintln!("{}", r.finish().await);
    }
    let runs: Vec<_> = summaries
        .iter()
        .map(|(p, s)| (Some(p.as_ref()), s))
        .collect();
    args.reports.write(&runs)?;
    if args.metrics_listen.is_some() && worst != Outcome::Interrupted {
        // Let the last scrape see the final counters before the pod goes away.
        tokio::select! {
            _ = tokio::time::sleep(args.metrics_linger) => {}
            _ = interrupt.cancelled() => {}
        }
    }
    Ok(worst.exit_code() as u8)
}

/// The config with the command line's overrides, the plans to run and the run's options;
/// `None` (exit 2) when any of it is wrong, said on stderr.
fn prepare(args: &RunArgs) -> Option<(Config, Vec<Arc<PlanSpec>>, RunOptions)> {
    let (choices, k6) = args.script.all_choices_or_say()?;
    let cfg = super::load_with(&args.file, &choices, &k6)?;
    if let Some(Err(why)) = args
        .remote_write
        .as_deref()
        .map(loadpacer::metrics::remote_write::check_url)
    {
        eprintln!("error: {why}");
        return None;
    }
    let mut cfg = apply_overrides(cfg, args)
        .inspect_err(|why| eprintln!("error: {why}"))
        .ok()?;
    let plans = select_plans(&cfg, args)?;
    let plans = scaled(&mut cfg, plans, args.scale)
        .inspect_err(|why| eprintln!("error: --{why}"))
        .ok()?;
    let opts = RunOptions {
        segment: args.segment.unwrap_or(Segment::WHOLE),
        ..Default::default()
    };
    if args.report_to.is_some() && opts.segment.count < 2 {
        eprintln!("error: --report-to sends one segment of a distributed run: give --segment I/N with N > 1");
        return None;
    }
    Some((cfg, plans, opts))
}

/// Runs the plans one after another (each segment reported to the daemon when asked),
/// stopping after an interrupted one; the worst outcome and every summary.
async fn run_plans(
    args: &RunArgs,
    plans: &[Arc<PlanSpec>],
    ctx: &RunCtx<'_>,
) -> Result<(Outcome, Vec<(Arc<PlanSpec>, Summary)>)> {
    let mut worst = Outcome::Passed;
    let mut summaries = Vec::new();
    for plan in plans {
        let out_dir = args.out.as_ref().map(|d| {
            if plans.len() > 1 {
                d.join(&plan.name)
            } else {
                d.clone()
            }
        });
        let summary = run_plan(plan.clone(), ctx, out_dir.as_deref()).await?;
        let outcome = summary.result;
        if let (Some(url), Some(key)) = (&args.report_to, &args.run_key) {
            let json = summary.to_json(plan);
            if let Err(why) = report_segment(url, &plan.name, key, &args.token_env, json).await {
                eprintln!(
                    "error: the segment was not reported to {}: {why}",
                    loadpacer::metrics::remote_write::shown_url(url)
                );
            }
        }
        summaries.push((plan.clone(), summary));
        if outcome.exit_code() > worst.exit_code() {
            worst = outcome;
        }
        if outcome == Outcome::Interrupted {
            break;
        }
    }
    Ok((worst, summaries))
}

/// Posts a segment's summary to the daemon, up to 4 times (1, 2, 4 s apart) while it is
/// unreachable or answers 5xx; a 4xx (a wrong token, an unknown plan, a refused segment) is
/// final.
async fn report_segment(
    base: &str,
    plan: &str,
    key: &str,
    token_env: &str,
    json: String,
) -> std::result::Result<(), String> {
    use super::client::DaemonClient;
    use loadpacer::api::types::SegmentAnswer;
    let path = format!("/api/v1/plans/{plan}/segments/{key}");
    let client = DaemonClient::new(base, token_env).map_err(|f| f.line)?;
    let mut wait = Duration::from_secs(1);
    let mut last = String::new();
    for attempt in 1..=4 {
        let answer = client
            .call::<SegmentAnswer>(reqwest::Method::POST, &path, Some(json.clone()))
            .await;
        match answer {
            Ok(a) => {
                match a.run {
                    Some(run) => eprintln!(
                        "segment reported to {}: the run is complete, stored as {}",
                        client.shown(),
                        super::client::safe(&run)
                    ),
                    None => eprintln!(
                        "segment reported to {}: {} of {} segments have reported",
                        client.shown(),
                        a.reported.len(),
                        a.of
                    ),
                }
                return Ok(());
            }
            Err(f) if !f.transient() => return Err(f.line.trim_start_matches("error: ").into()),
            Err(f) => {
                last = format!(
                    "{} (attempt {attempt})",
                    f.line.trim_start_matches("error: ")
                )
            }
        }
        if attempt < 4 {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    Err(last)
}

/// The plans to run: the one `--plan` names, or all of them; `None` after saying why.
fn select_plans(cfg: &Config, args: &RunArgs) -> Option<Vec<Arc<PlanSpec>>> {
    match &args.plan {
        Some(name) => match cfg.plan(name) {
            Some(p) => Some(vec![p.clone()]),
            None => {
                let names: Vec<&str> = cfg.plans.iter().map(|p| p.name.as_str()).collect();
                eprintln!(
                    "error: no plan named {name:?} in {}; plans: {}",
                    args.file.display(),
                    names.join(", ")
                );
                None
            }
        },
        None => Some(cfg.plans.clone()),
    }
}

/// The built-in demo target in this process (`--with-demo-target`), until `stop`.
async fn start_demo_target(addr: SocketAddr, stop: CancellationToken) -> Result<()> {
    let opts = DemoOptions {
        latency: Duration::from_millis(2),
        jitter: Duration::from_millis(8),
        body_size: 256,
        ..Default::default()
    };
    demo::start(addr, opts, stop)
        .await
        .with_context(|| format!("cannot start the demo target on {addr}; is the port in use?"))?;
    Ok(())
}

/// `/metrics` of this run on `addr` (`--metrics-listen`), for a Prometheus to scrape.
async fn serve_metrics(addr: SocketAddr, plans: &[Arc<PlanSpec>]) -> Result<Metrics> {
    let m = Metrics::default();
    m.set_plans(plans);
    m.set_reload(true);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for /metrics; is the port in use?"))?;
    eprintln!("serving /metrics on http://{}", listener.local_addr()?);
    let router = loadpacer::api::metrics_router(m.clone());
    tokio::spawn(loadpacer::api::serve(
        listener,
        router,
        CancellationToken::new(),
    ));
    Ok(m)
}

pub(crate) struct RunCtx<'a> {
    cfg: &'a Config,
    opts: RunOptions,
    quiet: bool,
    metrics: Option<&'a Metrics>,
    baseline: Option<&'a (String, Summary)>,
    interrupt: CancellationToken,
}

pub(crate) async fn run_plan(
    plan: Arc<PlanSpec>,
    ctx: &RunCtx<'_>,
    out: Option<&Path>,
) -> Result<Summary> {
    let cfg = ctx.cfg;
    if !ctx.quiet {
        eprintln!("{}", describe_plan(&plan));
    }
    let opts = session::Options {
        run: ctx.opts,
        processes: cfg.host.processes.clone(),
        criteria: Criteria {
            max_error_rate: None,
            baseline: ctx.baseline.map(|(label, base)| Baseline {
                label: label.clone(),
                figures: vec![base.figures()],
                tolerance: Tolerance::default(),
            }),
        },
        monitor_sink: ctx.metrics.map(|m| m.monitor_sink(&plan.name)),
    };
    let mut watchers = run::Both(
        console::Progress::new(ctx.quiet),
        ctx.metrics.map(|m| m.publisher(&plan.name)),
    );
    let session::Judged { output, summary } = session::run(
        plan.clone(),
        &cfg.limits,
        &cfg.hash,
        &opts,
        &mut watchers,
        ctx.interrupt.clone(),
    )
    .await?;
    drop(watchers);
    if let Some(m) = ctx.metrics {
        m.run_finished(&plan.name, &summary, &output.total.merged_latency());
    }
    print!("{}", plan.redact(&console::render(&summary)));
    if let Some(script) = &plan.script {
        handle_summary(&script.program, &summary)?;
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("summary.json");
        std::fs::write(&path, summary.to_json(&plan))
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(summary)
}

/// A k6 script's `handleSummary(data)`: called once with the run's summary in k6's shape; the
/// files it returns are written (relative to the working folder, as k6 does), `stdout` and
/// `stderr` printed.
fn handle_summary(program: &loadpacer::script::Program, summary: &Summary) -> Result<()> {
    if !program.functions.iter().any(|f| f == "handleSummary") {
        return Ok(());
    }
    let data = loadpacer::report::k6::summary_data(summary).to_string();
    let out = program
        .call_once("handleSummary", &data)
        .map_err(|e| anyhow::anyhow!("handleSummary failed: {e}"))?;
    let Some(serde_json::Value::Object(files)) =
        out.map(|o| serde_json::from_str(&o)).transpose()?
    else {
        return Ok(());
    };
    for (name, content) in files {
        let text = match content {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        match name.as_str() {
            "stdout" => print!("{text}"),
            "stderr" => eprint!("{text}"),
            path => {
                std::fs::write(path, text)
                    .with_context(|| format!("handleSummary: cannot write {path}"))?;
                eprintln!("wrote {path} (handleSummary)");
            }
        }
    }
    Ok(())
}
