//! The `__loadpacer` object the built-in k6 modules call: one per VU, bound to the VU's
//! coroutine. Calls that must wait suspend the coroutine with an [`Op`]; the rest queue an
//! [`Event`].

use super::host::{Event, Exec, HttpCall, HttpReply, Op, Reply};
use super::{MetricDecl, Program, Sources};
use base64::Engine as _;
use corosensei::Yielder;
use rquickjs::function::Opt;
use rquickjs::{Array, ArrayBuffer, Ctx, Exception, Function, Object, Result, Value};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Globals every context gets before the script: `console`, `open()`, `__ENV`.
const PRELUDE: &str = r#"
(() => {
  const host = globalThis.__loadpacer;
  const text = (args) => args.map((a) => (typeof a === 'string' ? a : (() => { try { return JSON.stringify(a); } catch (e) { return String(a); } })())).join(' ');
  globalThis.console = {
    log: (...a) => host.log('info', text(a)),
    info: (...a) => host.log('info', text(a)),
    warn: (...a) => host.log('warn', text(a)),
    error: (...a) => host.log('error', text(a)),
    debug: (...a) => host.log('debug', text(a)),
  };
  globalThis.open = (path, mode) => host.open(String(path), mode === undefined ? '' : String(mode));
  // Timers, run by `__runTimer` after the iteration's function returns (k6's event loop).
  const timers = new Map();
  let timerSeq = 0;
  const addTimer = (fn, ms, args, repeat) => {
    if (typeof fn !== 'function') throw new TypeError('a timer needs a function to call');
    const delay = Math.max(0, Number(ms) || 0);
    timerSeq += 1;
    timers.set(timerSeq, { due: Date.now() + delay, fn, args, every: repeat ? Math.max(1, delay) : 0 });
    return timerSeq;
  };
  globalThis.setTimeout = (fn, ms, ...args) => addTimer(fn, ms, args, false);
  globalThis.setInterval = (fn, ms, ...args) => addTimer(fn, ms, args, true);
  globalThis.clearTimeout = (id) => { timers.delete(id); };
  globalThis.clearInterval = globalThis.clearTimeout;
  globalThis.__clearTimers = () => timers.clear();
  globalThis.__runTimer = () => {
    let first = null;
    for (const entry of timers) if (!first || entry[1].due < first[1].due) first = entry;
    if (!first) return false;
    const [id, t] = first;
    const wait = t.due - Date.now();
    if (wait > 0) host.sleep(wait / 1000);
    if (t.every) t.due += t.every; else timers.delete(id);
    t.fn(...t.args);
    return true;
  };
  Object.defineProperty(globalThis, '__VU', { get: () => host.exec().vu });
  Object.defineProperty(globalThis, '__ITER', { get: () => host.exec().iterationInScenario });
})();
"#;

/// What the natives of one VU share with the code that drives it.
pub struct VuCell {
    /// The coroutine to suspend; null while the init context is evaluated outside one.
    pub yielder: Cell<*const Yielder<Reply, Op>>,
    pub events: RefCell<Vec<Event>>,
    pub exec: RefCell<Exec>,
    groups: RefCell<Vec<String>>,
    pub declared: RefCell<Vec<MetricDecl>>,
    sources: Sources,
    env: BTreeMap<String, String>,
    /// The script's folder: `open()` paths are relative to it.
    base: PathBuf,
    /// Evaluating the init context: no requests, no sleeping; metrics may be declared.
    pub in_init: Cell<bool>,
    /// The iteration was told to stop: every further call throws, and the interrupt handler
    /// ends loops that catch it.
    pub stopping: Cell<bool>,
    /// The VU's cookies, as k6 keeps them.
    jar: Rc<RefCell<cookie_store::CookieStore>>,
    /// `noCookiesReset`: the jar outlives an iteration (k6 empties it between iterations).
    keep_cookies: bool,
    /// The run is over: every VU's JavaScript is interrupted.
    halt: Arc<AtomicBool>,
}

