//! Processor calls in a run: `function` steps, and the `before_request`/`after_response`
//! functions around a request. The VU's variables go in as `context.vars` and come back
//! changed; a `beforeRequest` may change the request, never its target. A call that fails
//! ends the iteration, counted as failed, and its first occurrence is logged with its place.

use super::http::{Dest, Outgoing, Response};
use super::vu::{lock, Sink, VuState};
use crate::config::{PlanSpec, ProcessorSpec};
use crate::script::processor::{HookCall, HookKind, HookOutcome, ProcessorThread};
use crate::script::ScriptError;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Mutex;

/// Distinct processor errors logged per run; later ones are only counted.
const MAX_LOGGED: usize = 20;

/// A run's processor: its engine thread, and the errors already logged.
pub struct Processor {
    thread: ProcessorThread,
    logged: Mutex<HashSet<String>>,
}

impl Processor {
    /// Starts the processor's engine (it loads the file again, as the run starts).
    pub fn start(spec: &ProcessorSpec) -> Result<Processor, ScriptError> {
        Ok(Processor {
            thread: ProcessorThread::start(&spec.path)?,
            logged: Mutex::default(),
        })
    }

    async fn call(&self, call: HookCall, sink: &Sink) -> Option<HookOutcome> {
        let function = call.function.clone();
        match self.thread.call(call).await {
            Ok(out) => Some(out),
            Err(e) => {
                self.failed(&function, e.to_string(), sink);
                None
            }
        }
    }

    /// A `function` step; false when it failed (the iteration ends).
    pub async fn function_step(&self, name: &str, vu: &mut VuState, sink: &Sink) -> bool {
        let call = HookCall {
            kind: HookKind::Function,
            function: name.to_string(),
            vars: vars_of(vu),
            request: None,
            response: None,
            vu: vu.vu,
        };
        let Some(out) = self.call(call, sink).await else {
            return false;
        };
        apply_vars(vu, out.vars);
        true
    }

    /// Runs the request's `before_request` functions over it; `None` when one failed or
    /// changed it into something that cannot be sent.
    pub async fn before_request(
        &self,
        plan: &PlanSpec,
        functions: &[String],
        mut req: Outgoing,
        vu: &mut VuState,
        sink: &Sink,
    ) -> Option<Outgoing> {
        for f in functions {
            let original = request_params(plan, &req);
            let call = HookCall {
                kind: HookKind::BeforeRequest,
                function: f.clone(),
                vars: vars_of(vu),
                request: Some(original.clone()),
                response: None,
                vu: vu.vu,
            };
            let out = self.call(call, sink).await?;
            apply_vars(vu, out.vars);
            if let Some(changed) = out.request.filter(|p| *p != original) {
                if let Err(why) = apply_request(plan, &mut req, &changed, &original) {
                    self.failed(f, format!("{f}: {why}"), sink);
                    return None;
                }
            }
        }
        Some(req)
    }

    /// Runs the request's `after_response` functions; false when one failed.
    pub async fn after_response(
        &self,
        functions: &[String],
        params: Value,
        resp: &Response,
        vu: &mut VuState,
        sink: &Sink,
    ) -> bool {
        let response = response_json(resp);
        for f in functions {
            let call = HookCall {
                kind: HookKind::AfterResponse,
                function: f.clone(),
                vars: vars_of(vu),
                request: Some(params.clone()),
                response: Some(response.clone()),
                vu: vu.vu,
            };
            let Some(out) = self.call(call, sink).await else {
                return false;
            };
            apply_vars(vu, out.vars);
        }
        true
    }

    /// A call failed: the iteration counts as failed; a message not seen before is logged.
    fn failed(&self, function: &str, message: String, sink: &Sink) {
        lock(sink).failed_iterations += 1;
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        if logged.len() < MAX_LOGGED && logged.insert(message.clone()) {
            tracing::warn!(function = %function, "processor function failed (the iteration ends, counted as failed): {message}");
        }
    }
}

/// The VU's variables as `context.vars`: JSON-typed captures as their JSON, the rest as text.
fn vars_of(vu: &VuState) -> Map<String, Value> {
    vu.vars
        .iter()
        .map(|(k, v)| {
            let value = if vu.json_typed.contains(k) {
                serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone()))
            } else {
                Value::String(v.clone())
            };
            (k.clone(), value)
        })
        .collect()
}

