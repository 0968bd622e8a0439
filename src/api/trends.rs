//! History pages: `/plans/{name}` (a plan's figures per run over time, from the store) and
//! `/compare?run=ID&run=ID…` (runs side by side with deltas). Plain HTML with inline SVG:
//! usable without JavaScript and on a phone; every config or run string is escaped.

use super::pages::{page, page_error, when};
use super::{valid_id, Ctx};
use crate::config::PlanSpec;
use crate::judge::verdict::Outcome;
use crate::report::chart::{svg, Frame, Line, PALETTE};
use crate::report::html::esc;
use crate::report::Summary;
use crate::store::{RunFigures, RunStatus};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use std::fmt::Write;

/// Runs a plan page shows when it is not told: enough for ten weeks of weekly runs and
/// more, few enough to read.
const DEFAULT_LAST: u32 = 50;
/// What "all" means: the newest this many, so a page stays a page.
const ALL_CAP: u32 = 5000;
/// The dates a range may name, as (year, day of the year): the store's times start at the
/// Unix epoch, and the day after the last one must still be a four-digit year.
const FIRST_DAY: (i32, u32) = (1970, 1);
const LAST_DAY: (i32, u32) = (9999, 364);
/// Runs one comparison takes.
const MAX_COMPARED: usize = 10;

#[derive(Deserialize)]
pub(super) struct Range {
    last: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The runs a range selects: (since, until) in Unix ms and how many of the newest.
#[derive(Debug, PartialEq)]
struct Selection {
    since: Option<i64>,
    until: Option<i64>,
    limit: u32,
}

impl Range {
    /// `last` is 10, 50 or `all`; `from`/`to` are dates (`YYYY-MM-DD`, `to` inclusive).
    fn select(&self) -> Result<Selection, String> {
        let day = |field: &str, v: &Option<String>| -> Result<Option<i64>, String> {
            match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .filter(|d| (FIRST_DAY..=LAST_DAY).contains(&(d.year(), d.ordinal())))
                    .map(|d| Some(d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_millis()))
                    .ok_or_else(|| {
                        format!(
                            "{field}={:?} is not a date from 1970-01-01 to 9999-12-30: use YYYY-MM-DD",
                            crate::config::clip(s)
                        )
                    }),
            }
        };
        let since = day("from", &self.from)?;
        let until = day("to", &self.to)?.map(|t| t + 86_400_000);
        if let (Some(a), Some(b)) = (since, until) {
            if a >= b {
                return Err("from must be on or before to".into());
            }
        }
        let dated = since.is_some() || until.is_some();
        let limit = match self.last.as_deref() {
            None if dated => ALL_CAP,
            None => DEFAULT_LAST,
            Some("all") => ALL_CAP,
            Some(n) => match n.parse::<u32>() {
                Ok(n @ 1..=5000) => n,
                _ => {
                    return Err(format!(
                        "last={n:?}: use a number of runs (1 to {ALL_CAP}) or all"
                    ))
                }
            },
        };
        Ok(Selection {
            since,
            until,
            limit,
        })
    }
}