impl VuCell {
    pub fn new(program: &Program, vu: u64, halt: Arc<AtomicBool>) -> Rc<Self> {
        Rc::new(Self {
            yielder: Cell::new(std::ptr::null()),
            events: RefCell::default(),
            exec: RefCell::new(Exec {
                vu,
                ..Exec::default()
            }),
            groups: RefCell::default(),
            declared: RefCell::default(),
            sources: program.sources.clone(),
            env: program.env.clone(),
            base: std::path::Path::new(&program.entry)
                .parent()
                .map(PathBuf::from)
                .unwrap_or_default(),
            in_init: Cell::new(true),
            stopping: Cell::new(false),
            jar: Rc::default(),
            keep_cookies: program
                .options
                .get("noCookiesReset")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            halt,
        })
    }

    /// Starts an iteration outside any group (`setup()` and `teardown()` run in a group of
    /// their name, as in k6: `::setup::…`) and, unless `noCookiesReset`, with an empty jar.
    pub fn start_iteration(&self, function: &str) {
        if !self.keep_cookies {
            self.jar.borrow_mut().clear();
        }
        let mut g = self.groups.borrow_mut();
        g.clear();
        if function == "setup" || function == "teardown" {
            g.push(function.to_string());
        }
    }

    /// Whether the engine must interrupt the running JavaScript.
    pub fn must_stop(&self) -> bool {
        self.stopping.get() || self.halt.load(Ordering::Relaxed)
    }

    /// The current group path, `::a::b` (empty outside groups), as k6 writes it.
    fn group(&self) -> String {
        self.groups
            .borrow()
            .iter()
            .fold(String::new(), |path, g| format!("{path}::{g}"))
    }

    /// Suspends the VU until the run stage answers `op`.
    fn wait(&self, ctx: &Ctx<'_>, op: Op, what: &str) -> Result<Reply> {
        if self.in_init.get() {
            return Err(Exception::throw_message(ctx, &format!("{what} is not allowed in the init context (k6 forbids it too): call it in the default function, a scenario function or setup()")));
        }
        let y = self.yielder.get();
        if y.is_null() || self.stopping.get() {
            return Err(stopped(ctx, self));
        }
        // SAFETY: set by the coroutine body before any JavaScript runs and valid for its whole
        // life; natives only run inside that body, on its stack.
        let reply = unsafe { (*y).suspend(op) };
        if matches!(reply, Reply::Stop | Reply::Exit) {
            return Err(stopped(ctx, self));
        }
        Ok(reply)
    }
}

fn stopped(ctx: &Ctx<'_>, cell: &VuCell) -> rquickjs::Error {
    cell.stopping.set(true);
    Exception::throw_message(
        ctx,
        "the run stopped this iteration (its graceful stop is over)",
    )
}

/// Installs `__loadpacer` and the prelude's globals in a VU's context.
pub fn install<'js>(ctx: &Ctx<'js>, cell: &Rc<VuCell>) -> Result<()> {
    let lp = Object::new(ctx.clone())?;
    let c = cell.clone();
    lp.set(
        "request",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, m: String, u: String, body: Value<'js>, p: Opt<Object<'js>>| {
                let call = http_call(&ctx, &c, m, u, &body, p.0.as_ref())?;
                let replies = send(&ctx, &c, vec![call])?;
                response(&ctx, replies.into_iter().next().unwrap_or_default())
            },
        )?,
    )?;
    let c = cell.clone();
    lp.set(
        "batch",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, calls: Array<'js>| {
            let mut list = Vec::with_capacity(calls.len());
            for call in calls.iter::<Array<'js>>() {
                let call = call?;
                let p: Option<Object<'js>> = call.get(3)?;
                list.push(http_call(
                    &ctx,
                    &c,
                    call.get(0)?,
                    call.get(1)?,
                    &call.get(2)?,
                    p.as_ref(),
                )?);
            }
            let out = Array::new(ctx.clone())?;
            for (i, r) in send(&ctx, &c, list)?.into_iter().enumerate() {
                out.set(i, response(&ctx, r)?)?;
            }
            Ok::<_, rquickjs::Error>(out)
        })?,
    )?;
    let c = cell.clone();
    lp.set(
        "sleep",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, seconds: f64| {
            let d = Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX);
            c.wait(&ctx, Op::Sleep(d), "sleep()").map(|_| ())
        })?,
    )?;
    let c = cell.clone();
    lp.set(
        "check",
        Function::new(ctx.clone(), move |name: String, ok: bool| {
            let group = c.group();
            c.events.borrow_mut().push(Event::Check { name, group, ok });
        })?,
    )?;
    let c = cell.clone();
    lp.set(
        "groupEnter",
        Function::new(ctx.clone(), move |name: String| {
            c.groups.borrow_mut().push(name)
        })?,
    )?;
    let c = cell.clone();
    lp.set(
        "groupLeave",
        Function::new(ctx.clone(), move || {
            c.groups.borrow_mut().pop();
        })?,
    )?;
    install_metrics(ctx, &lp, cell)?;
    super::cookies::install(ctx, &lp, &cell.jar)?;
    install_misc(ctx, &lp, cell)?;
    ctx.globals().set("__loadpacer", lp)?;
    let env = Object::new(ctx.clone())?;
    for (k, v) in &cell.env {
        env.set(k.as_str(), v.as_str())?;
    }
    ctx.globals().set("__ENV", env)?;
    ctx.eval::<(), _>(PRELUDE)
}

