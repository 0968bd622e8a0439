//! Read-only HTML pages: recent runs, plans, and each stored run as its HTML report, JSON
//! summary or JUnit XML (a plan's history and comparisons are in `trends`). Every config-supplied string is escaped; there are no write actions.

use super::{error, valid_id, Ctx};
use crate::report::html::esc;
use crate::report::Summary;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use std::fmt::Write;

const STYLE: &str = "<style>body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}main{max-width:1100px;margin:auto;padding:16px}\
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e6ea;white-space:nowrap}\
.scroll{overflow-x:auto}.passed{color:#1a7f37}.failed,.aborted,.error{color:#cf222e}.invalid{color:#9a6700}nav a{margin-right:12px}\
#facts td{white-space:normal}.card{background:#fff;border:1px solid #e4e6ea;padding:6px}svg{width:100%;height:auto}small{color:#57606a}</style>";

pub(super) fn page(title: &str, body: &str) -> Response {
    page_with_head(title, "", body)
}

/// [`page`] with more in its `<head>` (trusted markup only).
pub(super) fn page_with_head(title: &str, head: &str, body: &str) -> Response {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title>{STYLE}{head}</head>\
         <body><main><nav><a href=\"/\">Runs</a><a href=\"/plans\">Plans</a><a href=\"/metrics\">Metrics</a></nav><h1>{}</h1>{body}</main></body></html>",
        esc(title),
        esc(title)
    ))
    .into_response()
}

/// An error as a page (a person followed a link): the status kept, the message escaped.
pub(super) fn page_error(status: StatusCode, message: &str) -> Response {
    let mut r = page(
        status.canonical_reason().unwrap_or("Error"),
        &format!("<p id=\"error\">{}</p>", esc(message)),
    );
    *r.status_mut() = status;
    r
}

pub(super) fn when(ms: i64) -> String {
    // chrono formats any instant it can hold (humantime panics past year 9999).
    chrono::DateTime::from_timestamp_millis(ms.max(0))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

#[derive(Deserialize)]
pub(super) struct Filter {
    plan: Option<String>,
    status: Option<crate::store::RunStatus>,
}

/// `GET /`: recent runs, filterable by plan and status.
pub(super) async fn runs(
    State(ctx): State<Ctx>,
    q: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(f)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "query must be plan= and/or status= (running, passed, failed, aborted, interrupted, invalid or error)",
        );
    };
    let runs = match ctx.app.store().list(f.plan.as_deref(), f.status, 200, 0) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let mut b = String::from("<div class=\"scroll\"><table id=\"runs\"><tr><th>plan</th><th>trigger</th><th>started</th><th>duration</th><th>result</th><th>requests</th><th>p95</th><th>errors</th><th></th></tr>");
    for r in &runs {
        let summary = ctx
            .app
            .store()
            .get(&r.id)
            .ok()
            .flatten()
            .and_then(|x| x.summary)
            .and_then(|v| serde_json::from_value::<Summary>(v).ok());
        let (reqs, p95, err) = summary
            .as_ref()
            .map(|s| {
                (
                    s.totals.requests.to_string(),
                    format!("{:.1} ms", s.totals.latency.p95_ms),
                    format!("{:.2}%", s.totals.error_rate * 100.0),
                )
            })
            .unwrap_or_default();
        let dur = r
            .finished_at
            .map(|f| format!("{:.1} s", (f - r.started_at) as f64 / 1000.0))
            .unwrap_or_else(|| "running".into());
        let _ = write!(
            b,
            "<tr><td><a href=\"/plans/{p}\">{p}</a></td><td>{}</td><td>{}</td><td>{dur}</td><td class=\"{s}\"><a href=\"/?status={s}\">{s}</a></td><td>{reqs}</td><td>{p95}</td><td>{err}</td><td><a href=\"/runs/{id}\">report</a> <a href=\"/runs/{id}.json\">json</a> <a href=\"/runs/{id}.junit.xml\">junit</a></td></tr>",
            r.trigger,
            when(r.started_at),
            p = esc(&r.plan),
            s = r.status,
            id = esc(&r.id),
        );
    }
    b.push_str("</table></div>");
    if runs.is_empty() {
        b.push_str("<p>No runs yet.</p>");
    }
    page("Recent runs", &b)
}

/// `GET /plans`: plans with their schedules and next run times.
pub(super) async fn plans(State(ctx): State<Ctx>) -> Response {
    let cfg = ctx.app.config();
    let now = chrono::Utc::now();
    let mut b = String::from("<div class=\"scroll\"><table id=\"plans\"><tr><th>plan</th><th>description</th><th>schedule</th><th>next run</th><th>running</th></tr>");
    for p in &cfg.plans {
        let next = p
            .schedule
            .as_ref()
            .and_then(|s| crate::config::next_fire(s, now))
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "on demand".into());
        let _ = write!(
            b,
            "<tr><td><a href=\"/plans/{n}\">{n}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(p.description.as_deref().unwrap_or("")),
            esc(&p.schedule.as_ref().map(|s| s.describe()).unwrap_or_else(|| "-".into())),
            esc(&next),
            if ctx.app.is_running(&p.name) { "yes" } else { "no" },
            n = esc(&p.name),
        );
    }
    b.push_str("</table></div>");
    page("Plans", &b)
}

/// `GET /runs/{id}`, `/runs/{id}.json`, `/runs/{id}.junit.xml`.
pub(super) async fn run(State(ctx): State<Ctx>, Path(file): Path<String>) -> Response {
    // The forms docs/api.md names: `ID`, `ID.html`, `ID.json`, `ID.junit.xml` and `ID.xml`.
    let (id, kind) = if let Some(id) = file
        .strip_suffix(".junit.xml")
        .or_else(|| file.strip_suffix(".xml"))
    {
        (id, "junit")
    } else if let Some(id) = file.strip_suffix(".json") {
        (id, "json")
    } else {
        (file.strip_suffix(".html").unwrap_or(&file), "html")
    };
    if !valid_id(id) {
        return error(StatusCode::BAD_REQUEST, "run ids are UUIDs");
    }
    let record = match ctx.app.store().get(id) {
        Ok(Some(r)) => r,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no run with this id"),
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let Some(value) = record.summary else {
        return page(
            &format!("{} (running)", record.plan),
            &format!(
                "<p>This run has not finished yet: <a href=\"/live/{}\">watch it live</a>.</p>",
                esc(id)
            ),
        );
    };
    if kind == "json" {
        return (
            [(header::CONTENT_TYPE, "application/json")],
            value.to_string(),
        )
            .into_response();
    }
    let Ok(summary) = serde_json::from_value::<Summary>(value) else {
        return error(
            StatusCode::NOT_FOUND,
            "this run has no report (it could not start)",
        );
    };
    match kind {
        "junit" => match crate::report::junit::render(&[&summary]) {
            Ok(xml) => ([(header::CONTENT_TYPE, "application/xml")], xml).into_response(),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        },
        _ => Html(crate::report::html::render(&summary)).into_response(),
    }
}
