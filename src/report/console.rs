//! Console views: the live progress line and the end-of-run summary table.

use super::summary::{Outcome, Summary};
use crate::judge::Verdict;
use crate::measure::LatencyStats;
use crate::run::{Control, Observer, WindowView};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Shows progress once a second: a rewritten line on a terminal, a log line every 10 s
/// otherwise, nothing when quiet.
pub struct Progress {
    tty: bool,
    quiet: bool,
    last_line: Option<Instant>,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            quiet,
            last_line: None,
        }
    }
}

/// One status line: elapsed/total, target vs achieved, window percentiles, errors, in flight.
pub fn status_line(v: &WindowView<'_>) -> String {
    let lat = LatencyStats::of(&v.window.merged_latency());
    let achieved = v.window.total_requests() as f64 / v.window_secs.max(1e-3);
    let target = if !v.workloads.is_empty() {
        v.workloads
            .iter()
            .map(|w| {
                if w.open_model {
                    format!("{} {:.1} arrivals/s", w.name, w.target)
                } else {
                    format!("{} {} VUs", w.name, w.target as u64)
                }
            })
            .collect::<Vec<_>>()
            .join(" · ")
    } else if v.open_model {
        format!("target {:.1} arrivals/s", v.target)
    } else {
        format!("{} VUs", v.target as u64)
    };
    let errors = v.total.total_errors();
    let reqs = v.total.total_requests().max(1);
    // Arrivals (iterations started) and requests are different units: an iteration of three
    // requests at 3.5 arrivals/s sends 10.5 req/s. Both are said as what they are.
    let started = v.window.total_iterations() as f64 / v.window_secs.max(1e-3);
    let window = if lat.is_empty() {
        "no request completed in the window".to_string()
    } else {
        format!(
            "p50 {:.1}ms p95 {:.1}ms p99 {:.1}ms",
            lat.p50_ms, lat.p95_ms, lat.p99_ms
        )
    };
    format!(
        "[{:>5.0}s/{:.0}s] {}{} | iterations done {:.1}/s, requests {:.1}/s | {window} | errors {} ({:.2}%) | in flight {} | dropped {}",
        v.elapsed.as_secs_f64(),
        v.scheduled.as_secs_f64(),
        v.phase.map(|p| format!("{p} | ")).unwrap_or_default(),
        target,
        started,
        achieved,
        errors,
        errors as f64 * 100.0 / reqs as f64,
        v.in_flight,
        v.total.dropped,
    )
}

impl Observer for Progress {
    fn on_window(&mut self, v: &WindowView<'_>) -> Control {
        if !self.quiet {
            let mut err = std::io::stderr().lock();
            if self.tty {
                let _ = write!(err, "\r\x1b[2K{}", status_line(v));
                let _ = err.flush();
            } else if self
                .last_line
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
            {
                let _ = writeln!(err, "{}", status_line(v));
                self.last_line = Some(Instant::now());
            }
        }
        Control::Continue
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.tty && !self.quiet {
            eprintln!();
        }
    }
}

/// The end-of-run report: per-request table, thresholds, verdict.
pub fn render(s: &Summary) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nplan {} → {}  ({:.1}s, {}, {} model)",
        s.plan,
        s.target,
        s.duration_s,
        s.share(),
        s.load.model
    );
    requests_table(&mut o, s);
    total_row(&mut o, s);
    streams_table(&mut o, s);
    totals(&mut o, s);
    workloads_table(&mut o, s);
    custom_metrics(&mut o, s);
    script_checks(&mut o, s);
    resources(&mut o, s);
    findings(&mut o, s);
    teardown(&mut o, s);
    verdict(&mut o, s);
    o
}

/// Milliseconds for people: `12.4ms`, `1.25s`.
fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else {
        format!("{v:.1}ms")
    }
}

/// A figure of `l` in milliseconds, or `-` when `l` measured nothing.
fn lat(l: &crate::measure::LatencyStats, v: f64) -> String {
    if l.is_empty() {
        "-".to_string()
    } else {
        ms(v)
    }
}

