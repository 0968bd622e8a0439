//! The demo target's event stream: `/sse/stream?every=100ms&count=N&retry=MS`.
//! An event `id: n`, `event: tick`, `data: {"seq":n}` every `every`; after `count` events the
//! server ends the response (a drop a client reconnects after). A `Last-Event-ID` request
//! header resumes after that id; `retry=MS` sends a `retry:` field first. The stall mode
//! applies: no event is sent during a freeze window.

use super::{query_str, stall_left, State};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn stream(
    state: Arc<State>,
    req: &Request<Incoming>,
) -> Response<BoxBody<Bytes, Infallible>> {
    let every = query_str(req, "every")
        .and_then(|v| humantime::parse_duration(&v).ok())
        .unwrap_or(Duration::from_millis(100))
        .max(Duration::from_millis(1));
    let count = query_str(req, "count").and_then(|v| v.parse::<u64>().ok());
    let retry = query_str(req, "retry").and_then(|v| v.parse::<u64>().ok());
    let after = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let first = retry.map(|ms| Bytes::from(format!("retry: {ms}\n\n")));
    // (state, next seq, events sent, the retry preamble)
    let events = futures_util::stream::unfold(
        (state, after + 1, 0u64, first),
        move |(state, seq, sent, first)| async move {
            if let Some(preamble) = first {
                return Some((Ok(Frame::data(preamble)), (state, seq, sent, None)));
            }
            if count.is_some_and(|n| sent >= n) {
                return None;
            }
            tokio::time::sleep(every + stall_left(&state)).await;
            let event = format!("id: {seq}\nevent: tick\ndata: {{\"seq\":{seq}}}\n\n");
            Some((
                Ok(Frame::data(Bytes::from(event))),
                (state, seq + 1, sent + 1, None),
            ))
        },
    );
    let mut r = Response::new(StreamBody::new(events).boxed());
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    r
}
