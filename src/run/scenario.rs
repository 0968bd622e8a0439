//! One iteration of a scenario: render each request, send it, check and capture, think.

use super::content::{body_passes, capture_from_body, join_url, render_body, store_capture};
use super::http::{Client, Dest, Failure, Keep, Outgoing, Response};
use super::vu::{lock, Sink, VuState};
use crate::config::custom::CustomKind;
use crate::config::MULTIPART_BOUNDARY;
use crate::config::{
    BodySpec, CaptureSource, CheckKind, JsonTemplate, PlanSpec, RecordSource, RecordSpec,
    RepeatSpec, RequestSpec, StepSpec, Times,
};
use crate::measure::{ErrorKind, Recorder, Sample};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How one iteration ended.
#[derive(Debug, Default, Clone, Copy)]
pub struct IterationResult {
    /// Set when a transport error ended the iteration early.
    pub failed: bool,
}

/// Feeds one user-defined metric from a response. A value that is missing or not a number
/// (a capture that found nothing) is counted as invalid, never as 0.
fn record(
    x: &RecordSpec,
    latency: Duration,
    checks_passed: bool,
    json: Option<&serde_json::Value>,
    vu: &VuState,
    rec: &mut Recorder,
) {
    let value: Option<f64> = match &x.source {
        RecordSource::Count => Some(1.0),
        RecordSource::Constant(v) => Some(*v),
        RecordSource::Latency => Some(latency.as_secs_f64()),
        RecordSource::Checks => Some(f64::from(u8::from(checks_passed))),
        RecordSource::Template(t) => number(&t.render(vu)),
        RecordSource::Json(p) => {
            json.and_then(|j| p.query(j).first().cloned())
                .and_then(|v| match v {
                    serde_json::Value::Number(n) => n.as_f64(),
                    serde_json::Value::Bool(b) => Some(f64::from(u8::from(b))),
                    serde_json::Value::String(s) => number(&s),
                    _ => None,
                })
        }
    };
    let stats = rec.custom(x.metric);
    let Some(v) = value else {
        stats.record_invalid();
        return;
    };
    match (x.kind, &x.label) {
        (CustomKind::Rate, _) if v == 0.0 || v == 1.0 => stats.outcome(v == 1.0),
        (CustomKind::Rate, _) => stats.record_invalid(),
        (CustomKind::Counter, Some(label)) if v >= 0.0 => {
            // A label value that was not captured is "unknown", never an empty label.
            let text = label.render(vu);
            let text: String = text.trim().chars().take(128).collect();
            let text = if text.is_empty() { "unknown" } else { &text };
            stats.labelled(text, v, x.max_labels)
        }
        (CustomKind::Counter, _) if v < 0.0 => stats.record_invalid(),
        _ => stats.value(v, x.trend_scale),
    }
}

/// A rendered value as a number: `12`, `0.5`, `true`/`false` (1/0).
fn number(text: &str) -> Option<f64> {
    match text.trim() {
        "true" => Some(1.0),
        "false" => Some(0.0),
        t => t.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

/// A request's parts that do not change between iterations, built once.
struct Prepared {
    dest: Option<Dest>,
    headers: Option<HeaderMap>,
    body: Option<Bytes>,
    /// A request with nothing templated as the direct transport writes it, encoded once.
    wire: Option<Bytes>,
}

/// A request on the wire: when its iteration is dropped before the answer (the stop budget
/// ran out), it is recorded as `cancelled` with the time it had waited, never lost unmeasured
/// (a hanging target's interrupted run showed 0 requests and 0 errors).
struct Pending<'a> {
    sink: &'a Sink,
    request: usize,
    from: Instant,
    sent: Instant,
    armed: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.armed {
            let now = Instant::now();
            lock(self.sink).record(&Sample {
                request: self.request,
                latency: now - self.from,
                service: now - self.sent,
                ttfb: None,
                status: None,
                error: Some(ErrorKind::Cancelled),
                stale_retry: false,
            });
        }
    }
}

/// A plan ready to run: the client and every static request prepared.
pub struct Runtime {
    pub plan: Arc<PlanSpec>,
    pub client: Client,
    prepared: Vec<Prepared>,
    /// Variables captured by the setup steps, copied into every VU.
    pub base_vars: HashMap<String, String>,
    /// The request-rate cap of a closed-model run (`limits.max_rps`), if any.
    pub pacer: Option<Arc<super::pacer::Pacer>>,
    /// `limits.allow_targets`, checked again when a stream connects.
    pub allow: Vec<String>,
    /// TLS settings of `wss` sessions, built on first use.
    ws_tls: super::stream::TlsSettings,
    /// The engine threads of a script plan (k6), shared by its workloads.
    pub scripts: Option<Arc<super::script::Scripts>>,
    /// The plan's processor engine, shared by its workloads.
    pub processor: Option<Arc<super::hooks::Processor>>,
    /// Requests whose required capture found nothing, logged once each.
    missed: std::sync::Mutex<std::collections::HashSet<usize>>,
}

