//! The scenarios of a script: each flow's steps (requests, think, log, loop) with their
//! captures and checks.

use super::super::script::Scenario;
use super::processor::{function_names, function_steps};
use super::step::{located_steps, think, Step};
use super::{quote, template, Out, ACTIONS, METHODS, REQUEST_FIELDS};
use crate::config::error::Collector;
use crate::config::raw::S;
use serde_json::Value;
use serde_saphyr::Location;
use std::collections::BTreeMap;

pub(super) fn scenario(
    out: &mut Out,
    i: usize,
    s: &Scenario,
    expect: FlowOptions,
    ws_path: &str,
    c: &mut Collector,
) {
    let name = s
        .name
        .as_ref()
        .map(|n| n.value.clone())
        .unwrap_or_else(|| format!("scenario-{}", i + 1));
    let at = s.name.as_ref().map_or(Location::UNKNOWN, |n| n.referenced);
    out.line(6, &format!("- name: {}", quote(&name)), at);
    if let Some(w) = &s.weight {
        out.line(8, &format!("weight: {}", w.value.max(1)), w.referenced);
    }
    let ws = s.engine.as_ref().is_some_and(|e| e.value == "ws");
    match &s.flow {
        Some(flow) if ws => {
            let path = format!("scenarios[{i}].flow");
            out.line(8, "steps:", flow.referenced);
            super::ws::ws_session(out, &name, &path, ws_path, &flow.value.0, c);
        }
        Some(flow) => {
            let path = format!("scenarios[{i}].flow");
            let sp = format!("scenarios[{i}]");
            let mut f = Flow::new(expect);
            let names = |v: &Option<S<Value>>, field: &str, c: &mut Collector| match v {
                Some(v) => {
                    function_names(Some(&v.value), v.referenced, &format!("{sp}.{field}"), c)
                }
                None => Vec::new(),
            };
            f.before_request = names(&s.before_request, "beforeRequest", c);
            f.after_response = names(&s.after_response, "afterResponse", c);
            let before = names(&s.before_scenario, "beforeScenario", c);
            let after = names(&s.after_scenario, "afterScenario", c);
            out.steps_of(8, flow.referenced, |out| {
                function_steps(out, 10, &before, at);
                steps(out, 10, &flow.value.0, &path, &mut f, c);
                function_steps(out, 10, &after, at);
            });
        }
        None => c.at(&at, &format!("scenarios[{i}]"), "a scenario needs a `flow`"),
    }
}

/// The steps of `before` (setup) or `after` (teardown), written as the plan's steps.
pub(super) fn hook_steps(
    out: &mut Out,
    flow: &[Step],
    path: &str,
    expect: FlowOptions,
    c: &mut Collector,
) {
    steps(out, 6, flow, path, &mut Flow::new(expect), c);
}

/// What the steps of one flow share: whether `expect` is honoured (the expect plugin is on),
/// and the request names given so far, to number a repeated one.
/// What the script's config says about every flow.
#[derive(Debug, Clone, Copy)]
pub(super) struct FlowOptions {
    /// The expect plugin is on: `expect` is checked.
    pub expect: bool,
    /// Captures are strict unless they say `strict: false` (Artillery's default), else
    /// only those that say `strict: true` (`defaults.strictCapture: false`).
    pub strict_captures: bool,
}

struct Flow {
    expect: bool,
    strict_captures: bool,
    names: BTreeMap<String, u32>,
    /// The scenario's `beforeRequest` and `afterResponse`: called around each of its
    /// requests, before the request's own.
    before_request: Vec<String>,
    after_response: Vec<String>,
}

impl Flow {
    fn new(o: FlowOptions) -> Self {
        Flow {
            expect: o.expect,
            strict_captures: o.strict_captures,
            names: BTreeMap::new(),
            before_request: Vec::new(),
            after_response: Vec::new(),
        }
    }
}