/// `GET /plans/{name}`: the plan, its schedule and baseline, its figures per run as charts,
/// the latest run's thresholds, and the runs with links to their reports and a comparison.
pub(super) async fn plan(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    q: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let cfg = ctx.app.config();
    let Some(plan) = cfg.plan(&name) else {
        return page_error(
            StatusCode::NOT_FOUND,
            "no plan with this name in the config in force; see /plans",
        );
    };
    let sel = match q.map_err(|e| e.body_text()).and_then(|Query(r)| r.select()) {
        Ok(s) => s,
        Err(e) => return page_error(StatusCode::BAD_REQUEST, &e),
    };
    let runs = match ctx
        .app
        .store()
        .history(&name, sel.since, sel.until, sel.limit)
    {
        Ok(r) => r,
        Err(e) => return page_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let mut b = String::new();
    facts(&mut b, plan, &ctx.app.live_runs(&name));
    range_nav(&mut b, &name, &sel);
    if runs.is_empty() {
        b.push_str("<p id=\"no-runs\">No finished runs in this range.</p>");
        return page(&format!("Plan {name}"), &b);
    }
    trend_charts(&mut b, &runs);
    let latest = runs
        .last()
        .and_then(|r| ctx.app.store().get(&r.id).ok().flatten());
    if let Some(s) = latest
        .and_then(|r| r.summary)
        .and_then(|v| serde_json::from_value::<Summary>(v).ok())
    {
        latest_thresholds(&mut b, &s);
    }
    runs_table(&mut b, &runs);
    page(&format!("Plan {name}"), &b)
}

/// What the plan is and how it is judged.
fn facts(b: &mut String, plan: &PlanSpec, live: &[String]) {
    let now = chrono::Utc::now();
    let next = plan
        .schedule
        .as_ref()
        .and_then(|s| crate::config::next_fire(s, now))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "on demand".into());
    let baseline = match &plan.regression {
        None => "none: the plan has no regression block".to_string(),
        Some(r) => {
            let against = match &r.baseline_run {
                Some(id) => format!("the pinned run {id}"),
                None => format!(
                    "the median of the last {} passed runs with the same config",
                    r.window
                ),
            };
            format!(
                "{against}; latency may grow {:.0} %, the error rate {:.2} points, throughput drop {:.0} %",
                r.latency * 100.0,
                r.error_rate * 100.0,
                r.throughput * 100.0
            )
        }
    };
    let _ = write!(
        b,
        "<p id=\"description\">{}</p><div class=\"scroll\"><table id=\"facts\">\
         <tr><th>target</th><td>{}</td></tr><tr><th>schedule</th><td>{}</td></tr>\
         <tr><th>next run</th><td id=\"next-run\">{}</td></tr><tr><th>baseline</th><td id=\"baseline\">{}</td></tr>\
         <tr><th>running now</th><td>{}</td></tr></table></div>",
        esc(plan.description.as_deref().unwrap_or("")),
        esc(plan.target.base_url.as_str()),
        esc(&plan.schedule.as_ref().map(|s| s.describe()).unwrap_or_else(|| "none (on demand)".into())),
        esc(&next),
        esc(&baseline),
        if live.is_empty() {
            "no".into()
        } else {
            live.iter()
                .map(|id| format!("<a href=\"/live/{0}\">live view of {0}</a>", esc(id)))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
}

/// Links for the usual ranges and a date form (a GET form: no script needed).
fn range_nav(b: &mut String, name: &str, sel: &Selection) {
    let n = esc(name);
    let _ = write!(
        b,
        "<p id=\"range\">Showing {}: <a href=\"/plans/{n}?last=10\">last 10</a> <a href=\"/plans/{n}?last=50\">last 50</a> <a href=\"/plans/{n}?last=all\">all</a></p>\
         <form method=\"get\" action=\"/plans/{n}\"><label>from <input type=\"date\" name=\"from\"></label> <label>to <input type=\"date\" name=\"to\"></label> <button>Show</button></form>",
        match (sel.since, sel.until) {
            (None, None) if sel.limit == ALL_CAP => format!("all runs (the newest {ALL_CAP} at most)"),
            (None, None) => format!("the last {} runs", sel.limit),
            _ => format!(
                "runs started from {} to {}",
                sel.since.map(when).unwrap_or_else(|| "the first".into()),
                sel.until.map(when).unwrap_or_else(|| "now".into())
            ),
        }
    );
}

/// Charts of the figures per run, oldest left; failed runs and regressions are marked.
fn trend_charts(b: &mut String, runs: &[RunFigures]) {
    let frame = Frame {
        x_max: (runs.len().saturating_sub(1)).max(1) as f64,
        bands: Vec::new(),
        x_labels: (
            when(runs[0].started_at),
            when(runs[runs.len() - 1].started_at),
        ),
        marks: run_marks(runs),
    };
    let line = |label: &str, color, f: fn(&RunFigures) -> Option<f64>| Line {
        label: label.into(),
        color,
        points: runs
            .iter()
            .enumerate()
            .map(|(i, r)| (i as f64, f(r)))
            .collect(),
    };
    let _ = write!(
        b,
        "<h2>Latency per run</h2><div class=\"card\" id=\"latency-trend\">{}</div>\
         <h2>Error rate per run</h2><div class=\"card\" id=\"errors-trend\">{}</div>\
         <h2>Throughput per run</h2><div class=\"card\" id=\"throughput-trend\">{}</div>",
        svg(
            &[
                line("p50", PALETTE[0], |r| r.p50_ms),
                line("p95", PALETTE[2], |r| r.p95_ms),
                line("p99", PALETTE[4], |r| r.p99_ms),
            ],
            &frame,
            " ms"
        ),
        svg(
            &[line("errors", PALETTE[4], |r| r
                .error_rate
                .map(|e| e * 100.0))],
            &frame,
            " %"
        ),
        svg(&[line("req/s", PALETTE[1], |r| r.rps)], &frame, "/s"),
    );
    if runs.iter().any(|r| r.streams.is_some()) {
        let _ = write!(
            b,
            "<h2>Streams per run</h2><div class=\"card\" id=\"streams-trend\">{}</div>",
            svg(
                &[
                    line("connect p95", PALETTE[0], |r| {
                        r.streams.as_ref().and_then(|s| s.connect_p95_ms)
                    }),
                    line("reply p95", PALETTE[2], |r| {
                        r.streams.as_ref().and_then(|s| s.reply_p95_ms)
                    }),
                ],
                &frame,
                " ms"
            )
        );
    }
    if runs
        .iter()
        .any(|r| r.capacity_rps.is_some() || r.capacity_at_least_rps.is_some())
    {
        let _ = write!(
            b,
            "<h2>Capacity per run</h2><div class=\"card\" id=\"capacity-trend\">{}<small>A run that found no limit shows its lower bound (\"at least\"), never a capacity.</small></div>",
            svg(
                &[
                    line("capacity", PALETTE[3], |r| r.capacity_rps),
                    line("at least", PALETTE[5], |r| r.capacity_at_least_rps),
                ],
                &frame,
                "/s"
            )
        );
    }
    b.push_str("<p><small>Dashed marks: <span class=\"failed\">a run that did not pass</span>, <span class=\"invalid\">a regression against the baseline</span> (hover for the date).</small></p>");
}

/// A mark at every run that regressed (amber) or did not pass (red), with its date.
fn run_marks(runs: &[RunFigures]) -> Vec<(f64, &'static str, String)> {
    runs.iter()
        .enumerate()
        .filter_map(|(i, r)| {
            if r.regressed == Some(true) {
                Some((
                    i as f64,
                    "#bf8700",
                    format!("regression: {}", when(r.started_at)),
                ))
            } else if r.status != RunStatus::Finished(Outcome::Passed) {
                Some((
                    i as f64,
                    "#cf222e",
                    format!("{}: {}", r.status, when(r.started_at)),
                ))
            } else {
                None
            }
        })
        .collect()
}

fn latest_thresholds(b: &mut String, s: &Summary) {
    if s.thresholds.is_empty() {
        return;
    }
    let _ = write!(
        b,
        "<h2>Thresholds of the latest run</h2><div class=\"scroll\"><table id=\"thresholds\"><tr><th>metric</th><th>rule</th><th>measured</th><th>result</th></tr>"
    );
    for t in &s.thresholds {
        let verdict = match t.verdict {
            crate::judge::Verdict::Pass => "passed",
            crate::judge::Verdict::Fail => "failed",
            crate::judge::Verdict::NoData => "invalid",
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{verdict}\">{}</td></tr>",
            esc(&t.metric),
            esc(&t.expr),
            esc(&t.observed_text().unwrap_or_else(|| "no data".into())),
            if verdict == "invalid" {
                "no data"
            } else {
                verdict
            }
        );
    }
    b.push_str("</table></div>");
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "–".into())
}

/// The runs, newest first, each with a box to pick it for the comparison.
fn runs_table(b: &mut String, runs: &[RunFigures]) {
    b.push_str("<h2>Runs</h2><form method=\"get\" action=\"/compare\"><div class=\"scroll\"><table id=\"plan-runs\"><tr><th></th><th>started</th><th>trigger</th><th>result</th><th>requests</th><th>p50</th><th>p95</th><th>p99</th><th>errors</th><th>req/s</th><th>capacity</th><th>thresholds</th><th>baseline</th><th></th></tr>");
    let streams = runs.iter().any(|r| r.streams.is_some());
    for r in runs.iter().rev() {
        let capacity = match (r.capacity_rps, r.capacity_at_least_rps) {
            (Some(c), _) => format!("{c:.0}/s"),
            (None, Some(c)) => format!("≥ {c:.0}/s"),
            _ => "–".into(),
        };
        let baseline = match r.regressed {
            Some(true) => "<span class=\"invalid\">regressed</span>",
            Some(false) => "as before",
            None => "–",
        };
        let _ = write!(
            b,
            "<tr data-run=\"{id}\"><td><input type=\"checkbox\" name=\"run\" value=\"{id}\" aria-label=\"compare\"></td><td>{}</td><td>{}</td><td class=\"{s}\">{s}</td><td>{}</td><td>{}</td><td class=\"p95\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{capacity}</td><td>{}</td><td>{baseline}</td><td><a href=\"/runs/{id}\">report</a></td></tr>",
            when(r.started_at),
            r.trigger,
            r.requests.map(|n| n.to_string()).unwrap_or_else(|| "–".into()),
            opt(r.p50_ms, |v| format!("{v:.1} ms")),
            opt(r.p95_ms, |v| format!("{v:.1} ms")),
            opt(r.p99_ms, |v| format!("{v:.1} ms")),
            opt(r.error_rate, |v| format!("{:.2} %", v * 100.0)),
            opt(r.rps, |v| format!("{v:.1}")),
            if r.thresholds == 0 {
                "–".to_string()
            } else {
                format!("{} of {} passed", r.thresholds - r.thresholds_failed, r.thresholds)
            },
            id = esc(&r.id),
            s = r.status,
        );
    }
    b.push_str("</table></div>");
    if streams {
        streams_table(b, runs);
    }
    b.push_str("<button>Compare the selected runs</button></form>");
}

/// The stream figures of each run, newest first: sessions, connect and reply p95,
/// messages per second and abnormal ends (what the HTTP columns say of requests).
fn streams_table(b: &mut String, runs: &[RunFigures]) {
    b.push_str("<div class=\"scroll\"><table id=\"plan-streams\"><tr><th>started</th><th>sessions</th><th>connect p95</th><th>reply p95</th><th>messages/s</th><th>abnormal ends</th></tr>");
    for r in runs.iter().rev() {
        let Some(s) = &r.streams else { continue };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
            when(r.started_at),
            s.sessions,
            opt(s.connect_p95_ms, |v| format!("{v:.1} ms")),
            opt(s.reply_p95_ms, |v| format!("{v:.1} ms")),
            s.messages_per_s,
            s.abnormal_ends
        );
    }
    b.push_str("</table></div>");
}