fn install_metrics<'js>(ctx: &Ctx<'js>, lp: &Object<'js>, cell: &Rc<VuCell>) -> Result<()> {
    let c = cell.clone();
    lp.set(
        "declareMetric",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, kind: String, name: String, is_time: bool| {
            let kind = match kind.as_str() {
                "counter" => "counter",
                "gauge" => "gauge",
                "rate" => "rate",
                _ => "trend",
            };
            let mut declared = c.declared.borrow_mut();
            match declared.iter().find(|m| m.name == name) {
                Some(m) if m.kind != kind => Err(Exception::throw_message(&ctx, &format!("metric {name} is already a {}", m.kind))),
                Some(_) => Ok(()),
                None if !c.in_init.get() => Err(Exception::throw_message(&ctx, "k6 metrics are created in the init context (outside any function), as in k6")),
                None => {
                    declared.push(MetricDecl { kind, name, is_time });
                    Ok(())
                }
            }
        })?,
    )?;
    let c = cell.clone();
    lp.set(
        "metric",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, value: f64| {
                if c.in_init.get() {
                    return Err(Exception::throw_message(
                        &ctx,
                        "metrics are added to in iterations, not in the init context",
                    ));
                }
                c.events.borrow_mut().push(Event::Metric { name, value });
                Ok(())
            },
        )?,
    )?;
    Ok(())
}

/// `k6/execution`, `test.abort()` and `console`.
fn install_misc<'js>(ctx: &Ctx<'js>, lp: &Object<'js>, cell: &Rc<VuCell>) -> Result<()> {
    let c = cell.clone();
    lp.set(
        "exec",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
            let e = c.exec.borrow();
            let o = Object::new(ctx)?;
            o.set("vu", e.vu)?;
            o.set("scenario", e.scenario.as_str())?;
            o.set("iterationInScenario", e.iteration_in_scenario)?;
            o.set("iterationInTest", e.iteration_in_test)?;
            Ok::<_, rquickjs::Error>(o)
        })?,
    )?;
    let c = cell.clone();
    lp.set(
        "abort",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, reason: String| {
            c.events.borrow_mut().push(Event::Abort(reason.clone()));
            c.stopping.set(true);
            Err::<(), _>(Exception::throw_message(
                &ctx,
                &format!("test aborted: {reason}"),
            ))
        })?,
    )?;
    let c = cell.clone();
    lp.set(
        "log",
        Function::new(ctx.clone(), move |level: String, message: String| {
            let level = match level.as_str() {
                "warn" => "warn",
                "error" => "error",
                "debug" => "debug",
                _ => "info",
            };
            c.events.borrow_mut().push(Event::Log { level, message });
        })?,
    )?;
    install_data(ctx, lp, cell)
}