fn steps(out: &mut Out, indent: usize, flow: &[Step], path: &str, f: &mut Flow, c: &mut Collector) {
    for (i, step) in flow.iter().enumerate() {
        let sp = format!("{path}[{i}]");
        // A step is one action; `loop` comes with `count`/`over` beside it.
        let known = |k: &str| METHODS.contains(&k) || ACTIONS.contains(&k);
        let Some((action, v)) = step
            .value
            .iter()
            .find(|(k, _)| known(k))
            .or_else(|| step.value.iter().next())
        else {
            c.at(&step.referenced, &sp, "an empty step");
            continue;
        };
        let at = v.referenced;
        match action.as_str() {
            m if METHODS.contains(&m) => request(out, indent, m, v, &sp, f, c),
            "think" => match think(&v.value) {
                Some(t) => out.line(indent, &format!("- think: {t}"), at),
                None => c.at(&at, &format!("{sp}.think"), "must be seconds (a number) or a duration"),
            },
            "log" => out.line(indent, &format!("# log: {}", v.value.to_string().replace('\n', " ")), at),
            "function" => {
                let names = function_names(Some(&v.value), at, &format!("{sp}.function"), c);
                function_steps(out, indent, &names, at);
            }
            "loop" => repeat(out, indent, step, v, &sp, f, c),
            "parallel" => match located_steps(&v.value, at) {
                Some(inner) => {
                    out.line(indent, "- parallel:", at);
                    steps(out, indent + 4, &inner, &format!("{sp}.parallel"), f, c);
                }
                None => c.at(&at, &format!("{sp}.parallel"), "must be a list of requests"),
            },
            other => c.at(&at, &format!("{sp}.{other}"), format!("{other:?} is not a flow action loadpacer knows; use get, post, put, patch, delete, head, options, think or log")),
        }
    }
}

/// `loop` with `count` or `over` (a list, or a variable holding one) → `repeat`, its item in
/// `loopElement` (`{{ $loopElement }}`).
fn repeat(
    out: &mut Out,
    indent: usize,
    step: &Step,
    v: &S<Value>,
    sp: &str,
    f: &mut Flow,
    c: &mut Collector,
) {
    let at = v.referenced;
    let Value::Array(items) = &v.value else {
        c.at(&at, &format!("{sp}.loop"), "must be a list of flow steps");
        return;
    };
    let times = match (step.value.get("count"), step.value.get("over")) {
        (Some(n), None) => match n.value.as_u64() {
            Some(n) => format!("count: {n}"),
            None => {
                c.at(
                    &n.referenced,
                    &format!("{sp}.count"),
                    "must be a whole number",
                );
                return;
            }
        },
        (None, Some(o)) => match &o.value {
            Value::Array(list) => format!("over: {}", Value::Array(list.clone())),
            Value::String(name) => {
                let name = name
                    .trim()
                    .trim_start_matches("{{")
                    .trim_end_matches("}}")
                    .trim();
                format!("over: {}", quote(name))
            }
            _ => {
                c.at(
                    &o.referenced,
                    &format!("{sp}.over"),
                    "must be a list or a variable name",
                );
                return;
            }
        },
        _ => {
            c.at(&at, &format!("{sp}.loop"), "give `count` or `over`: a loop without either never ends, which a scheduled run must not do");
            return;
        }
    };
    out.line(indent, "- repeat:", at);
    out.line(indent + 4, &times, at);
    out.line(indent + 4, "as: loopElement", at);
    out.line(indent + 4, "index_as: loopCount", at);
    out.line(indent + 4, "steps:", at);
    let nested: Vec<Step> = items
        .iter()
        .filter_map(Value::as_object)
        .map(|o| S {
            value: o
                .iter()
                .map(|(k, x)| {
                    (
                        k.clone(),
                        S {
                            value: x.clone(),
                            referenced: at,
                            defined: at,
                        },
                    )
                })
                .collect(),
            referenced: at,
            defined: at,
        })
        .collect();
    steps(out, indent + 6, &nested, &format!("{sp}.loop"), f, c);
}

