//! The built-in demo target: a small HTTP service on loopback with knobs for latency, errors,
//! body size and a stall mode, plus a login → token → order flow. The examples, the tests and
//! `serve --demo` drive it.
//!
//! Every endpoint also takes `?delay_ms=N`, `?status=N` and `?size=N` to override the knobs
//! for one request. WebSocket endpoints (`/ws/echo`, `/ws/ticker`) are in `ws`, the event
//! stream (`/sse/stream`) in `sse`, webhooks with a delivery queue (`/hooks`, `/stats`) in
//! `hooks`.

mod hooks;
mod sse;
mod ws;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::Rng;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The demo target's behaviour.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Base service time of every response.
    pub latency: Duration,
    /// Uniform random extra latency in `0..=jitter`.
    pub jitter: Duration,
    /// Share of responses answered with 500 (0..=1).
    pub error_rate: f64,
    /// Body size of `/` responses.
    pub body_size: usize,
    /// Freeze every response for `.0` out of every `.1` (the coordinated-omission test).
    pub stall: Option<(Duration, Duration)>,
    /// Serve at most this many requests at once (each holding a worker for its latency), so
    /// capacity is `workers / latency`; beyond it requests queue and latency climbs.
    pub workers: Option<usize>,
    /// Extra latency added per second since start (a slowly degrading service, for soaks).
    pub latency_growth_per_s: Duration,
}

struct State {
    opts: DemoOptions,
    workers: Option<tokio::sync::Semaphore>,
    started: Instant,
    orders: AtomicU64,
    requests: AtomicU64,
    hooks: hooks::Hooks,
}

/// Binds `addr` and serves until `shutdown` is cancelled. Returns the bound address.
pub async fn start(
    addr: SocketAddr,
    opts: DemoOptions,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let state = Arc::new(State {
        workers: opts.workers.map(|n| tokio::sync::Semaphore::new(n.max(1))),
        opts,
        started: Instant::now(),
        orders: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        hooks: hooks::Hooks::new(),
    });
    let handle = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                a = listener.accept() => a,
            };
            let Ok((stream, _)) = accepted else { continue };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(state.clone(), req));
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades();
                tokio::select! {
                    _ = conn => {}
                    _ = stop.cancelled() => {}
                }
            });
        }
    });
    Ok((local, handle))
}

fn query_num(req: &Request<Incoming>, key: &str) -> Option<u64> {
    query_str(req, key)?.parse().ok()
}

fn query_str(req: &Request<Incoming>, key: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

/// What is left of the stall window the current instant falls into (zero outside one).
fn stall_left(state: &State) -> Duration {
    let Some((freeze, every)) = state.opts.stall else {
        return Duration::ZERO;
    };
    let every_us = every.as_micros().max(1);
    let into = (state.started.elapsed().as_micros() % every_us) as u64;
    Duration::from_micros((freeze.as_micros() as u64).saturating_sub(into))
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    if ws::is_upgrade(&req) {
        return Ok(ws::upgrade(state, req).map(BodyExt::boxed));
    }
    if req.method() == Method::GET && req.uri().path() == "/sse/stream" {
        return Ok(sse::stream(state, &req));
    }
    Ok(answer(state, req).await.map(BodyExt::boxed))
}

/// The plain HTTP endpoints, after the latency knobs.
async fn answer(state: Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let delay = delay_for(&state, &req);
    let _worker = match &state.workers {
        Some(w) => w.acquire().await.ok(),
        None => None,
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let forced = query_num(&req, "status").and_then(|s| StatusCode::from_u16(s as u16).ok());
    if let Some(status) = forced {
        return reply(
            status,
            "application/json",
            format!("{{\"status\":{}}}", status.as_u16()),
        );
    }
    let o = &state.opts;
    if o.error_rate > 0.0 && rand::rng().random_bool(o.error_rate.clamp(0.0, 1.0)) {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            "{\"error\":\"injected\"}".into(),
        );
    }
    route(&state, req).await
}

/// How long this response waits: the base latency, jitter, growth over time, `?delay_ms=`,
/// and the rest of a stall window it falls into.
fn delay_for(state: &State, req: &Request<Incoming>) -> Duration {
    let o = &state.opts;
    let mut delay = o.latency;
    if !o.jitter.is_zero() {
        delay += rand::rng().random_range(Duration::ZERO..=o.jitter);
    }
    if !o.latency_growth_per_s.is_zero() {
        delay += o
            .latency_growth_per_s
            .mul_f64(state.started.elapsed().as_secs_f64());
    }
    if let Some(ms) = query_num(req, "delay_ms") {
        delay = Duration::from_millis(ms);
    }
    // Responses that fall inside a freeze window wait until it ends.
    delay + stall_left(state)
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    reply(status, "application/json", body)
}

/// The demo shop's endpoints.
async fn route(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let size = query_num(&req, "size").map(|s| s as usize);
    let method = req.method().clone();
    let orders = state.orders.load(Ordering::Relaxed);
    if let Some(r) = state.hooks.route(&method, req.uri().path(), orders) {
        return r;
    }
    match (method.clone(), req.uri().path()) {
        (Method::GET, "/" | "/health") => {
            let n = size.unwrap_or(state.opts.body_size.max(2));
            reply(
                StatusCode::OK,
                "text/plain",
                "ok".chars().chain(std::iter::repeat('.')).take(n).collect(),
            )
        }
        (Method::GET, "/bytes") => reply(
            StatusCode::OK,
            "application/octet-stream",
            ".".repeat(size.unwrap_or(1024)),
        ),
        (Method::GET, "/products") => products(query_num(&req, "page").unwrap_or(1)),
        (Method::POST, "/auth/login") => login(req).await,
        (Method::POST, "/orders") => order(state, &req),
        (Method::POST, "/upload") => upload(req).await,
        (Method::GET, "/cookies/set") => set_cookie(&req),
        (Method::GET, "/cookies") => cookies(&req),
        (_, "/redirect") => redirect(&req),
        (_, "/echo-method") => echo_method(&req),
        _ => json(StatusCode::NOT_FOUND, "{\"error\":\"not found\"}".into()),
    }
}

/// `/echo-method`: the request's method and `Authorization` header, as JSON.
fn echo_method(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let auth = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| serde_json::Value::String(v.to_string()))
        .unwrap_or(serde_json::Value::Null);
    let body = serde_json::json!({ "method": req.method().as_str(), "authorization": auth });
    json(StatusCode::OK, body.to_string())
}