/// `k6/crypto`: a digest or HMAC of the parts given (strings as UTF-8, ArrayBuffers as they
/// are), and random bytes.
fn install_crypto<'js>(ctx: &Ctx<'js>, lp: &Object<'js>) -> Result<()> {
    lp.set(
        "digest",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, algorithm: String, key: Value<'js>, parts: Array<'js>| {
                let mut data = Vec::new();
                for p in parts.iter::<Value<'js>>() {
                    data.extend(bytes_of(&ctx, &p?)?);
                }
                let key = (!key.is_null()).then(|| bytes_of(&ctx, &key)).transpose()?;
                let out = super::crypto::digest(&algorithm, key.as_deref(), &data)
                    .map_err(|e| Exception::throw_type(&ctx, &e))?;
                ArrayBuffer::new(ctx.clone(), out)
            },
        )?,
    )?;
    lp.set(
        "randomBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, size: f64| {
            let n = size.clamp(0.0, 1e6) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
            ArrayBuffer::new(ctx, bytes)
        })?,
    )?;
    Ok(())
}

/// `open()`, `k6/encoding` and multipart bodies.
fn install_data<'js>(ctx: &Ctx<'js>, lp: &Object<'js>, cell: &Rc<VuCell>) -> Result<()> {
    install_crypto(ctx, lp)?;
    let c = cell.clone();
    lp.set(
        "open",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, path: String, mode: String| {
                if !c.in_init.get() {
                    return Err(Exception::throw_message(
                        &ctx,
                        "open() is only allowed in the init context, as in k6",
                    ));
                }
                let full = c.base.join(&path);
                let bytes = c
                    .sources
                    .bytes(&full)
                    .map_err(|e| Exception::throw_message(&ctx, &e))?;
                if mode == "b" {
                    ArrayBuffer::new_copy(ctx.clone(), &bytes[..]).map(|b| b.into_value())
                } else {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    rquickjs::String::from_str(ctx.clone(), &text).map(|s| s.into_value())
                }
            },
        )?,
    )?;
    lp.set(
        "b64encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: Value<'js>, enc: String| {
                let bytes = bytes_of(&ctx, &input)?;
                Ok::<_, rquickjs::Error>(b64(&enc).encode(bytes))
            },
        )?,
    )?;
    lp.set(
        "b64decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: String, enc: String, format: String| {
                let bytes = b64(&enc)
                    .decode(input.trim_end_matches(if enc.starts_with("raw") { "=" } else { "" }))
                    .map_err(|e| Exception::throw_message(&ctx, &format!("b64decode: {e}")))?;
                if format == "s" {
                    rquickjs::String::from_str(ctx.clone(), &String::from_utf8_lossy(&bytes))
                        .map(|s| s.into_value())
                } else {
                    ArrayBuffer::new_copy(ctx.clone(), &bytes[..]).map(|b| b.into_value())
                }
            },
        )?,
    )?;
    lp.set(
        "multipart",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, body: Object<'js>, headers: Object<'js>| {
                multipart(&ctx, &body, &headers)
            },
        )?,
    )?;
    Ok(())
}

fn b64(enc: &str) -> base64::engine::GeneralPurpose {
    use base64::engine::general_purpose as g;
    match enc {
        "rawstd" => g::STANDARD_NO_PAD,
        "url" => g::URL_SAFE,
        "rawurl" => g::URL_SAFE_NO_PAD,
        _ => g::STANDARD,
    }
}

/// A string's UTF-8 bytes or an ArrayBuffer's bytes.
fn bytes_of<'js>(ctx: &Ctx<'js>, v: &Value<'js>) -> Result<Vec<u8>> {
    if let Some(s) = v.as_string() {
        return Ok(s.to_string()?.into_bytes());
    }
    if let Some(b) = v
        .as_object()
        .and_then(|o| ArrayBuffer::from_object(o.clone()))
    {
        return Ok(b.as_bytes().unwrap_or_default().to_vec());
    }
    if v.is_null() || v.is_undefined() {
        return Ok(Vec::new());
    }
    Err(Exception::throw_type(
        ctx,
        "expected a string or an ArrayBuffer",
    ))
}