fn request(
    out: &mut Out,
    indent: usize,
    method: &str,
    v: &S<Value>,
    path: &str,
    f: &mut Flow,
    c: &mut Collector,
) {
    let at = v.referenced;
    let rp = format!("{path}.{method}");
    let Value::Object(r) = &v.value else {
        c.at(&at, &rp, "must be a map with at least `url`");
        return;
    };
    refuse_unknown_fields(r, at, &rp, c);
    let Some(url) = r.get("url").and_then(Value::as_str) else {
        c.at(&at, &format!("{rp}.url"), "is required");
        return;
    };
    let url = template(url, at, c);
    let name = request_name(r, method, &url, f);
    let mut fields = vec![
        format!("name: {}", quote(&name)),
        format!("method: {}", method.to_uppercase()),
        format!("url: {}", quote(&url)),
    ];
    fields.extend(body_fields(r, at, &rp, c));
    fields.extend(hook_fields(r, f, at, &rp, c));
    out.line(
        indent,
        &format!("- request: {{ {} }}", fields.join(", ")),
        at,
    );
    match if_true(r.get("ifTrue")) {
        Some(IfTrue::If(cond)) => out.line(indent + 2, &format!("if: {}", quote(&cond)), at),
        Some(IfTrue::Always) => out.line(
            indent + 2,
            "# ifTrue with single quotes: runs every time, as in Artillery",
            at,
        ),
        _ => {}
    }
    let (mut pairs, required) = r
        .get("capture")
        .map(|cap| captures(cap, f.strict_captures, at, &rp, c))
        .unwrap_or_default();
    let mut k = Checks::default();
    match (r.get("expect"), f.expect) {
        (Some(e), true) => k.expectations(e, at, &rp, c),
        (Some(_), false) => out.line(
            indent + 2,
            "# expect: ignored, as in Artillery without the expect plugin",
            at,
        ),
        (None, _) => {}
    }
    if let Some(m) = r.get("match") {
        k.matches(m, &mut pairs, at, &format!("{rp}.match"), c);
    }
    if !pairs.is_empty() {
        out.line(
            indent + 2,
            &format!("capture: {{ {} }}", pairs.join(", ")),
            at,
        );
    }
    if !required.is_empty() {
        out.line(
            indent + 2,
            &format!(
                "require: [{}]  # strict captures: finding nothing ends the iteration",
                required.join(", ")
            ),
            at,
        );
    }
    k.write(out, indent + 2, at);
}

/// Fields of a request that loadpacer does not read, each a located error (or, for an
/// `ifTrue` it translates, nothing).
fn refuse_unknown_fields(
    r: &serde_json::Map<String, Value>,
    at: Location,
    rp: &str,
    c: &mut Collector,
) {
    for (k, _) in r
        .iter()
        .filter(|(k, _)| !REQUEST_FIELDS.contains(&k.as_str()))
    {
        let why = match k.as_str() {
            "ifTrue" => match if_true(r.get("ifTrue")) {
                Some(IfTrue::If(_)) => continue,
                Some(IfTrue::Always) => {
                    c.warn_at(&at, &format!("{rp}.ifTrue"), "has single quotes: Artillery runs this step every time, whatever the values ('bob' is not a string in its expressions), and so does the translation; write \"bob\" in double quotes to compare");
                    continue;
                }
                _ => "is not translated: loadpacer's `if:` takes NAME == \"TEXT\", NAME != NUMBER or NAME".to_string(),
            },
            other => format!("{other:?} is not a request field loadpacer reads"),
        };
        c.at(&at, &format!("{rp}.{k}"), format!("`{k}` {why}"));
    }
}

/// `before_request` and `after_response`: the scenario's functions, then the request's.
fn hook_fields(
    r: &serde_json::Map<String, Value>,
    f: &Flow,
    at: Location,
    rp: &str,
    c: &mut Collector,
) -> Vec<String> {
    let mut fields = Vec::new();
    for (field, from, scenario) in [
        ("before_request", "beforeRequest", &f.before_request),
        ("after_response", "afterResponse", &f.after_response),
    ] {
        let mut names = scenario.clone();
        names.extend(function_names(r.get(from), at, &format!("{rp}.{from}"), c));
        if !names.is_empty() {
            let quoted: Vec<String> = names.iter().map(|n| quote(n)).collect();
            fields.push(format!("{field}: [{}]", quoted.join(", ")));
        }
    }
    fields
}

