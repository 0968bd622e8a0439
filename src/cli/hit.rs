//! `loadpacer hit URL`: ad-hoc load against one URL, judged like a plan.

use super::signals::interrupt_token;
use anyhow::{bail, Context, Result};
use clap::Args;
use loadpacer::config::{self, Config};
use loadpacer::report::console;
use loadpacer::report::summary::Criteria;
use loadpacer::session;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub(crate) struct HitArgs {
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
    /// error_kinds, dropped, dispatch_lag_p99_ms} here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
    /// `direct` (one HTTP/1.1 connection per VU, cheapest; the default for http URLs) or
    /// `pooled` (reqwest: redirects, https, http2; the default for https URLs).
    #[arg(long)]
    transport: Option<String>,
    /// With --rate: `exact` (wake at each arrival's time, ~0.1 ms dispatch lag), `tick` (the
    /// 1-ms timer, least CPU) or `auto` (exact up to 2,500 arrivals/s per worker).
    #[arg(long, default_value = "auto")]
    dispatch: String,
    /// Safety cap on requests per second (`limits.max_rps`); the closed model is paced to it.
    /// Higher than a config's default (100,000) so that `-c` runs as fast as the target allows.
    #[arg(long, default_value_t = 1_000_000.0)]
    max_rps: f64,
}

pub(crate) fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("a ratio from 0 to 1, e.g. 0.01 for 1 %".into()),
    }
}

/// Builds a one-request plan as JSON (a subset of YAML) so that `hit` goes through the same
/// validation as a file: URL rules, header rules, limits.
pub(crate) fn hit_config(a: &HitArgs) -> Result<Config> {
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
            serde_json::json!({ "phases": [{ "name": "hit", "duration": d, "rate": rate }], "max_in_flight": c.unwrap_or(1000), "iterations": a.requests, "dispatch": a.dispatch })
        }
        // `-c N` means N connections from the first moment: a 0s stage jumps there.
        (None, c) => {
            let n = c.unwrap_or(10);
            serde_json::json!({ "vus": [{ "duration": "0s", "target": n }, { "duration": d, "target": n }], "iterations": a.requests })
        }
    };
    let mut request =
        serde_json::json!({ "name": "hit", "method": a.method, "url": path, "headers": headers });
    if let Some(b) = &a.body {
        request["body"] = b.clone().into();
    }
    let doc = serde_json::json!({
        "limits": { "max_rps": a.max_rps },
        "targets": { "hit": {
            "base_url": base,
            "timeout": format!("{}ms", a.timeout.as_millis().max(1)),
            "transport": a.transport.clone().unwrap_or_else(|| if url.scheme() == "http" { "direct".into() } else { "pooled".into() }),
        } },
        "plans": { "hit": { "target": "hit", "load": load, "scenarios": [{ "name": "hit", "steps": [{ "request": request }] }] } }
    });
    let text = serde_json::to_string(&doc)?;
    match config::load_str(&text, "hit", None, &|_| None) {
        Ok(cfg) => Ok(cfg),
        Err(e) => bail!(
            "{}",
            e.0.iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

pub(crate) async fn hit(a: HitArgs) -> Result<u8> {
    let cfg = match hit_config(&a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(2);
        }
    };
    let plan = cfg.plans[0].clone();
    let mut progress = console::Progress::new(a.quiet);
    let session::Judged { summary: s, .. } = session::run(
        plan.clone(),
        &cfg.limits,
        &cfg.hash,
        &session::Options {
            criteria: Criteria {
                max_error_rate: Some(a.max_error_rate),
                baseline: None,
            },
            ..Default::default()
        },
        &mut progress,
        interrupt_token(),
    )
    .await?;
    drop(progress);
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
            "reasons": s.reasons, "dispatch_lag_p99_ms": s.validity.dispatch_lag.p99_ms,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(s.result.exit_code() as u8)
}