/// k6's multipart body: string fields and `http.file(...)` parts; sets the header.
fn multipart<'js>(ctx: &Ctx<'js>, body: &Object<'js>, headers: &Object<'js>) -> Result<Value<'js>> {
    let boundary = format!("loadpacer{:016x}", rand::random::<u64>());
    let mut out = Vec::new();
    for key in body.keys::<String>() {
        let key = key?;
        let v: Value<'js> = body.get(&key)?;
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let file = v
            .as_object()
            .filter(|o| o.get::<_, bool>("__file").unwrap_or(false));
        match file {
            Some(f) => {
                let name: String = f.get("filename")?;
                let ct: String = f.get("content_type")?;
                out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{key}\"; filename=\"{name}\"\r\nContent-Type: {ct}\r\n\r\n").as_bytes());
                out.extend(bytes_of(ctx, &f.get("data")?)?);
            }
            None => {
                out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{key}\"\r\n\r\n").as_bytes(),
                );
                let text: rquickjs::Coerced<String> = v.get()?;
                out.extend_from_slice(text.0.as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    headers.set(
        "Content-Type",
        format!("multipart/form-data; boundary={boundary}"),
    )?;
    ArrayBuffer::new(ctx.clone(), out).map(|b| b.into_value())
}

/// A request as `k6/http` passed it (`prepare` in http.js), checked.
fn http_call<'js>(
    ctx: &Ctx<'js>,
    cell: &VuCell,
    method: String,
    url: String,
    body: &Value<'js>,
    params: Option<&Object<'js>>,
) -> Result<HttpCall> {
    let mut call = HttpCall {
        method,
        url,
        body: if body.is_null() || body.is_undefined() {
            None
        } else {
            Some(bytes_of(ctx, body)?)
        },
        keep_body: true,
        group: cell.group(),
        redirects: DEFAULT_REDIRECTS,
        ..HttpCall::default()
    };
    let Some(p) = params else {
        cookie_header(cell, &mut call);
        return Ok(call);
    };
    if let Some(h) = p.get::<_, Option<Object<'js>>>("headers")? {
        for key in h.keys::<String>() {
            let key = key?;
            let v: rquickjs::Coerced<String> = h.get(&key)?;
            call.headers.push((key, v.0));
        }
    }
    if let Some(c) = p.get::<_, Option<Object<'js>>>("cookies")? {
        call.own_cookies = super::cookies::of_params(&c)?;
    }
    cookie_header(cell, &mut call);
    if let Some(n) = p.get::<_, Option<f64>>("redirects")? {
        call.redirects = n.clamp(0.0, 100.0) as u32;
    }
    if let Some(tags) = p.get::<_, Option<Object<'js>>>("tags")? {
        call.name = tags
            .get::<_, Option<rquickjs::Coerced<String>>>("name")?
            .map(|n| n.0);
    }
    let timeout: Value<'js> = p.get("timeout")?;
    call.timeout = if let Some(ms) = timeout.as_number() {
        Some(Duration::from_secs_f64((ms / 1000.0).max(0.0)))
    } else if let Some(s) = timeout.as_string() {
        let s = s.to_string()?;
        Some(humantime::parse_duration(&s).map_err(|_| {
            Exception::throw_type(
                ctx,
                &format!("timeout {s:?} is not a duration (e.g. \"30s\", \"500ms\")"),
            )
        })?)
    } else {
        None
    };
    match p.get::<_, Option<String>>("responseType")?.as_deref() {
        None | Some("text") => {}
        Some("binary") => call.binary = true,
        Some("none") => call.keep_body = false,
        Some(other) => {
            return Err(Exception::throw_type(
                ctx,
                &format!("responseType {other:?}: use text, binary or none"),
            ))
        }
    }
    if let Some(ranges) = p.get::<_, Option<Array<'js>>>("expected")? {
        let mut list = Vec::new();
        for r in ranges.iter::<Array<'js>>() {
            let r = r?;
            list.push((r.get::<u16>(0)?, r.get::<u16>(1)?));
        }
        call.expected = Some(list);
    }
    Ok(call)
}

