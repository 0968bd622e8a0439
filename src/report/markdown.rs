//! A run's summary as Markdown, short enough for a CI job summary or a pull-request comment:
//! the verdict and why, the thresholds, the requests (the busiest first), the comparison with
//! the baseline and the capacity. Text from the config is escaped so that it cannot break a
//! table or inject markup.

use super::summary::{RequestSummary, Summary};
use crate::judge::Verdict;
use crate::measure::LatencyStats;
use std::fmt::Write;

/// Requests listed before the rest are summed up in one line.
const MAX_REQUEST_ROWS: usize = 15;

/// The Markdown summary of a run.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### loadpacer: `{}` {}\n",
        code(&s.plan),
        s.result.as_str().to_uppercase()
    );
    let grade = s
        .grade
        .map(|g| format!(" · grade {}", g.as_str()))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} · {:.1} s of {:.1} s · {} model · {}{grade}\n",
        cell(&s.target),
        s.duration_s,
        s.scheduled_s,
        s.load.model,
        s.share()
    );
    for r in &s.reasons {
        let _ = writeln!(out, "- {}", cell(r));
    }
    if !s.reasons.is_empty() {
        out.push('\n');
    }
    if s.totals.requests > 0 || s.streams.is_empty() {
        requests(&mut out, s);
    }
    streams(&mut out, s);
    workloads(&mut out, s);
    failed_checks(&mut out, s);
    thresholds(&mut out, s);
    baseline(&mut out, s);
    capacity(&mut out, s);
    out
}

fn requests(out: &mut String, s: &Summary) {
    let t = &s.totals;
    out.push_str("| request | count | req/s | p50 | p95 | p99 | errors |\n|---|---:|---:|---:|---:|---:|---:|\n");
    let row = |out: &mut String, name: &str, count: u64, rps: f64, l: &LatencyStats, err: f64| {
        let _ = writeln!(
            out,
            "| {name} | {count} | {rps:.1} | {} | {} | {} | {:.2} % |",
            ms(count, l.p50_ms),
            ms(count, l.p95_ms),
            ms(count, l.p99_ms),
            err * 100.0
        );
    };
    row(
        out,
        "**total**",
        t.requests,
        t.rps,
        &t.latency,
        t.error_rate,
    );
    let mut busiest: Vec<&RequestSummary> = s.requests.iter().collect();
    busiest.sort_by_key(|r| std::cmp::Reverse(r.count));
    for r in busiest.iter().take(MAX_REQUEST_ROWS) {
        let name = format!("{}/{}", cell(&r.scenario), cell(&r.name));
        row(out, &name, r.count, r.rps, &r.latency, r.error_rate);
    }
    if busiest.len() > MAX_REQUEST_ROWS {
        let _ = writeln!(
            out,
            "| … {} more in summary.json | | | | | | |",
            busiest.len() - MAX_REQUEST_ROWS
        );
    }
    out.push('\n');
}

/// The checks that failed, with how often.
fn failed_checks(out: &mut String, s: &Summary) {
    // A request's checks, then a script's (of no one request), as (where, check, failed, all).
    let by_request = s.requests.iter().flat_map(|r| {
        r.checks
            .iter()
            .map(move |c| (r.name.as_str(), c.name.as_str(), c.failed, c.passed))
    });
    let by_script = s
        .checks
        .iter()
        .map(|c| (c.scenario.as_str(), c.name.as_str(), c.failed, c.passed));
    let failed: Vec<String> = by_request
        .chain(by_script)
        .filter(|(_, _, failed, _)| *failed > 0)
        .map(|(place, check, failed, passed)| {
            format!(
                "- check `{}: {}` failed {} of {}",
                code(place),
                code(check),
                failed,
                failed + passed
            )
        })
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "{}\n", failed.join("\n"));
    }
}

