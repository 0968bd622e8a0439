//! The daemon's HTTP surface: `/metrics`, health, the JSON API under `/api/v1`, and
//! `/-/reload`. Mutating endpoints need the bearer token when one is configured (the
//! listener refuses a non-loopback address without one). Errors are JSON, never a panic.

use crate::app::{App, StartError};
use crate::store::{RunStatus, Trigger};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::Semaphore;

mod live;
mod pages;
mod serve;
mod trends;
pub mod types;

pub use serve::serve;

/// The largest segment summary accepted (histograms included; a few KiB to a few hundred).
const MAX_SEGMENT_BYTES: usize = 16 * 1024 * 1024;

/// Scrapes served at once; more get 503 so that scrapes never slow a run.
const MAX_CONCURRENT_SCRAPES: usize = 10;

#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) app: Arc<App>,
    scrapes: Arc<Semaphore>,
    live_streams: Arc<Semaphore>,
}

/// The router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }))
        .route("/api/v1/plans", get(plans))
        .route("/api/v1/plans/{name}/trigger", post(trigger))
        .route(
            "/api/v1/plans/{name}/segments/{key}",
            post(segment).layer(axum::extract::DefaultBodyLimit::max(MAX_SEGMENT_BYTES)),
        )
        .route("/api/v1/runs", get(runs))
        .route("/api/v1/runs/{id}", get(run))
        .route("/api/v1/runs/{id}/cancel", post(cancel))
        .route("/api/v1/runs/{id}/live", get(live::events))
        .route("/live/{id}", get(live::page))
        .route("/-/reload", post(reload))
        .route("/", get(pages::runs))
        .route("/plans", get(pages::plans))
        .route("/plans/{name}", get(trends::plan))
        .route("/compare", get(trends::compare))
        .route("/runs/{file}", get(pages::run))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such endpoint; see /api/v1/plans, /api/v1/runs, /metrics",
            )
        })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint; see the Allow header",
            )
        })
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::map_response(never_framed))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard_origin,
        ))
        .with_state(Ctx {
            app,
            scrapes: Arc::new(Semaphore::new(MAX_CONCURRENT_SCRAPES)),
            live_streams: Arc::new(Semaphore::new(live::MAX_LIVE_STREAMS)),
        })
}

/// No page of the daemon may be framed by another site (the live view's cancel form would
/// be a clickjacking target on a daemon without a token), and no answer is sniffed into
/// another content type.
async fn never_framed(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("frame-ancestors 'none'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Every error under `/api/` and `/-/` is JSON with a message, the framework's own
/// rejections (bad query strings, bodies over the limit, wrong content types) included: a
/// plain-text or empty error body is wrapped as `{"error": "..."}` with its status kept.
async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = {
        let p = req.uri().path();
        p.starts_with("/api/") || p.starts_with("/-/")
    };
    let resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || is_json || !(resp.status().is_client_error() || resp.status().is_server_error()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        parts
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_lowercase()
    } else {
        text
    };
    let mut wrapped = error(parts.status, message);
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            wrapped.headers_mut().insert(name, v.clone());
        }
    }
    wrapped
}

/// G5: a cross-origin browser request is refused (no CORS, ever), and the `Host` must be an
/// IP literal, `localhost` or one of `server.allowed_hosts`, token or not, so a
/// DNS-rebinding page cannot read the API (its reads need no token).
async fn guard_origin(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(origin) = headers.get(header::ORIGIN) {
        let same = origin.to_str().ok().and_then(|o| o.strip_prefix("http://")) == Some(host);
        if !same {
            return error(StatusCode::FORBIDDEN, "cross-origin requests are refused");
        }
    }
    if !app.config().server.host_allowed(host) {
        return error(
            StatusCode::FORBIDDEN,
            "Host must be an IP address, localhost or a name in server.allowed_hosts",
        );
    }
    next.run(req).await
}

/// `/metrics` and `/healthz` only, for `loadpacer run --metrics-listen` (segment pods).
pub fn metrics_router(metrics: crate::metrics::Metrics) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        m.render(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = types::ErrorBody {
        error: message.into(),
    };
    (status, Json(body)).into_response()
}

/// The 401 response when a token is configured and the request lacks it (constant-time
/// comparison), else `None`.
fn unauthorized(app: &App, headers: &HeaderMap) -> Option<Response> {
    let cfg = app.config();
    let token = cfg.server.token.as_ref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (given.as_bytes(), token.as_bytes());
    let diff = a
        .iter()
        .zip(b)
        .fold(a.len() ^ b.len(), |acc, (x, y)| acc | usize::from(x ^ y));
    (diff != 0).then(|| {
        app.metrics().unauthorized();
        error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
    })
}