/// The request's name: the script's, as written; else its method and path, numbered when
/// repeated in the flow.
fn request_name(
    r: &serde_json::Map<String, Value>,
    method: &str,
    url: &str,
    f: &mut Flow,
) -> String {
    // A name the script gives is kept as written (it is a label value, shown everywhere);
    // without one the request is named after its method and path.
    let base_name = r.get("name").and_then(Value::as_str).map_or_else(
        || {
            label(&format!(
                "{method} {}",
                url.split('?').next().unwrap_or_default()
            ))
        },
        str::to_string,
    );
    let n = f.names.entry(base_name.clone()).or_default();
    *n += 1;
    if *n == 1 {
        base_name
    } else {
        format!("{base_name}_{n}")
    }
}

/// The request's headers, query and body fields, in loadpacer's words.
fn body_fields(
    r: &serde_json::Map<String, Value>,
    at: Location,
    rp: &str,
    c: &mut Collector,
) -> Vec<String> {
    let mut fields = Vec::new();
    for (from, to) in [("headers", "headers"), ("qs", "query"), ("form", "form")] {
        if let Some(Value::Object(m)) = r.get(from) {
            let pairs: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", quote(k), quote(&template(&scalar(v), at, c))))
                .collect();
            fields.push(format!("{to}: {{ {} }}", pairs.join(", ")));
        }
    }
    if let Some(f) = r.get("formData") {
        fields.extend(form_data(f, at, &format!("{rp}.formData"), c));
    }
    if let Some(j) = r.get("json") {
        fields.push(format!("json: {}", json_template(j, at, c)));
    }
    if let Some(b) = r.get("body") {
        fields.push(format!("body: {}", quote(&template(&scalar(b), at, c))));
    }
    fields
}

/// A request name as a metric label: `POST /auth/login` → `post_auth_login`, template
/// braces dropped, at most 64 characters.
fn label(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out: String = out.trim_end_matches('_').chars().take(64).collect();
    match out.chars().next() {
        None => "request".into(),
        Some(first) if first.is_ascii_digit() => format!("r_{out}"),
        Some(_) => out,
    }
}

/// A JSON value with its strings' templates translated, as YAML flow.
fn json_template(v: &Value, at: Location, c: &mut Collector) -> String {
    fn walk(v: &Value, at: Location, c: &mut Collector) -> Value {
        match v {
            Value::String(s) => Value::String(template(s, at, c)),
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, at, c)).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), walk(x, at, c))).collect())
            }
            other => other.clone(),
        }
    }
    walk(v, at, c).to_string()
}

/// What an `ifTrue` expression means, as Artillery 2 evaluates it (measured with 2.0.21).
enum IfTrue {
    /// loadpacer's `if:` says the same: `a == "b"`, `a != 1`, `a`.
    If(String),
    /// The step runs every time: an expression with single quotes (`a == 'b'`) never skips
    /// its step in Artillery, whatever the values (`'b'` is not a string in its expressions).
    Always,
    /// Nothing loadpacer can say (`or`, two variables compared, …).
    Untranslated,
}

fn if_true(v: Option<&Value>) -> Option<IfTrue> {
    let text = v?.as_str()?.trim();
    if text.contains('\'') {
        return Some(IfTrue::Always);
    }
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
            && !s.starts_with(|ch: char| ch.is_ascii_digit())
    };
    for (op, to) in [("===", "=="), ("!==", "!="), ("==", "=="), ("!=", "!=")] {
        if let Some((a, b)) = text.split_once(op) {
            let a = a.trim();
            let b = b.trim();
            // A string in double quotes or a number; a bare name is another variable.
            let value = b
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .filter(|x| !x.contains('"'))
                .or_else(|| b.parse::<f64>().is_ok().then_some(b));
            return Some(match value {
                Some(v) if ident(a) && !v.is_empty() => IfTrue::If(format!("{a} {to} {v}")),
                _ => IfTrue::Untranslated,
            });
        }
    }
    Some(if ident(text) {
        IfTrue::If(text.to_string())
    } else {
        IfTrue::Untranslated
    })
}

