//! Artillery's WebSocket engine (`engine: ws`): a scenario's flow becomes one loadpacer `ws`
//! step, a session that does the flow's actions in order and closes when the flow ends, as
//! Artillery's does. `send` sends text (or JSON); a `send` with `capture` or `match` then
//! waits for the reply that matches; `think` holds the session open; `loop` with `count`
//! repeats its actions; `connect` sets the session's path.

use super::step::{located_steps, think, Step};
use super::{quote, template, Out};
use crate::config::error::Collector;
use serde_json::Value;
use serde_saphyr::Location;

/// How long a `send` with `capture` or `match` waits for its reply.
const REPLY_TIMEOUT: &str = "10s";

/// Most actions one session may unroll to (loops are written out).
const MAX_ACTIONS: usize = 1000;

/// The session's steps: one `ws` step named after the scenario.
pub(super) fn ws_session(
    out: &mut Out,
    name: &str,
    path: &str,
    base_path: &str,
    flow: &[Step],
    c: &mut Collector,
) {
    let mut session = Session {
        path: base_path.to_string(),
        actions: Vec::new(),
    };
    session.flow(flow, path, c);
    let at = flow.first().map_or(Location::UNKNOWN, |s| s.referenced);
    out.line(10, "- ws:", at);
    out.line(14, &format!("name: {}", quote(name)), at);
    out.line(14, &format!("path: {}", quote(&session.path)), at);
    if session.actions.is_empty() {
        return;
    }
    out.line(14, "actions:", at);
    for (line, at) in session.actions {
        out.line(16, &format!("- {line}"), at);
    }
}

struct Session {
    path: String,
    /// Each action as one YAML flow line, with the script place it came from.
    actions: Vec<(String, Location)>,
}

impl Session {
    fn flow(&mut self, flow: &[Step], path: &str, c: &mut Collector) {
        for (i, step) in flow.iter().enumerate() {
            let sp = format!("{path}[{i}]");
            for (action, v) in &step.value {
                let (at, ap) = (v.referenced, format!("{sp}.{action}"));
                match action.as_str() {
                    "send" => self.send(&v.value, at, &ap, c),
                    "think" => match think(&v.value) {
                        Some(t) => self.push(format!("hold: {{ duration: {t} }}"), at, c),
                        None => c.at(&at, &ap, "must be seconds (a number) or a duration"),
                    },
                    "loop" => self.repeat(step, &v.value, at, &ap, c),
                    "count" | "over" => {}
                    "connect" => self.connect(&v.value, i, at, &ap, c),
                    "log" => {}
                    "function" => c.at(&at, &ap, "`function` calls JavaScript, which cannot run"),
                    other => c.at(&at, &ap, format!("{other:?} is not a WebSocket flow action loadpacer knows; use send, think, loop, connect or log")),
                }
            }
        }
    }

    fn push(&mut self, line: String, at: Location, c: &mut Collector) {
        if self.actions.len() == MAX_ACTIONS {
            c.at(&at, "", format!("the session unrolls to more than {MAX_ACTIONS} actions; use a loadpacer `hold` with `every` for a long stream of sends"));
        }
        if self.actions.len() < MAX_ACTIONS {
            self.actions.push((line, at));
        }
    }

    /// `send: TEXT`, `send: {JSON}`, or `send: { payload, capture, match }`.
    fn send(&mut self, v: &Value, at: Location, path: &str, c: &mut Collector) {
        let reply = v.as_object().filter(|o| o.contains_key("payload"));
        let payload = reply.map_or(v, |o| &o["payload"]);
        match payload {
            Value::String(s) => self.push(format!("send: {}", quote(&template(s, at, c))), at, c),
            other => self.push(format!("send_json: {other}"), at, c),
        }
        if let Some(o) = reply.filter(|o| o.contains_key("capture") || o.contains_key("match")) {
            let expect = expect(o.get("capture"), o.get("match"), at, path, c);
            self.push(format!("expect: {{ {expect} }}"), at, c);
        }
    }

    /// `loop` with `count`: its actions written out that many times.
    fn repeat(&mut self, step: &Step, v: &Value, at: Location, path: &str, c: &mut Collector) {
        let Some(n) = step.value.get("count").and_then(|n| n.value.as_u64()) else {
            c.at(
                &at,
                path,
                "a WebSocket `loop` needs `count` (a whole number)",
            );
            return;
        };
        let Some(inner) = located_steps(v, at) else {
            c.at(&at, path, "must be a list of flow steps");
            return;
        };
        for _ in 0..n.min(MAX_ACTIONS as u64 + 1) {
            self.flow(&inner, path, c);
        }
    }

    /// `connect: "{{ target }}/path"` (or a path): where the session connects.
    fn connect(&mut self, v: &Value, index: usize, at: Location, path: &str, c: &mut Collector) {
        let Some(url) = v.as_str() else {
            c.at(&at, path, "must be the URL to connect to, e.g. \"{{ target }}/chat\" (a `function` cannot run)");
            return;
        };
        if index > 0 {
            c.at(
                &at,
                path,
                "`connect` comes first in a flow: the session connects once",
            );
        }
        let rest = url
            .trim()
            .trim_start_matches("{{ target }}")
            .trim_start_matches("{{target}}");
        self.path = if rest.starts_with('/') {
            rest.to_string()
        } else {
            format!("/{rest}")
        };
        if rest.contains("://") {
            c.at(
                &at,
                path,
                "must be on the script's target: \"{{ target }}/PATH\" or a path",
            );
        }
    }
}

/// The `expect` fields of a reply awaited for its `capture` (`{ json, as }` or `{ regexp, as
/// }`, one or a list) and `match` (`{ json, value }`, one or a list).
fn expect(
    capture: Option<&Value>,
    matched: Option<&Value>,
    at: Location,
    path: &str,
    c: &mut Collector,
) -> String {
    let list = |v: Option<&Value>| -> Vec<Value> {
        match v {
            Some(Value::Array(a)) => a.clone(),
            Some(one) => vec![one.clone()],
            None => Vec::new(),
        }
    };
    let mut json = Vec::new();
    for m in list(matched) {
        match (m.get("json").and_then(Value::as_str), m.get("value")) {
            (Some(p), Some(v)) => json.push(format!("{}: {v}", quote(p))),
            _ => c.at(
                &at,
                &format!("{path}.match"),
                "must be { json: PATH, value: VALUE }",
            ),
        }
    }
    let mut captures = Vec::new();
    for cap in list(capture) {
        let var = cap.get("as").and_then(Value::as_str);
        let source = cap
            .get("json")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                cap.get("regexp")
                    .and_then(Value::as_str)
                    .map(|r| format!("regex:{r}"))
            });
        match (var, source) {
            (Some(var), Some(source)) => {
                captures.push(format!("{}: {}", quote(var), quote(&source)))
            }
            _ => c.at(
                &at,
                &format!("{path}.capture"),
                "must be { json: PATH, as: NAME } or { regexp: PATTERN, as: NAME }",
            ),
        }
    }
    let mut fields = vec![format!("timeout: {REPLY_TIMEOUT}")];
    if !json.is_empty() {
        fields.push(format!("json: {{ {} }}", json.join(", ")));
    }
    if !captures.is_empty() {
        fields.push(format!("capture: {{ {} }}", captures.join(", ")));
    }
    fields.join(", ")
}
