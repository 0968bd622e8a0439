//! Webhook endpoints of the demo target, for plans with setup and teardown and a queue to
//! monitor: `POST /hooks` creates one, `DELETE /hooks/{id}` removes it,
//! `POST /hooks/{id}/deliveries` queues a delivery (answered by one of three nodes, named in
//! `x-served-by`), and `GET /stats` reports the live hooks and the queue. The queue drains at
//! [`DRAIN_PER_SEC`]: it grows only while deliveries arrive faster.

use super::json;
use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Deliveries the demo's queue processes per second.
pub const DRAIN_PER_SEC: f64 = 100.0;

/// The nodes that answer deliveries in turn.
const NODES: [&str; 3] = ["node-a", "node-b", "node-c"];

pub(super) struct Hooks {
    created: AtomicU64,
    live: AtomicU64,
    deliveries: AtomicU64,
    /// Queue depth at the last update, and when that was.
    queue: Mutex<(f64, Instant)>,
}

impl Hooks {
    pub fn new() -> Self {
        Self {
            created: AtomicU64::new(0),
            live: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            queue: Mutex::new((0.0, Instant::now())),
        }
    }

    /// The queue depth now, after draining since the last update, plus `add`.
    fn queue(&self, add: f64) -> f64 {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let drained = now.duration_since(q.1).as_secs_f64() * DRAIN_PER_SEC;
        *q = ((q.0 - drained).max(0.0) + add, now);
        q.0
    }

    /// Answers a hooks request, or `None` when the path is not one of them.
    pub fn route(&self, method: &Method, path: &str, orders: u64) -> Option<Response<Full<Bytes>>> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let known = |id: &str| {
            id.parse::<u64>()
                .is_ok_and(|n| n >= 1 && n <= self.created.load(Ordering::Relaxed))
        };
        Some(match (method, parts.as_slice()) {
            (&Method::GET, ["stats"]) => json(
                StatusCode::OK,
                format!(
                    "{{\"orders\":{orders},\"hooks\":{},\"queue\":{:.0}}}",
                    self.live.load(Ordering::Relaxed),
                    self.queue(0.0).ceil()
                ),
            ),
            (&Method::POST, ["hooks"]) => {
                let id = self.created.fetch_add(1, Ordering::Relaxed) + 1;
                self.live.fetch_add(1, Ordering::Relaxed);
                json(StatusCode::CREATED, format!("{{\"id\":{id}}}"))
            }
            (&Method::DELETE, ["hooks", id]) if known(id) => {
                let _ = self
                    .live
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
                json(StatusCode::NO_CONTENT, String::new())
            }
            (&Method::POST, ["hooks", id, "deliveries"]) if known(id) => {
                let n = self.deliveries.fetch_add(1, Ordering::Relaxed);
                let depth = self.queue(1.0).ceil();
                let mut r = json(StatusCode::ACCEPTED, format!("{{\"queue\":{depth:.0}}}"));
                r.headers_mut().insert(
                    "x-served-by",
                    HeaderValue::from_static(NODES[(n % 3) as usize]),
                );
                r
            }
            (_, ["hooks", ..]) => {
                json(StatusCode::NOT_FOUND, "{\"error\":\"no such hook\"}".into())
            }
            _ => return None,
        })
    }
}