impl Runtime {
    /// Prepares every request whose URL, headers or body have no template.
    pub fn new(plan: Arc<PlanSpec>, client: Client) -> Self {
        let mut prepared: Vec<Prepared> = (0..plan.requests.len())
            .map(|_| Prepared {
                dest: None,
                headers: None,
                body: None,
                wire: None,
            })
            .collect();
        let steps = plan
            .setup
            .iter()
            .chain(&plan.vu_setup)
            .chain(plan.scenarios.iter().flat_map(|s| s.steps.iter()))
            .chain(&plan.teardown);
        for step in steps {
            step.each_request(&mut |r| prepared[r.index] = prepare(&plan, &client, r));
        }
        Self {
            plan,
            client,
            prepared,
            base_vars: HashMap::new(),
            pacer: None,
            allow: Vec::new(),
            ws_tls: Default::default(),
            scripts: None,
            processor: None,
            missed: Default::default(),
        }
    }

    /// Runs `steps` for one VU. `intended` is when the iteration should have started: the
    /// first request's latency is measured from it (coordinated-omission correction); later
    /// requests are measured from their own send.
    pub async fn iterate(
        &self,
        steps: &[StepSpec],
        vu: &mut VuState,
        intended: Instant,
        sink: &Sink,
    ) -> IterationResult {
        let mut intended = Some(intended);
        let ok = self.run(steps, vu, &mut intended, sink).await;
        IterationResult { failed: !ok }
    }