/// `GET /compare?run=ID&run=ID…`: two to ten stored runs side by side; deltas against the
/// first one given.
pub(super) async fn compare(State(ctx): State<Ctx>, RawQuery(q): RawQuery) -> Response {
    let ids: Vec<&str> = q
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix("run="))
        .collect();
    if !(2..=MAX_COMPARED).contains(&ids.len()) {
        return page_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "pick 2 to {MAX_COMPARED} runs: /compare?run=ID&run=ID (tick them on a plan page)"
            ),
        );
    }
    if let Some(bad) = ids.iter().find(|id| !valid_id(id)) {
        return page_error(
            StatusCode::BAD_REQUEST,
            &format!("run={bad:?}: run ids are UUIDs"),
        );
    }
    let mut runs = Vec::new();
    for id in &ids {
        let summary = match ctx.app.store().get(id) {
            Ok(Some(r)) => r
                .summary
                .and_then(|v| serde_json::from_value::<Summary>(v).ok()),
            Ok(None) => None,
            Err(e) => return page_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        };
        match summary {
            Some(s) => runs.push((*id, s)),
            None => return page_error(StatusCode::NOT_FOUND, &format!("run {id} is not stored or has no summary (still running, or it could not start)")),
        }
    }
    let mut b = String::new();
    compare_totals(&mut b, &runs);
    compare_requests(&mut b, &runs);
    page("Compare runs", &b)
}