/// Redirects a request follows unless `params.redirects` says otherwise (k6's default).
const DEFAULT_REDIRECTS: u32 = 10;

/// The request's `Cookie` header: the jar's cookies for its URL, its own over them.
fn cookie_header(cell: &VuCell, call: &mut HttpCall) {
    call.headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case("cookie"));
    if let Some(h) = super::cookies::header(&cell.jar.borrow(), &call.url, &call.own_cookies) {
        call.headers.push(("Cookie".into(), h));
    }
}

/// Hands requests to the run stage and waits for their replies, following redirects as k6
/// does: each hop is a request of its own (measured and counted), the cookies a hop sets are
/// in the jar before the next one is sent, 301/302/303 go on as GET without a body (307/308
/// keep both), and the last hop's response is the reply.
fn send(ctx: &Ctx<'_>, cell: &VuCell, mut calls: Vec<HttpCall>) -> Result<Vec<HttpReply>> {
    let mut done: Vec<Option<HttpReply>> = vec![None; calls.len()];
    let mut pending: Vec<usize> = (0..calls.len()).collect();
    while !pending.is_empty() {
        let batch: Vec<HttpCall> = pending.iter().map(|&i| calls[i].clone()).collect();
        let replies = match cell.wait(ctx, Op::Http(batch), "an HTTP request")? {
            Reply::Http(replies) if replies.len() == pending.len() => replies,
            other => {
                return Err(Exception::throw_internal(
                    ctx,
                    &format!("unexpected reply {other:?}"),
                ))
            }
        };
        let mut next = Vec::new();
        for (i, r) in pending.into_iter().zip(replies) {
            super::cookies::store(&mut cell.jar.borrow_mut(), &calls[i].url, &r.headers);
            match redirect(&calls[i], &r) {
                Some(mut hop) => {
                    cookie_header(cell, &mut hop);
                    calls[i] = hop;
                    next.push(i);
                }
                None => done[i] = Some(r),
            }
        }
        pending = next;
    }
    Ok(done.into_iter().map(Option::unwrap_or_default).collect())
}

/// The next hop of a redirect, while the request has redirects left.
fn redirect(call: &HttpCall, r: &HttpReply) -> Option<HttpCall> {
    if call.redirects == 0 || !matches!(r.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("location"))?;
    let from = url::Url::parse(&call.url).ok()?;
    let to = from.join(&location.1).ok()?;
    let mut hop = call.clone();
    hop.redirects -= 1;
    if matches!(r.status, 301..=303) && call.method != "HEAD" {
        hop.method = "GET".into();
        hop.body = None;
        hop.headers.retain(|(k, _)| {
            !k.eq_ignore_ascii_case("content-type") && !k.eq_ignore_ascii_case("content-length")
        });
    }
    if to.origin() != from.origin() {
        // As Go's client (k6's) does: credentials are not sent to another host.
        hop.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
    }
    hop.url = to.to_string();
    Some(hop)
}

/// k6's `Response` fields (http.js wraps them in its class).
fn response<'js>(ctx: &Ctx<'js>, r: HttpReply) -> Result<Object<'js>> {
    let o = Object::new(ctx.clone())?;
    o.set("status", r.status)?;
    o.set("url", r.url)?;
    match r.body {
        None => o.set("body", Value::new_null(ctx.clone()))?,
        Some(b) => o.set("body", String::from_utf8_lossy(&b).into_owned())?,
    }
    let headers = Object::new(ctx.clone())?;
    for (k, v) in &r.headers {
        headers.set(canonical(k), v.as_str())?;
    }
    o.set("headers", headers)?;
    let timings = Object::new(ctx.clone())?;
    timings.set("duration", r.duration_ms)?;
    timings.set("waiting", r.waiting_ms)?;
    timings.set("receiving", r.receiving_ms)?;
    o.set("timings", timings)?;
    o.set("cookies", super::cookies::of_response(ctx, &r.headers)?)?;
    let (error, code) = r.error.unwrap_or_default();
    o.set("error", error)?;
    o.set("error_code", code)?;
    Ok(o)
}

/// `content-type` → `Content-Type`, as k6 gives header names.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}