fn thresholds(out: &mut String, s: &Summary) {
    if s.thresholds.is_empty() {
        return;
    }
    out.push_str("| threshold | observed | result |\n|---|---:|---|\n");
    for t in &s.thresholds {
        let result = match t.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "**FAIL**",
            Verdict::NoData => "**no data**",
        };
        let _ = writeln!(
            out,
            "| `{} {}` | {} | {result} |",
            code(&t.metric),
            code(&t.expr),
            t.observed_text().unwrap_or_else(|| "-".into())
        );
    }
    out.push('\n');
}

fn baseline(out: &mut String, s: &Summary) {
    let Some(r) = &s.regression else { return };
    let _ = writeln!(
        out,
        "Against the baseline ({}):\n\n| figure | baseline | this run | change | |\n|---|---:|---:|---:|---|",
        cell(&r.baseline)
    );
    for d in &r.deltas {
        let flag = if d.regressed {
            "**regressed**"
        } else if d.too_few_samples {
            "too few samples to judge"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| {} | {:.3} | {:.3} | {:+.1} % | {flag} |",
            cell(&d.metric),
            d.baseline,
            d.current,
            d.delta_ratio * 100.0
        );
    }
    out.push('\n');
}

fn capacity(out: &mut String, s: &Summary) {
    let Some(c) = &s.capacity else { return };
    let slo = format!(
        "p95 < {:.0} ms, errors < {:.2} %",
        c.slo_p95_ms,
        c.slo_error_rate * 100.0
    );
    let line = match (c.capacity_rps, c.capacity_at_least_rps) {
        (Some(cap), _) => format!(
            "Capacity: **{cap:.0} req/s** at the SLO ({slo}){}",
            c.headroom_ratio
                .map(|h| format!(
                    "; {:.0} % headroom at the expected peak of {:.0} req/s",
                    h * 100.0,
                    c.expected_peak_rps
                ))
                .unwrap_or_default()
        ),
        (None, Some(at_least)) => format!(
            "Capacity: at least {at_least:.0} req/s at the SLO ({slo}); no limit was reached, so it was not measured"
        ),
        (None, None) => format!("Capacity: not measured (no window met the SLO: {slo})"),
    };
    let _ = writeln!(out, "{line}\n");
}

/// One row per streaming step: sessions, connect p95, reply p95, messages per second and
/// abnormal ends, the figures a stream is judged by.
fn streams(out: &mut String, s: &Summary) {
    if s.streams.is_empty() {
        return;
    }
    out.push_str("| stream | sessions | connect p95 | reply p95 | ping p95 | messages/s | abnormal ends |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for t in &s.streams {
        let abnormal: u64 = t
            .ends
            .iter()
            .filter(|(k, _)| k.as_str() != "normal")
            .map(|(_, n)| n)
            .sum();
        let p95 = |l: &LatencyStats| {
            if l.is_empty() {
                "-".to_string()
            } else {
                format!("{:.1} ms", l.p95_ms)
            }
        };
        let _ = writeln!(
            out,
            "| {}/{} ({}) | {} | {} | {} | {} | {:.1} | {abnormal} |",
            cell(&t.scenario),
            cell(&t.name),
            cell(&t.protocol),
            t.sessions,
            p95(&t.connect),
            p95(&t.rtt),
            p95(&t.ping_rtt),
            t.messages_per_s
        );
    }
    out.push('\n');
}

/// One row per workload of a plan with several.
fn workloads(out: &mut String, s: &Summary) {
    if s.workloads.is_empty() {
        return;
    }
    out.push_str(
        "| workload | model | requests | req/s | p95 | errors |\n|---|---|---:|---:|---:|---:|\n",
    );
    for w in &s.workloads {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {} | {:.2} % |",
            cell(&w.name),
            w.load.model,
            w.requests,
            w.rps,
            ms(w.requests, w.latency.p95_ms),
            w.error_rate * 100.0
        );
    }
    out.push('\n');
}

/// A latency in a table, or `-` where nothing was measured.
fn ms(count: u64, v: f64) -> String {
    if count == 0 {
        "-".into()
    } else {
        format!("{v:.1} ms")
    }
}

/// Text for a table cell: no pipe, newline or markup survives.
fn cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// Text inside backticks: no backtick or pipe survives.
fn code(s: &str) -> String {
    s.replace('`', "'")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}