/// How a figure changed against the first run; `worse` tells which direction is bad.
fn delta(first: Option<f64>, v: Option<f64>, higher_is_worse: bool) -> String {
    match (first, v) {
        (Some(a), Some(b)) if a.abs() > 1e-12 => {
            let d = (b - a) / a.abs() * 100.0;
            let worse = if higher_is_worse { d > 0.5 } else { d < -0.5 };
            format!(
                " <small class=\"{}\">({d:+.1} %)</small>",
                if worse { "failed" } else { "" }
            )
        }
        _ => String::new(),
    }
}

type Figure = (
    &'static str,
    fn(&Summary) -> Option<f64>,
    &'static str,
    bool,
);

fn measured_ms(s: &Summary, v: f64) -> Option<f64> {
    (s.totals.requests > 0).then_some(v)
}

const FIGURES: [Figure; 8] = [
    ("requests", |s| Some(s.totals.requests as f64), "", false),
    ("req/s", |s| Some(s.totals.rps), "/s", false),
    (
        "p50",
        |s| measured_ms(s, s.totals.latency.p50_ms),
        " ms",
        true,
    ),
    (
        "p95",
        |s| measured_ms(s, s.totals.latency.p95_ms),
        " ms",
        true,
    ),
    (
        "p99",
        |s| measured_ms(s, s.totals.latency.p99_ms),
        " ms",
        true,
    ),
    (
        "max",
        |s| measured_ms(s, s.totals.latency.max_ms),
        " ms",
        true,
    ),
    (
        "error rate %",
        |s| (s.totals.requests > 0).then_some(s.totals.error_rate * 100.0),
        " %",
        true,
    ),
    (
        "capacity",
        |s| s.capacity.as_ref().and_then(|c| c.capacity_rps),
        "/s",
        false,
    ),
];