    /// Runs steps in order; false when one ended the iteration (a transport error).
    async fn run(
        &self,
        steps: &[StepSpec],
        vu: &mut VuState,
        intended: &mut Option<Instant>,
        sink: &Sink,
    ) -> bool {
        for step in steps {
            let net = super::stream::Net {
                allow: &self.allow,
                tls: &self.ws_tls,
            };
            let ok = match step {
                StepSpec::Think { min, max } => {
                    let d = if min == max {
                        *min
                    } else {
                        rand::rng().random_range(*min..=*max)
                    };
                    tokio::time::sleep(d).await;
                    true
                }
                StepSpec::Request(r) => self.exchange(r, vu, intended.take(), sink).await,
                // Streams are boxed: their sessions are large state machines, and inline they
                // would size every iteration's future, plain requests included.
                StepSpec::Sse(e) => {
                    let s =
                        super::stream::sse::session(&self.plan, &net, e, vu, intended.take(), sink);
                    Box::pin(s).await
                }
                StepSpec::Ws(w) => {
                    let s =
                        super::stream::ws::session(&self.plan, &net, w, vu, intended.take(), sink);
                    Box::pin(s).await
                }
                StepSpec::Repeat(r) => self.repeat(r, vu, intended, sink).await,
                StepSpec::Parallel(rs) => {
                    Box::pin(self.parallel(rs, vu, intended.take(), sink)).await
                }
                StepSpec::Function(f) => match &self.processor {
                    Some(p) => p.function_step(f, vu, sink).await,
                    None => false,
                },
                StepSpec::Guarded(g) => {
                    if g.allows(vu) {
                        self.nested(std::slice::from_ref(&g.step), vu, intended, sink)
                            .await
                    } else {
                        true
                    }
                }
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// Steps inside a `repeat` or a guard: the same as [`Runtime::run`], boxed because it
    /// recurses.
    fn nested<'a>(
        &'a self,
        steps: &'a [StepSpec],
        vu: &'a mut VuState,
        intended: &'a mut Option<Instant>,
        sink: &'a Sink,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(self.run(steps, vu, intended, sink))
    }

    /// `repeat`: its steps `count` times, or once per item with the item in its variable.
    async fn repeat(
        &self,
        r: &RepeatSpec,
        vu: &mut VuState,
        intended: &mut Option<Instant>,
        sink: &Sink,
    ) -> bool {
        let items: Vec<Option<serde_json::Value>> = match &r.times {
            Times::Count(n) => (0..*n).map(|_| None).collect(),
            Times::List(values) => values.iter().cloned().map(Some).collect(),
            // A variable that holds no JSON array repeats nothing.
            Times::Variable(name) => match vu
                .vars
                .get(name)
                .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            {
                Some(serde_json::Value::Array(a)) => a.into_iter().map(Some).collect(),
                _ => Vec::new(),
            },
        };
        for (round, item) in (0u64..).zip(items) {
            if let Some(v) = item {
                vu.set_value(&r.var, &v);
            }
            if let Some(name) = &r.index_var {
                vu.set_value(name, &serde_json::Value::from(round));
            }
            if !self.nested(&r.steps, vu, intended, sink).await {
                return false;
            }
        }
        true
    }

    /// One request: returns false when a transport error should end the iteration.
    /// Requests sent at once, each by a branch of the VU on its own connection, all from the
    /// same intended time; the VU then has every branch's captures. False when one of them
    /// ended the iteration.
    async fn parallel(
        &self,
        requests: &[RequestSpec],
        vu: &mut VuState,
        intended: Option<Instant>,
        sink: &Sink,
    ) -> bool {
        let mut branches: Vec<VuState> = requests.iter().map(|_| vu.branch()).collect();
        let sent = futures_util::future::join_all(
            requests
                .iter()
                .zip(branches.iter_mut())
                .map(|(r, b)| self.exchange(r, b, intended, sink)),
        )
        .await;
        for b in branches {
            vu.join(b);
        }
        sent.into_iter().all(|ok| ok)
    }

    async fn exchange(
        &self,
        r: &RequestSpec,
        vu: &mut VuState,
        intended: Option<Instant>,
        sink: &Sink,
    ) -> bool {
        let Some(req) = self.outgoing(r, vu, sink).await else {
            return false;
        };
        // What an `after_response` function is shown of the request, taken before it goes.
        let params =
            (!r.hooks.after.is_empty()).then(|| super::hooks::request_params(&self.plan, &req));
        let mut intended = intended;
        if let Some(p) = &self.pacer {
            if p.wait().await {
                // The wait was the generator's cap, not the target: measure from the send.
                intended = None;
            }
        }
        let sent = Instant::now();
        let keep = Keep {
            body: r.needs_body(),
            headers: r.needs_headers(),
        };
        let mut pending = Pending {
            sink,
            request: r.index,
            from: intended.unwrap_or(sent).min(sent),
            sent,
            armed: true,
        };
        let result = self.client.send(req, &mut vu.conn, keep).await;
        pending.armed = false;
        let done = Instant::now();
        let stale_retry = vu.conn.take_stale_retry();
        let service = done - sent;
        let latency = done - intended.unwrap_or(sent).min(sent);
        match result {
            Ok(resp) => {
                {
                    let mut rec = lock(sink);
                    vu.last_status = Some(resp.status);
                    let error = self.judge(r, &resp, latency, vu, &mut rec);
                    vu.failures += u64::from(error.is_some());
                    rec.record(&Sample {
                        request: r.index,
                        latency,
                        service,
                        ttfb: Some(resp.ttfb),
                        status: Some(resp.status),
                        error,
                        stale_retry,
                    });
                }
                if self.missed_capture(r, vu, sink) {
                    return false;
                }
                self.after_response(r, params, &resp, vu, sink).await
            }
            Err(Failure { kind, status, ttfb }) => {
                vu.failures += 1;
                vu.last_status = status;
                lock(sink).record(&Sample {
                    request: r.index,
                    latency,
                    service,
                    ttfb,
                    status,
                    error: Some(kind),
                    stale_retry,
                });
                // A status was seen (the body failed): the exchange happened, later steps may run.
                status.is_some() && kind != ErrorKind::Reset
            }
        }
    }

    /// Applies checks and captures, recording each check's outcome; returns the error kind
    /// the sample counts as, if any. A failed check is a failed check, not a request error:
    /// errors are transport failures and unexpected statuses. The expected statuses are the
    /// request's `status` check when it has one, 2xx and 3xx otherwise.
    fn judge(
        &self,
        r: &RequestSpec,
        resp: &Response,
        latency: Duration,
        vu: &mut VuState,
        rec: &mut Recorder,
    ) -> Option<ErrorKind> {
        let body = resp.body.as_deref().unwrap_or_default();
        let json: Option<serde_json::Value> = if r.checks.iter().any(|c| {
            matches!(
                c.kind,
                CheckKind::JsonExists(_) | CheckKind::JsonAbsent(_) | CheckKind::JsonEquals(..)
            )
        }) || r
            .captures
            .iter()
            .any(|c| matches!(c.source, CaptureSource::Json(_)))
            || r.records
                .iter()
                .any(|x| matches!(x.source, RecordSource::Json(_)))
        {
            serde_json::from_slice(body).ok()
        } else {
            None
        };
        let mut error = None;
        let mut all_passed = true;
        for c in &r.checks {
            let passed = match &c.kind {
                // After the captures, below.
                CheckKind::Equals(_) => continue,
                CheckKind::Status(codes) => codes.contains(&resp.status),
                CheckKind::StatusNot(codes) => !codes.contains(&resp.status),
                CheckKind::HeaderContains(h, v) => {
                    header_text(&resp.headers, h).is_some_and(|x| x.contains(v.as_str()))
                }
                CheckKind::HeaderExists(h) => resp.headers.contains_key(h),
                CheckKind::HeaderEquals(h, v) => header_text(&resp.headers, h) == Some(v.as_str()),
                CheckKind::LatencyBelow(d) => latency < *d,
                other => body_passes(other, body, json.as_ref()),
            };
            rec.record_check(c.index, passed);
            vu.failures += u64::from(!passed);
            all_passed &= passed;
            if !passed && matches!(c.kind, CheckKind::Status(_)) {
                error = Some(ErrorKind::Status);
            }
        }
        if !r.has_status_check() && resp.status >= 400 {
            error = Some(ErrorKind::Status);
        }
        for cap in &r.captures {
            let (value, typed) = match &cap.source {
                CaptureSource::Header(h) => (
                    resp.headers
                        .get(h)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                    false,
                ),
                other => capture_from_body(other, body, json.as_ref()),
            };
            store_capture(vu, &cap.var, value, typed);
        }
        for c in &r.checks {
            if let CheckKind::Equals(templates) = &c.kind {
                let first = templates[0].render(vu);
                let passed = templates[1..].iter().all(|t| t.render(vu) == first);
                rec.record_check(c.index, passed);
                vu.failures += u64::from(!passed);
                all_passed &= passed;
            }
        }
        for x in &r.records {
            record(x, latency, all_passed, json.as_ref(), vu, rec);
        }
        error
    }

    /// A required capture found nothing: the iteration ends, counted as failed; logged the
    /// first time for each request.
    fn missed_capture(&self, r: &RequestSpec, vu: &VuState, sink: &Sink) -> bool {
        let Some(var) = r
            .captures
            .iter()
            .find(|c| c.required && vu.vars.get(&c.var).is_none_or(String::is_empty))
            .map(|c| &c.var)
        else {
            return false;
        };
        lock(sink).failed_iterations += 1;
        let first = self
            .missed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(r.index);
        if first {
            tracing::warn!(request = %r.name, "the required capture {var:?} found nothing in the response; the iteration ends there, counted as failed (further ones are counted, not logged)");
        }
        true
    }

    /// Builds the request, reusing the prepared parts.
    fn build(&self, r: &RequestSpec, vu: &VuState) -> Result<Outgoing, ErrorKind> {
        let prep = &self.prepared[r.index];
        // A request a processor may change is never sent pre-encoded.
        let hooked = !r.hooks.before.is_empty();
        if let (Some(wire), Some(dest), false) = (&prep.wire, &prep.dest, hooked) {
            return Ok(Outgoing {
                method: r.method.clone(),
                dest: dest.clone(),
                headers: HeaderMap::new(),
                body: None,
                timeout: r.timeout,
                wire: Some(wire.clone()),
            });
        }
        let dest = match &prep.dest {
            Some(d) => d.clone(),
            None => join_url(
                &self.plan.target.base_url,
                &r.url.render_url(vu),
                &r.query,
                vu,
            )
            .and_then(|u| Dest::for_transport(u, self.plan.target.transport))
            .ok_or(ErrorKind::Protocol)?,
        };
        let headers = match &prep.headers {
            Some(h) => h.clone(),
            None => headers(&self.plan, r, vu).ok_or(ErrorKind::Protocol)?,
        };
        let body = match &prep.body {
            Some(b) => Some(b.clone()),
            None => render_body(&r.body, vu),
        };
        Ok(Outgoing {
            method: r.method.clone(),
            dest,
            headers,
            body,
            timeout: r.timeout,
            wire: None,
        })
    }
}

impl Runtime {
    /// The request to send: built, then changed by its `before_request` functions; `None`
    /// (booked) when it cannot be built or a function failed.
    async fn outgoing(&self, r: &RequestSpec, vu: &mut VuState, sink: &Sink) -> Option<Outgoing> {
        let req = match self.build(r, vu) {
            Ok(req) => req,
            Err(kind) => {
                // Never sent (a URL or body that cannot be built): an error without a time.
                vu.failures += 1;
                lock(sink).record(&Sample::unsent(r.index, kind));
                return None;
            }
        };
        match (&self.processor, r.hooks.before.as_slice()) {
            (Some(p), before @ [_, ..]) => {
                p.before_request(&self.plan, before, req, vu, sink).await
            }
            _ => Some(req),
        }
    }

    /// Runs the request's `after_response` functions, if it has any (`params` is what they
    /// are shown of the request); false when one failed.
    async fn after_response(
        &self,
        r: &RequestSpec,
        params: Option<serde_json::Value>,
        resp: &Response,
        vu: &mut VuState,
        sink: &Sink,
    ) -> bool {
        match (&self.processor, params) {
            (Some(p), Some(params)) => {
                p.after_response(&r.hooks.after, params, resp, vu, sink)
                    .await
            }
            _ => true,
        }
    }
}

fn prepare(plan: &PlanSpec, client: &Client, r: &RequestSpec) -> Prepared {
    let vu = VuState::default();
    let url_static =
        r.url.as_static().is_some() && r.query.iter().all(|(_, t)| t.as_static().is_some());
    let headers_static = plan
        .target
        .headers
        .iter()
        .chain(&r.headers)
        .all(|(_, t)| t.as_static().is_some());
    let body_static = match &r.body {
        BodySpec::None => true,
        BodySpec::Json(j) => json_static(j),
        BodySpec::Form(f) => f.iter().all(|(_, t)| t.as_static().is_some()),
        BodySpec::Raw(t) => t.as_static().is_some(),
        BodySpec::Multipart { fields, .. } => fields.iter().all(|(_, t)| t.as_static().is_some()),
    };
    let dest = url_static
        .then(|| join_url(&plan.target.base_url, &r.url.render_url(&vu), &r.query, &vu))
        .flatten()
        .and_then(|u| Dest::for_transport(u, plan.target.transport));
    let headers = headers_static.then(|| headers(plan, r, &vu)).flatten();
    let body = if body_static && !matches!(r.body, BodySpec::None) {
        render_body(&r.body, &vu)
    } else {
        None
    };
    let wire = match (&dest, &headers) {
        (Some(d), Some(h))
            if body_static && (body.is_some() || matches!(r.body, BodySpec::None)) =>
        {
            client.pre_encode(&Outgoing {
                method: r.method.clone(),
                dest: d.clone(),
                headers: h.clone(),
                body: body.clone(),
                timeout: r.timeout,
                wire: None,
            })
        }
        _ => None,
    };
    Prepared {
        dest,
        headers,
        body,
        wire,
    }
}

fn json_static(j: &JsonTemplate) -> bool {
    match j {
        JsonTemplate::Value(_) => true,
        JsonTemplate::Str(t) => t.as_static().is_some(),
        JsonTemplate::Array(a) => a.iter().all(json_static),
        JsonTemplate::Object(o) => o.iter().all(|(_, v)| json_static(v)),
    }
}

fn headers(plan: &PlanSpec, r: &RequestSpec, vu: &VuState) -> Option<HeaderMap> {
    let mut h = HeaderMap::new();
    for (name, t) in plan.target.headers.iter().chain(&r.headers) {
        let mut v = HeaderValue::from_str(&t.render(vu)).ok()?;
        if matches!(
            name.as_str(),
            "authorization" | "cookie" | "proxy-authorization"
        ) {
            v.set_sensitive(true);
        }
        h.insert(name.clone(), v);
    }
    match &r.body {
        BodySpec::Json(_) => {
            h.entry(http::header::CONTENT_TYPE)
                .or_insert(HeaderValue::from_static("application/json"));
        }
        BodySpec::Form(_) => {
            h.entry(http::header::CONTENT_TYPE)
                .or_insert(HeaderValue::from_static(
                    "application/x-www-form-urlencoded",
                ));
        }
        BodySpec::Multipart { .. } => {
            let ct = format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}");
            h.insert(http::header::CONTENT_TYPE, HeaderValue::from_str(&ct).ok()?);
        }
        _ => {}
    }
    Some(h)
}

/// A response header's value as text (`None` when absent or not visible ASCII).
fn header_text<'a>(headers: &'a http::HeaderMap, name: &http::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|x| x.to_str().ok())
}