pub(super) fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A request's captures as `"var": "source"` pairs.
/// The captures as `name: source` pairs, and the names of the strict ones (Artillery's
/// default: a capture that finds nothing ends the virtual user's scenario).
fn captures(
    v: &Value,
    strict: bool,
    at: Location,
    rp: &str,
    c: &mut Collector,
) -> (Vec<String>, Vec<String>) {
    let list: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    let mut pairs = Vec::new();
    let mut required = Vec::new();
    for cap in list {
        let Some(var) = cap.get("as").and_then(Value::as_str) else {
            c.at(
                &at,
                &format!("{rp}.capture"),
                "each capture needs `as` (the variable name)",
            );
            continue;
        };
        let source = if let Some(j) = cap.get("json").and_then(Value::as_str) {
            j.to_string()
        } else if let Some(h) = cap.get("header").and_then(Value::as_str) {
            format!("header:{h}")
        } else if let Some(r) = cap.get("regexp").and_then(Value::as_str) {
            format!("regex:{r}")
        } else {
            c.at(&at, &format!("{rp}.capture"), format!("capture {var:?}: use `json`, `header` or `regexp` (xpath and selector are not translated)"));
            continue;
        };
        if cap.get("transform").is_some() {
            c.warn_at(&at, &format!("{rp}.capture"), format!("capture {var:?}: `transform` is ignored, as Artillery 2 ignores it; compute the value in a processor function (`afterResponse`) instead"));
        }
        if cap.get("strict").and_then(Value::as_bool).unwrap_or(strict) {
            required.push(quote(var));
        }
        pairs.push(format!("{}: {}", quote(var), quote(&source)));
    }
    (pairs, required)
}

/// The fields of the one `check` Artillery's expectations of a request become.
#[derive(Default)]
struct Checks {
    fields: Vec<String>,
    headers: Vec<String>,
    header_equals: Vec<String>,
    header_exists: Vec<String>,
    json: Vec<String>,
}

impl Checks {
    /// The expect plugin's expectations of a request (one, or a list).
    fn expectations(&mut self, v: &Value, at: Location, rp: &str, c: &mut Collector) {
        let list: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        for e in list.iter().filter_map(|e| e.as_object()) {
            for (name, x) in e {
                self.expectation(name, x, at, &format!("{rp}.expect.{name}"), c);
            }
        }
    }

    /// Artillery's `match` (`{ json, value }`, one or a list): a JSON value the response must
    /// hold. A fixed value is a JSON check; a template is captured and compared (`equals`).
    fn matches(
        &mut self,
        v: &Value,
        captures: &mut Vec<String>,
        at: Location,
        path: &str,
        c: &mut Collector,
    ) {
        let list: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        for m in list {
            let (Some(json), Some(value)) = (m.get("json").and_then(Value::as_str), m.get("value"))
            else {
                c.at(&at, path, "must be { json: PATH, value: VALUE } (regexp and header matches are not translated; use expect)");
                continue;
            };
            match value.as_str().filter(|t| t.contains("{{")) {
                None => self.json.push(format!("{}: {value}", quote(json))),
                Some(_) if self.fields.iter().any(|f| f.starts_with("equals:")) => c.at(
                    &at,
                    path,
                    "one templated `match` (or `equals`) per request is translated",
                ),
                Some(t) => {
                    let var = format!("match_{}", captures.len() + 1);
                    captures.push(format!("{}: {}", quote(&var), quote(json)));
                    let wanted = quote(&template(t, at, c));
                    self.fields
                        .push(format!("equals: [\"{{{{ {var} }}}}\", {wanted}]"));
                }
            }
        }
    }