/// One row per streaming step: sessions, connect p50/p95, round trip and first-message p50,
/// gap p50/p99, messages each way with the received rate, and how sessions ended.
fn streams_table(o: &mut String, s: &Summary) {
    if s.streams.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n{:<28} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10} {:>7}",
        "stream",
        "sessions",
        "conn p50",
        "conn p95",
        "reply p50",
        "ping p50",
        "1st p50",
        "gap p50",
        "gap p99",
        "msgs in",
        "in/s",
        "disc%"
    );
    for t in &s.streams {
        let name = format!("{}/{} ({})", t.scenario, t.name, t.protocol);
        let _ = writeln!(
            o,
            "{:<28} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10.1} {:>7.2}",
            truncate(&name, 28),
            t.sessions,
            lat(&t.connect, t.connect.p50_ms),
            lat(&t.connect, t.connect.p95_ms),
            lat(&t.rtt, t.rtt.p50_ms),
            lat(&t.ping_rtt, t.ping_rtt.p50_ms),
            lat(&t.first_message, t.first_message.p50_ms),
            lat(&t.gap, t.gap.p50_ms),
            lat(&t.gap, t.gap.p99_ms),
            t.messages_received,
            t.messages_per_s,
            t.disconnect_rate * 100.0
        );
        for (kind, n) in t.ends.iter().filter(|(k, _)| k.as_str() != "normal") {
            let _ = writeln!(o, "    {n} × {kind}");
        }
        if !t.close_codes.is_empty() {
            let codes: Vec<String> = t
                .close_codes
                .iter()
                .map(|(c, n)| format!("{c} × {n}"))
                .collect();
            let _ = writeln!(o, "    close codes: {}", codes.join(", "));
        }
        if let Some(g) = t.grade {
            let _ = writeln!(o, "    grade {g}");
        }
    }
}

/// One row per request: count, rate, percentiles, errors by kind, checks.
fn requests_table(o: &mut String, s: &Summary) {
    request_rows(o, &s.requests, true);
}

/// One row per workload of a plan with several: when it ran, its model, and what its
/// scenarios measured.
fn workloads_table(o: &mut String, s: &Summary) {
    if s.workloads.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n{:<20} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "workload", "start", "model", "count", "req/s", "p50", "p95", "p99", "err%"
    );
    for w in &s.workloads {
        let l = &w.latency;
        let _ = writeln!(
            o,
            "{:<20} {:>6.0}s {:>7} {:>8} {:>8.1} {:>8} {:>8} {:>8} {:>7.2}",
            truncate(&w.name, 20),
            w.start_s,
            w.load.model,
            w.requests,
            w.rps,
            lat(l, l.p50_ms),
            lat(l, l.p95_ms),
            lat(l, l.p99_ms),
            w.error_rate * 100.0
        );
    }
}

/// A script's checks, k6's way: ✓ or ✗, then how many passed and failed.
fn script_checks(o: &mut String, s: &Summary) {
    if s.checks.is_empty() {
        return;
    }
    let _ = writeln!(o, "\nchecks");
    for c in &s.checks {
        let mark = if c.failed == 0 { '✓' } else { '✗' };
        let _ = writeln!(
            o,
            "  {mark} {:<50} {} passed, {} failed",
            truncate(&format!("{}/{}", c.scenario, c.name), 50),
            c.passed,
            c.failed
        );
    }
}

/// User-defined metrics, one line each (labelled counters with one line per value).
fn custom_metrics(o: &mut String, s: &Summary) {
    if s.custom_metrics.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{:<28} {:<8} figures", "metric", "type");
    for m in &s.custom_metrics {
        let _ = writeln!(
            o,
            "{:<28} {:<8} {}",
            truncate(&m.name, 28),
            m.kind,
            m.describe()
        );
        for (label, n) in &m.by_label {
            let _ = writeln!(o, "    {label}: {n}");
        }
    }
}

/// The teardown's outcome and its requests; never part of the verdict.
fn teardown(o: &mut String, s: &Summary) {
    let Some(t) = &s.teardown else {
        return;
    };
    match &t.reason {
        None => {
            let _ = writeln!(o, "\nteardown: passed in {:.2}s", t.duration_s);
        }
        Some(why) => {
            let _ = writeln!(
                o,
                "\nteardown: FAILED after {:.2}s: {why} (reported only; the verdict is unchanged)",
                t.duration_s
            );
        }
    }
    request_rows(o, &t.requests, false);
}