/// Takes back `context.vars`: new and changed variables are set, removed ones removed.
fn apply_vars(vu: &mut VuState, vars: Map<String, Value>) {
    let before = vars_of(vu);
    for k in before.keys().filter(|k| !vars.contains_key(*k)) {
        vu.vars.remove(k);
        vu.json_typed.remove(k);
    }
    for (k, v) in vars {
        if before.get(&k) != Some(&v) {
            vu.set_value(&k, &v);
        }
    }
}

/// The request as Artillery's `requestParams`: `url`, `method`, `headers`, and `json` for a
/// JSON body or `body` for a text one.
pub(super) fn request_params(plan: &PlanSpec, req: &Outgoing) -> Value {
    let url = full_url(plan, &req.dest);
    let mut headers = Map::new();
    for (k, v) in &req.headers {
        if let Ok(v) = v.to_str() {
            headers.insert(k.as_str().to_string(), Value::String(v.to_string()));
        }
    }
    let mut p = Map::new();
    p.insert("url".into(), Value::String(url));
    p.insert("method".into(), Value::String(req.method.to_string()));
    p.insert("headers".into(), Value::Object(headers));
    if let Some(body) = &req.body {
        let json = is_json(&req.headers)
            .then(|| serde_json::from_slice::<Value>(body).ok())
            .flatten();
        match (json, std::str::from_utf8(body)) {
            (Some(j), _) => {
                p.insert("json".into(), j);
            }
            (None, Ok(text)) => {
                p.insert("body".into(), Value::String(text.to_string()));
            }
            // Binary (multipart with files): not shown, kept as it is.
            (None, Err(_)) => {}
        }
    }
    Value::Object(p)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
}

fn full_url(plan: &PlanSpec, dest: &Dest) -> String {
    match dest {
        Dest::Url(u) => u.to_string(),
        Dest::Path(p) => {
            let base = &plan.target.base_url;
            format!("{}{}", &base[..url::Position::BeforePath], p)
        }
    }
}

/// Applies what a `beforeRequest` changed. The URL may change its path and query (also
/// given relative, or by `qs`), never its origin: the target and its allowlist stay.
fn apply_request(
    plan: &PlanSpec,
    req: &mut Outgoing,
    changed: &Value,
    original: &Value,
) -> Result<(), String> {
    let base = &plan.target.base_url;
    let url_text = changed
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut url = base
        .join(url_text)
        .map_err(|e| format!("requestParams.url {url_text:?} is not a URL: {e}"))?;
    if url.origin() != base.origin() {
        return Err(format!(
            "requestParams.url points at {}, not the plan's target {}: a processor may change the path and query, never the host",
            &url[..url::Position::BeforePath],
            &base[..url::Position::BeforePath]
        ));
    }
    if let Some(qs) = changed.get("qs").and_then(Value::as_object) {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in qs {
            match v {
                Value::String(s) => pairs.append_pair(k, s),
                other => pairs.append_pair(k, &other.to_string()),
            };
        }
    }
    req.dest = Dest::for_transport(url, plan.target.transport)
        .ok_or_else(|| "requestParams.url cannot be sent on this transport".to_string())?;
    if let Some(h) = changed.get("headers").and_then(Value::as_object) {
        req.headers = headers_of(h)?;
    }
    let json = changed.get("json").filter(|j| !j.is_null());
    if json != original.get("json") {
        if let Some(j) = json {
            req.body = Some(Bytes::from(j.to_string()));
            if !is_json(&req.headers) {
                req.headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
        }
    } else if changed.get("body") != original.get("body") {
        req.body = match changed.get("body") {
            Some(Value::String(s)) => Some(Bytes::from(s.clone())),
            Some(Value::Null) | None => None,
            Some(other) => Some(Bytes::from(other.to_string())),
        };
    }
    req.wire = None;
    Ok(())
}

fn headers_of(h: &Map<String, Value>) -> Result<HeaderMap, String> {
    let mut out = HeaderMap::new();
    for (k, v) in h {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("requestParams.headers: {k:?} is not a header name"))?;
        let value = HeaderValue::from_str(&text)
            .map_err(|_| format!("requestParams.headers.{k}: the value is not a header value"))?;
        out.insert(name, value);
    }
    Ok(out)
}

/// A response as Artillery's `response`: `statusCode`, `headers`, `body` (text).
fn response_json(resp: &Response) -> Value {
    let headers: Map<String, Value> = resp
        .headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_string(),
                Value::String(v.to_str().ok()?.to_string()),
            ))
        })
        .collect();
    let body = resp
        .body
        .as_ref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    serde_json::json!({ "statusCode": resp.status, "headers": headers, "body": body })
}