async fn metrics(State(ctx): State<Ctx>) -> Response {
    let Ok(_permit) = ctx.scrapes.try_acquire() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many concurrent scrapes",
        );
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ctx.app.render_metrics(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct PageQuery {
    limit: Option<usize>,
    offset: Option<usize>,
}

/// Plans in force, in config order, a page at a time (`limit` 1-1000, default 500): each
/// plan's last run is one store query, so a fleet of plans is read in pages.
async fn plans(
    State(ctx): State<Ctx>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "query must be limit= (1-1000), offset=",
        );
    };
    let (limit, offset) = (q.limit.unwrap_or(500).clamp(1, 1000), q.offset.unwrap_or(0));
    let cfg = ctx.app.config();
    let now = chrono::Utc::now();
    let list: Vec<_> = cfg
        .plans
        .iter()
        .skip(offset)
        .take(limit)
        .map(|p| {
            let last = ctx
                .app
                .store()
                .list(Some(&p.name), None, 1, 0)
                .ok()
                .and_then(|mut v| v.pop());
            types::PlanEntry {
                name: p.name.clone(),
                description: p.description.clone(),
                schedule: p.schedule.as_ref().map(|s| s.describe()),
                next_run: p
                    .schedule
                    .as_ref()
                    .and_then(|s| crate::config::next_fire(s, now))
                    .map(|t| t.to_rfc3339()),
                running: ctx.app.is_running(&p.name),
                last_run: last.map(types::Run::from),
            }
        })
        .collect();
    Json(types::PlanList {
        plans: list,
        total: cfg.plans.len(),
        limit,
        offset,
    })
    .into_response()
}

#[derive(Deserialize)]
struct RunsQuery {
    plan: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn runs(
    State(ctx): State<Ctx>,
    q: Result<Query<RunsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "query must be plan=, status=, limit= (1-500), offset=",
        );
    };
    let status = match q.status.as_deref().map(str::parse::<RunStatus>).transpose() {
        Ok(s) => s,
        Err(_) => {
            let words: Vec<&str> = RunStatus::all().map(RunStatus::as_str).collect();
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "status={:?} is not a run status; use one of {}",
                    crate::config::clip(q.status.as_deref().unwrap_or_default()),
                    words.join(", ")
                ),
            );
        }
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    match ctx
        .app
        .store()
        .list(q.plan.as_deref(), status, limit, q.offset.unwrap_or(0))
    {
        Ok(runs) => Json(types::RunPage {
            runs: runs.into_iter().map(types::Run::from).collect(),
            limit,
            offset: q.offset.unwrap_or(0),
        })
        .into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Run ids are UUIDs; anything else is refused before the store is asked (G4).
pub fn valid_id(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

async fn run(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return error(StatusCode::BAD_REQUEST, "run ids are UUIDs");
    }
    match ctx.app.store().get(&id) {
        Ok(Some(r)) => Json(types::Run::from(r)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no run with this id"),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// `POST /api/v1/plans/{name}/trigger[?scale=F]`: a run now, optionally with every rate and
/// VU count multiplied by F within the configured limits.
async fn trigger(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if let Some(r) = unauthorized(&ctx.app, &headers) {
        return r;
    }
    let q = q.unwrap_or_default();
    let mut scales = url::form_urlencoded::parse(q.as_bytes())
        .filter(|(k, _)| k == "scale")
        .map(|(_, v)| v.into_owned());
    let scale = match (scales.next(), scales.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "scale is given more than once; give it once, e.g. ?scale=2",
            )
        }
        (Some(s), None) => match s.parse::<f64>().map(crate::config::check_scale) {
            Ok(Ok(f)) => Some(f),
            Ok(Err(why)) => return error(StatusCode::BAD_REQUEST, why),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "scale must be a number, e.g. ?scale=2",
                )
            }
        },
    };
    match ctx.app.trigger_scaled(&name, Trigger::Api, scale) {
        Ok(id) => (
            StatusCode::ACCEPTED,
            Json(types::Started {
                duration_s: ctx
                    .app
                    .config()
                    .plan(&name)
                    .map(|p| p.duration().as_secs_f64()),
                id,
                plan: name,
            }),
        )
            .into_response(),
        Err(e @ StartError::UnknownPlan(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ StartError::Overlap(_)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e @ StartError::Scale(_)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e @ (StartError::Busy | StartError::RateCap { .. })) => {
            error(StatusCode::TOO_MANY_REQUESTS, e.to_string())
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// `POST /api/v1/plans/{name}/segments/{key}` with a segment's summary.json: 202 while
/// segments are missing, 201 with the stored run's id when it was the last one.
async fn segment(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path((name, key)): Path<(String, String)>,
    body: String,
) -> Response {
    if let Some(r) = unauthorized(&ctx.app, &headers) {
        return r;
    }
    use crate::app::SegmentError as E;
    match ctx.app.accept_segment(&name, &key, &body) {
        Ok(r) => {
            let status = if r.run_id.is_some() {
                StatusCode::CREATED
            } else {
                StatusCode::ACCEPTED
            };
            (
                status,
                Json(types::SegmentAnswer {
                    plan: name,
                    key,
                    reported: r.reported,
                    of: r.of,
                    run: r.run_id,
                }),
            )
                .into_response()
        }
        Err(e @ E::UnknownPlan(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ (E::BadKey | E::Invalid(_))) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e @ E::Duplicate(_)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e @ E::TooLarge(_)) => error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        Err(e @ E::Store(_)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn cancel(State(ctx): State<Ctx>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = unauthorized(&ctx.app, &headers) {
        return r;
    }
    if !valid_id(&id) {
        return error(StatusCode::BAD_REQUEST, "run ids are UUIDs");
    }
    if ctx.app.cancel(&id) {
        (
            StatusCode::ACCEPTED,
            Json(types::Cancelling {
                id,
                cancelling: true,
            }),
        )
            .into_response()
    } else {
        error(StatusCode::NOT_FOUND, "no run with this id is in progress")
    }
}

async fn reload(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorized(&ctx.app, &headers) {
        return r;
    }
    match ctx.app.reload() {
        Ok(plans) => Json(types::Reloaded {
            reloaded: true,
            plans,
        })
        .into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}