/// Rows of requests; `rates` false for the teardown, whose few requests over its own
/// milliseconds are no rate (a count and the duration above say what happened).
fn request_rows(o: &mut String, rows: &[crate::report::summary::RequestSummary], rates: bool) {
    let _ = writeln!(
        o,
        "{:<28} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9}",
        "request", "count", "req/s", "p50", "p90", "p95", "p99", "p99.9", "max", "err%", "checks"
    );
    for r in rows {
        let (cp, cf) = r
            .checks
            .iter()
            .fold((0, 0), |(p, f), c| (p + c.passed, f + c.failed));
        let checks = if cp + cf == 0 {
            "-".to_string()
        } else {
            format!("{cp}/{}", cp + cf)
        };
        let name = format!("{}/{}", r.scenario, r.name);
        let l = &r.latency;
        let _ = writeln!(
            o,
            "{:<28} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7.2} {:>9}",
            truncate(&name, 28),
            r.count,
            if rates {
                format!("{:.1}", r.rps)
            } else {
                "-".to_string()
            },
            lat(l, l.p50_ms),
            lat(l, l.p90_ms),
            lat(l, l.p95_ms),
            lat(l, l.p99_ms),
            lat(l, l.p999_ms),
            lat(l, l.max_ms),
            r.error_rate * 100.0,
            checks
        );
        for (kind, n) in &r.errors {
            let _ = writeln!(o, "    {n} × {kind}");
        }
    }
}

/// The HTTP TOTAL row, under the requests table (a plan of streams alone has none).
fn total_row(o: &mut String, s: &Summary) {
    let t = &s.totals;
    if t.requests == 0 && !s.streams.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "{:<28} {:>8} {:>8.1} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7.2}",
        "TOTAL",
        t.requests,
        t.rps,
        lat(&t.latency, t.latency.p50_ms),
        lat(&t.latency, t.latency.p90_ms),
        lat(&t.latency, t.latency.p95_ms),
        lat(&t.latency, t.latency.p99_ms),
        lat(&t.latency, t.latency.p999_ms),
        lat(&t.latency, t.latency.max_ms),
        t.error_rate * 100.0
    );
}

/// The generator's own figures.
fn totals(o: &mut String, s: &Summary) {
    let t = &s.totals;
    let mode = s
        .load
        .dispatch
        .as_ref()
        .map(|d| format!(", dispatch {d}"))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "iterations {}  dropped {}  dispatch lag p99 {:.2}ms{mode}  (latency is measured from the intended send time)",
        t.iterations, t.dropped_iterations, s.validity.dispatch_lag.p99_ms
    );
    if t.failed_iterations > 0 {
        let _ = writeln!(
            o,
            "{} of {} iteration(s) ended with an exception (the script's error and its place are in the log)",
            t.failed_iterations, t.iterations
        );
    }
    if t.stale_connection_retries > 0 {
        let _ = writeln!(
            o,
            "{} request(s) re-sent on a fresh connection: the target had closed the kept-alive one at reuse (not errors)",
            t.stale_connection_retries
        );
    }
    if t.paced_requests > 0 {
        let _ = writeln!(
            o,
            "{} request(s) waited for the limits.max_rps cap (closed model; their latency counts from the send)",
            t.paced_requests
        );
    }
}