    /// The one `check` line, when there is anything to check.
    fn write(self, out: &mut Out, indent: usize, at: Location) {
        let mut fields = self.fields;
        let map = |entries: &[String]| format!("{{ {} }}", entries.join(", "));
        if !self.headers.is_empty() {
            fields.push(format!("header: {}", map(&self.headers)));
        }
        if !self.header_equals.is_empty() {
            fields.push(format!("header_equals: {}", map(&self.header_equals)));
        }
        if !self.header_exists.is_empty() {
            fields.push(format!(
                "header_exists: [{}]",
                self.header_exists.join(", ")
            ));
        }
        if !self.json.is_empty() {
            fields.push(format!("json: {}", map(&self.json)));
        }
        if !fields.is_empty() {
            out.line(indent, &format!("check: {{ {} }}", fields.join(", ")), at);
        }
    }

    /// One expectation of the expect plugin, in loadpacer's words.
    fn expectation(&mut self, name: &str, x: &Value, at: Location, path: &str, c: &mut Collector) {
        let once = |fields: &[String], key: &str| fields.iter().any(|f| f.starts_with(key));
        match name {
            "statusCode" => self.fields.push(format!("status: {x}")),
            "notStatusCode" => self.fields.push(format!("status_not: {x}")),
            "contentType" => self.headers.push(format!("content-type: {}", quote(&scalar(x)))),
            "hasProperty" => self.json.push(format!("{}: exists", quote(&json_path(x)))),
            "notHasProperty" => self.json.push(format!("{}: absent", quote(&json_path(x)))),
            "hasHeader" => self.header_exists.push(quote(&scalar(x))),
            "headerEquals" => match x.as_array().map(Vec::as_slice) {
                Some([h, v]) => self.header_equals.push(format!("{}: {}", quote(&scalar(h)), quote(&scalar(v)))),
                _ => c.at(&at, path, "must be [header name, value]"),
            },
            "matchesRegexp" if once(&self.fields, "body_regex:") => c.at(&at, path, "one `matchesRegexp` per request is translated; combine the patterns into one"),
            "matchesRegexp" => self.fields.push(format!("body_regex: {}", quote(&scalar(x)))),
            "cdnHit" => {
                c.warn_at(&at, path, "approximated as the `x-cache` header containing HIT; for another CDN check its own header (e.g. `header: { cf-cache-status: HIT }`)");
                self.headers.push("x-cache: \"HIT\"".into());
            }
            "equals" if once(&self.fields, "equals:") => c.at(&at, path, "one `equals` per request is translated; compare the other values in a check of the next request"),
            "equals" => match x.as_array().filter(|a| a.len() >= 2) {
                Some(items) => {
                    let texts: Vec<String> = items.iter().map(|i| quote(&template(&scalar(i), at, c))).collect();
                    self.fields.push(format!("equals: [{}]", texts.join(", ")));
                }
                None => c.at(&at, path, "must list two or more values to compare"),
            },
            other => c.at(&at, path, format!("expectation {other:?} is not translated; use statusCode, notStatusCode, contentType, hasProperty, notHasProperty, hasHeader, headerEquals, matchesRegexp, cdnHit or equals")),
        }
    }
}

/// `formData` (a `multipart/form-data` body): text fields become `multipart` fields, a
/// `{ fromFile: PATH }` field an uploaded file (`files`, read when the plan is loaded).
fn form_data(v: &Value, at: Location, path: &str, c: &mut Collector) -> Vec<String> {
    let Value::Object(m) = v else {
        c.at(&at, path, "must be a map of form fields");
        return Vec::new();
    };
    let (mut texts, mut files) = (Vec::new(), Vec::new());
    for (k, x) in m {
        match x.get("fromFile").and_then(Value::as_str) {
            Some(file) => files.push(format!("{}: {}", quote(k), quote(file))),
            None if x.is_object() || x.is_array() => c.at(
                &at,
                &format!("{path}.{k}"),
                "must be text, a number or { fromFile: PATH }",
            ),
            None => texts.push(format!(
                "{}: {}",
                quote(k),
                quote(&template(&scalar(x), at, c))
            )),
        }
    }
    let mut fields = vec![format!("multipart: {{ {} }}", texts.join(", "))];
    if !files.is_empty() {
        fields.push(format!("files: {{ {} }}", files.join(", ")));
    }
    fields
}

/// A property as Artillery names it (`data.id`) as a JSONPath.
fn json_path(x: &Value) -> String {
    format!("$.{}", scalar(x))
}