fn compare_totals(b: &mut String, runs: &[(&str, Summary)]) {
    b.push_str("<div class=\"scroll\"><table id=\"compare\"><tr><th></th>");
    for (id, s) in runs {
        let _ = write!(
            b,
            "<th><a href=\"/runs/{}\">{}</a><br><small>{}</small></th>",
            esc(id),
            esc(&s.plan),
            esc(&s.started_at)
        );
    }
    b.push_str("</tr><tr><th>result</th>");
    for (_, s) in runs {
        let _ = write!(b, "<td class=\"{0}\">{0}</td>", s.result.as_str());
    }
    b.push_str("</tr><tr><th>config</th>");
    for (_, s) in runs {
        let _ = write!(b, "<td>{}</td>", esc(&s.config_hash));
    }
    b.push_str("</tr>");
    for (label, f, unit, worse_up) in FIGURES {
        let first = f(&runs[0].1);
        let _ = write!(b, "<tr data-figure=\"{label}\"><th>{label}</th>");
        for (i, (_, s)) in runs.iter().enumerate() {
            let v = f(s);
            let text = v
                .map(|v| format!("{v:.1}{unit}"))
                .unwrap_or_else(|| "–".into());
            let d = if i == 0 {
                String::new()
            } else {
                delta(first, v, worse_up)
            };
            let _ = write!(b, "<td>{text}{d}</td>");
        }
        b.push_str("</tr>");
    }
    b.push_str("</table></div><p><small>Deltas are against the first column; red where the figure got worse.</small></p>");
}

/// p95 of each request side by side, for the requests the first run has.
fn compare_requests(b: &mut String, runs: &[(&str, Summary)]) {
    b.push_str("<h2>p95 per request</h2><div class=\"scroll\"><table id=\"compare-requests\"><tr><th>request</th>");
    for (i, _) in runs.iter().enumerate() {
        let _ = write!(b, "<th>run {}</th>", i + 1);
    }
    b.push_str("</tr>");
    for req in runs[0].1.requests.iter().take(50) {
        let _ = write!(b, "<tr><td>{} {}</td>", esc(&req.scenario), esc(&req.name));
        let first = (req.count > 0).then_some(req.latency.p95_ms);
        for (i, (_, s)) in runs.iter().enumerate() {
            let v = s
                .requests
                .iter()
                .find(|r| r.scenario == req.scenario && r.name == req.name)
                .filter(|r| r.count > 0)
                .map(|r| r.latency.p95_ms);
            let d = if i == 0 {
                String::new()
            } else {
                delta(first, v, true)
            };
            let _ = write!(b, "<td>{}{d}</td>", opt(v, |v| format!("{v:.1} ms")));
        }
        b.push_str("</tr>");
    }
    b.push_str("</table></div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(last: Option<&str>, from: Option<&str>, to: Option<&str>) -> Range {
        Range {
            last: last.map(Into::into),
            from: from.map(Into::into),
            to: to.map(Into::into),
        }
    }

    #[test]
    fn ranges_are_validated() {
        assert_eq!(
            range(None, None, None).select().unwrap().limit,
            DEFAULT_LAST
        );
        assert_eq!(
            range(Some("all"), None, None).select().unwrap().limit,
            ALL_CAP
        );
        assert_eq!(range(Some("10"), None, None).select().unwrap().limit, 10);
        let s = range(None, Some("2026-11-01"), Some("2026-11-01"))
            .select()
            .unwrap();
        assert_eq!(
            s.until.unwrap() - s.since.unwrap(),
            86_400_000,
            "to is inclusive"
        );
        assert_eq!(s.limit, ALL_CAP);
        for bad in [
            range(Some("0"), None, None),
            range(Some("ten"), None, None),
            range(None, Some("2026-13-01"), None),
            range(None, Some("2026-11-02"), Some("2026-11-01")),
            range(None, Some("<script>"), None),
        ] {
            assert!(bad.select().is_err());
        }
    }

    #[test]
    fn deltas_say_which_way_is_worse() {
        assert!(delta(Some(10.0), Some(12.0), true).contains("failed"));
        assert!(!delta(Some(10.0), Some(12.0), false).contains("failed"));
        assert!(delta(Some(10.0), Some(12.0), true).contains("+20.0 %"));
        assert_eq!(delta(None, Some(1.0), true), "");
        assert_eq!(delta(Some(0.0), Some(1.0), true), "");
    }
}