/// Host, loadpacer and watched processes over the run.
fn resources(o: &mut String, s: &Summary) {
    if let Some(r) = s
        .resources
        .as_ref()
        .filter(|r| r.host_cpu_ratio.samples > 0)
    {
        let mib = |b: f64| b / (1024.0 * 1024.0);
        let _ = writeln!(
            o,
            "resources: host CPU avg {:.0}% max {:.0}%  loadpacer CPU avg {:.2} max {:.2} cores, RSS max {:.1} MiB",
            r.host_cpu_ratio.avg * 100.0,
            r.host_cpu_ratio.max * 100.0,
            r.loadpacer_cpu_cores.avg,
            r.loadpacer_cpu_cores.max,
            mib(r.loadpacer_rss_bytes.max)
        );
        for p in &r.processes {
            let growth = p
                .rss_growth_bytes_per_hour
                .map(|g| format!(", RSS growth {:+.1} MiB/h", mib(g)))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {}: CPU avg {:.2} max {:.2} cores, RSS avg {:.1} max {:.1} MiB{growth}",
                p.name,
                p.cpu_cores.avg,
                p.cpu_cores.max,
                mib(p.rss_bytes.avg),
                mib(p.rss_bytes.max)
            );
        }
    }
    for m in s.resources.iter().flat_map(|r| &r.monitors) {
        let value = if m.value.samples == 0 {
            "no value".to_string()
        } else {
            // The target's figures in their units (bytes as MiB, cores, ratios as %); a
            // user's monitor as polled.
            let shown = |v: f64| match crate::config::target_resources::figure_unit(&m.name) {
                Some(unit) => crate::judge::with_unit(v, unit),
                None => trim_number(v),
            };
            format!(
                "avg {} max {} over {} polls",
                shown(m.value.avg),
                shown(m.value.max),
                m.value.samples
            )
        };
        let failed = match m.series.iter().rev().find_map(|p| p.error.as_deref()) {
            Some(why) if m.errors > 0 => format!(", {} failed (last: {why})", m.errors),
            _ => String::new(),
        };
        let _ = writeln!(o, "monitor {}: {value}{failed}", m.name);
    }
}