/// `/redirect?to=/path&code=302&set=name=value`: a redirect (301, 302, 303, 307 or 308)
/// to a path of this target, setting a cookie when asked (a login that redirects).
fn redirect(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let to = query_str(req, "to").filter(|t| t.starts_with('/') && !t.starts_with("//"));
    let status = query_num(req, "code")
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .filter(|s| [301, 302, 303, 307, 308].contains(&s.as_u16()))
        .unwrap_or(StatusCode::FOUND);
    let Some(to) = to.and_then(|t| http::HeaderValue::from_str(&t).ok()) else {
        return json(
            StatusCode::BAD_REQUEST,
            "{\"error\":\"to must be a path of this target\"}".into(),
        );
    };
    let mut r = json(status, "{\"redirect\":true}".into());
    r.headers_mut().insert(http::header::LOCATION, to);
    if let Some(v) = query_str(req, "set").and_then(|c| {
        http::HeaderValue::from_str(&format!("{}; Path=/", c.replace("%3D", "="))).ok()
    }) {
        r.headers_mut().insert(http::header::SET_COOKIE, v);
    }
    r
}

fn products(page: u64) -> Response<Full<Bytes>> {
    let items: Vec<String> = (0..10)
        .map(|i| {
            let id = (page.saturating_sub(1)) * 10 + i + 1;
            format!(
                "{{\"id\":{id},\"name\":\"product-{id}\",\"price\":{}.99}}",
                5 + id % 50
            )
        })
        .collect();
    json(
        StatusCode::OK,
        format!("{{\"page\":{page},\"items\":[{}]}}", items.join(",")),
    )
}

/// The whole request body (empty when it broke off).
async fn body_bytes(req: Request<Incoming>) -> Bytes {
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// A JSON body with a `user` field gets a token.
async fn login(req: Request<Incoming>) -> Response<Full<Bytes>> {
    let body = body_bytes(req).await;
    let ok = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("user").cloned())
        .is_some();
    if ok {
        let token = format!("tok-{}", rand::rng().random::<u32>());
        json(StatusCode::OK, format!("{{\"token\":\"{token}\"}}"))
    } else {
        json(
            StatusCode::BAD_REQUEST,
            "{\"error\":\"body must be JSON with a user field\"}".into(),
        )
    }
}

/// Counts what a multipart upload carried: its bytes, its files and its other fields.
async fn upload(req: Request<Incoming>) -> Response<Full<Bytes>> {
    let multipart = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data; boundary="));
    let body = body_bytes(req).await;
    let text = String::from_utf8_lossy(&body);
    let files = text.matches("; filename=\"").count();
    let fields = text
        .matches("Content-Disposition: form-data; name=")
        .count()
        - files;
    json(
        StatusCode::OK,
        format!(
            "{{\"multipart\":{multipart},\"bytes\":{},\"files\":{files},\"fields\":{fields}}}",
            body.len()
        ),
    )
}

/// `/cookies/set?session=abc`: sets that cookie (a login that answers with a session cookie).
fn set_cookie(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let pair = req
        .uri()
        .query()
        .and_then(|q| q.split('&').next())
        .unwrap_or("session=1");
    let mut r = json(StatusCode::OK, "{\"set\":true}".into());
    if let Ok(v) = http::HeaderValue::from_str(&format!("{pair}; Path=/")) {
        r.headers_mut().insert(http::header::SET_COOKIE, v);
    }
    r
}

/// `/cookies`: the cookies the request carried, as a JSON object.
fn cookies(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let pairs: Vec<String> = req
        .headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .map(|(k, v)| {
            format!(
                "{}:{}",
                serde_json::Value::from(k),
                serde_json::Value::from(v)
            )
        })
        .collect();
    json(StatusCode::OK, format!("{{{}}}", pairs.join(",")))
}

/// A bearer token from `/auth/login` creates an order.
fn order(state: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let authed = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer tok-"));
    if authed {
        let id = state.orders.fetch_add(1, Ordering::Relaxed) + 1;
        json(
            StatusCode::CREATED,
            format!("{{\"id\":{id},\"status\":\"created\"}}"),
        )
    } else {
        json(
            StatusCode::UNAUTHORIZED,
            "{\"error\":\"missing or bad bearer token\"}".into(),
        )
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}