/// A number without trailing zeros: `12`, `0.25`.
fn trim_number(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Capacity and latency drift, when the run has them.
fn findings(o: &mut String, s: &Summary) {
    if let Some(c) = &s.capacity {
        let _ = writeln!(o, "\ncapacity: {}", c.note);
        if let (Some(h), Some(n)) = (c.headroom_ratio, c.instances_needed) {
            let per = match (c.sizing.as_ref().and_then(|z| z.replicas), c.capacity_rps) {
                (Some(r), Some(cap)) => format!(
                    " (capacity measured on {r:.0} replicas: {:.1}/s each)",
                    cap / r
                ),
                _ => " (capacity measured as one instance's)".to_string(),
            };
            let _ = writeln!(
                o,
                "  headroom at the expected peak of {:.1}/s: {:.0}%, instances needed: {n}{per}",
                c.expected_peak_rps,
                h * 100.0
            );
        }
        if let Some(z) = &c.sizing {
            let _ = writeln!(o, "sizing: {}", z.note);
            let _ = writeln!(
                o,
                "  per 100 req/s: {:.3} cores{}",
                z.cpu_cores_per_100_rps,
                z.memory_bytes_per_100_rps
                    .map(|b| format!(", {:.1} MiB", b / 1048576.0))
                    .unwrap_or_default()
            );
            if let (Some(cpu), Some(mem)) = (z.cpu_request_per_pod, z.memory_limit_per_pod) {
                let _ = writeln!(
                    o,
                    "  per pod: CPU request {cpu:.2} cores, memory limit {:.0} MiB",
                    mem / 1048576.0
                );
            }
        }
    }
    if let Some(k) = &s.soak {
        let trend = if k.significant {
            "a trend"
        } else {
            "within noise, no trend"
        };
        let _ = writeln!(
            o,
            "latency drift: p95 {:+.1}% per hour ({:+.2} ms/h over {} windows): {trend}",
            k.latency_drift_per_hour * 100.0,
            k.latency_drift_ms_per_hour,
            k.windows
        );
    }
}

/// Thresholds, grade, result and reasons.
fn verdict(o: &mut String, s: &Summary) {
    if !s.thresholds.is_empty() {
        let _ = writeln!(o, "\nthresholds");
        for th in &s.thresholds {
            let mark = match th.verdict {
                Verdict::Pass => "✓ pass   ",
                Verdict::Fail => "✗ FAIL   ",
                Verdict::NoData => "? NO DATA",
            };
            let observed = th
                .observed_text()
                .map(|v| format!("observed {v}"))
                .unwrap_or_else(|| "no samples".into());
            let _ = writeln!(o, "  {mark} {}: {}  ({observed})", th.metric, th.expr);
        }
    }
    if let Some(g) = &s.grade {
        let _ = writeln!(o, "\ngrade {g}");
    }
    let _ = writeln!(o, "\nresult {}", verdict_line(s));
    for r in &s.reasons {
        let _ = writeln!(o, "  - {r}");
    }
}

/// The verdict with what decided it: `FAILED (regression)`, `FAILED: 100.0 % errors (timeout 10)`.
pub fn verdict_line(s: &Summary) -> String {
    match s.result {
        Outcome::Passed => "PASSED".into(),
        Outcome::Failed => match s.reasons.iter().find_map(|r| r.strip_prefix("errors: ")) {
            Some(errors) => format!("FAILED: {errors}"),
            None => format!("FAILED ({})", s.failure_causes().join(", ")),
        },
        Outcome::Aborted => "ABORTED".into(),
        Outcome::Interrupted => "INTERRUPTED".into(),
        Outcome::Error => "ERROR (loadpacer failed during the run; see the reasons)".into(),
        Outcome::Invalid => {
            "INVALID (the generator was the bottleneck; these figures do not describe the target)"
                .into()
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// Side-by-side figures of two summaries with relative deltas (B against baseline A).
/// Summaries side by side: the first is the baseline, every other column shows its value and
/// its change from the baseline (`1, 3 and 5 replicas`). Rows: totals, then each request the
/// baseline and a column share.
pub fn compare(all: &[&Summary]) -> String {
    let mut o = String::new();
    let Some(base) = all.first() else {
        return o;
    };
    let label = |i: usize| char::from(b'A' + (i % 26) as u8);
    for (i, s) in all.iter().enumerate() {
        let _ = writeln!(
            o,
            "{}: {} {} ({}){}",
            label(i),
            s.plan,
            s.started_at,
            s.result.as_str(),
            if i == 0 { ", the baseline" } else { "" }
        );
    }
    let _ = write!(o, "\n{:<34} {:>12}", "figure", "A");
    for i in 1..all.len() {
        let _ = write!(o, " {:>12} {:>9}", label(i), "delta");
    }
    let _ = writeln!(o);
    let delta = |x: f64, y: f64| {
        if x == 0.0 {
            if y == 0.0 {
                "0%".to_string()
            } else {
                "new".to_string()
            }
        } else {
            format!("{:+.1}%", (y - x) / x * 100.0)
        }
    };
    let mut row = |name: &str, get: &dyn Fn(&Summary) -> Option<f64>| {
        let Some(x) = get(base) else { return };
        let _ = write!(o, "{name:<34} {x:>12.3}");
        for s in &all[1..] {
            match get(s) {
                Some(y) => {
                    let _ = write!(o, " {y:>12.3} {:>9}", delta(x, y));
                }
                None => {
                    let _ = write!(o, " {:>12} {:>9}", "-", "");
                }
            }
        }
        let _ = writeln!(o);
    };
    row("throughput (req/s)", &|s| Some(s.totals.rps));
    row("error rate", &|s| Some(s.totals.error_rate));
    row("latency p50 (ms)", &|s| Some(s.totals.latency.p50_ms));
    row("latency p95 (ms)", &|s| Some(s.totals.latency.p95_ms));
    row("latency p99 (ms)", &|s| Some(s.totals.latency.p99_ms));
    if all.iter().all(|s| {
        s.capacity
            .as_ref()
            .is_some_and(|c| c.capacity_rps.is_some())
    }) {
        row("capacity (req/s)", &|s| s.capacity.as_ref()?.capacity_rps);
    }
    for r in &base.requests {
        let find = |s: &Summary| {
            s.requests
                .iter()
                .find(|x| x.scenario == r.scenario && x.name == r.name)
                .cloned()
        };
        row(&format!("{}/{} p95 (ms)", r.scenario, r.name), &|s| {
            find(s).map(|x| x.latency.p95_ms)
        });
        row(&format!("{}/{} error rate", r.scenario, r.name), &|s| {
            find(s).map(|x| x.error_rate)
        });
    }
    o
}
