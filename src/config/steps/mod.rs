//! Scenarios and their steps: requests, think times, setup, and the variables each step may
//! read. Checks and captures are compiled in [`checks`], CSV data sources in [`data`].

mod checks;
mod data;
mod flow;
mod hooks;
mod record;
mod spec;
mod sse;
mod ws;

pub(super) use data::data_source;
pub use data::{DataOrder, DataSource};
pub use spec::*;

use super::error::Collector;
use super::raw::{RawRequest, RawScenario, RawStep, S};
use super::rules::{duration, require_name, Env};
use super::template::{Compiled, Template};
use http::HeaderName;
use http::Method;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// The scenario name the requests of each lifecycle stage are filed under (reserved).
pub const SETUP: &str = "setup";
pub const VU_SETUP: &str = "vu_setup";
pub const TEARDOWN: &str = "teardown";

/// Compiles the steps of one plan, building its request and check tables.
pub(super) struct StepCompiler<'a> {
    env: Env<'a>,
    found: Compiled,
    /// CSV columns and setup captures: what every scenario starts with.
    base: HashSet<String>,
    /// What the step being compiled can read: `base` plus the captures of the earlier steps
    /// of its own flow. A capture in another flow, or later in this one, does not count:
    /// which VU ran which flow first would decide whether the value exists.
    defined: HashSet<String>,
    /// Variables read where nothing defines them: (name, where, field path).
    undefined: Vec<(String, serde_saphyr::Location, String)>,
    pub requests: Vec<RequestKey>,
    pub checks: Vec<CheckKey>,
    pub streams: Vec<StreamKey>,
    /// Per request (by index) and per stream: its own grade bands; empty means the plan's.
    pub request_grades: Vec<Vec<crate::config::GradeBand>>,
    pub stream_grades: Vec<Vec<crate::config::GradeBand>>,
    pub secrets: Vec<String>,
    /// The plan's metric declarations, which `record` entries refer to.
    pub custom: Vec<crate::config::custom::CustomMetricSpec>,
    /// Where relative file paths (uploads) are resolved: the config file's folder.
    pub base_dir: Option<std::path::PathBuf>,
    /// The plan's processor: its file name and the functions it exports; `Err(true)` when
    /// it is given but did not load (reported there; names are not checked then).
    pub processor: Result<(String, Vec<String>), bool>,
    /// A processor function is called somewhere: it may set any variable.
    pub calls_processor: bool,
}

impl<'a> StepCompiler<'a> {
    pub fn new(env: Env<'a>, columns: Vec<String>) -> Self {
        Self {
            env,
            found: Compiled::default(),
            base: columns.into_iter().collect(),
            defined: HashSet::new(),
            undefined: Vec::new(),
            requests: Vec::new(),
            checks: Vec::new(),
            streams: Vec::new(),
            request_grades: Vec::new(),
            stream_grades: Vec::new(),
            secrets: Vec::new(),
            custom: Vec::new(),
            base_dir: None,
            processor: Err(false),
            calls_processor: false,
        }
    }

    /// Compiles a header map; names must be valid header names and values free of CR/LF.
    pub fn headers(
        c: &mut Collector,
        raw: &BTreeMap<String, S<String>>,
        path: &str,
        env: Env<'_>,
        found: &mut Compiled,
    ) -> Vec<(HeaderName, Template)> {
        let mut out = Vec::new();
        for (k, v) in raw {
            let hp = format!("{path}.{k}");
            let name = match HeaderName::from_bytes(k.as_bytes()) {
                Ok(n) => n,
                Err(_) => {
                    c.at(
                        &v.referenced,
                        &hp,
                        format!("{k:?} is not a valid header name"),
                    );
                    continue;
                }
            };
            if v.value.contains(['\r', '\n']) {
                c.at(&v.referenced, &hp, "header value must not contain CR or LF");
                continue;
            }
            // NUL, DEL and other control bytes make every request fail as `protocol`.
            if v.value.chars().any(|ch| ch.is_control() && ch != '\t') {
                c.at(
                    &v.referenced,
                    &hp,
                    "header value must not contain control characters (NUL, DEL, …); only tab is allowed",
                );
                continue;
            }
            let before = found.secrets.len();
            let compiled = Template::compile(&v.value, env, found);
            // An `env.NAME` value is part of the header as it is sent: checked here, at load,
            // by the same rule (its value is never shown).
            let bad_env = found.secrets[before..]
                .iter()
                .any(|s| s.chars().any(|ch| ch.is_control() && ch != '\t'));
            match compiled {
                Ok(_) if bad_env => c.at(
                    &v.referenced,
                    &hp,
                    "header value (after env substitution) must not contain CR, LF or other control characters; check the environment variable it reads",
                ),
                Ok(t) => out.push((name, t)),
                Err(e) => c.at(&v.referenced, &hp, e),
            }
        }
        out
    }

    fn template(&mut self, c: &mut Collector, s: &S<String>, path: &str) -> Option<Template> {
        let before = self.found.vars.len();
        let r = Template::compile(&s.value, self.env, &mut self.found);
        let read: Vec<String> = self.found.vars.drain(before..).collect();
        self.read(read, &s.referenced, path);
        match r {
            Ok(t) => Some(t),
            Err(e) => {
                c.at(&s.referenced, path, e);
                None
            }
        }
    }

    pub fn scenarios(
        &mut self,
        c: &mut Collector,
        raw: &[RawScenario],
        path: &str,
    ) -> Vec<ScenarioSpec> {
        if raw.is_empty() {
            c.nowhere(path, "must contain at least one scenario");
        }
        let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
        let mut out = Vec::new();
        for (i, s) in raw.iter().enumerate() {
            let sp = format!("{path}[{i}]");
            let name = s.name.value.as_str();
            if let Some(first) = seen.insert(name, s.name.referenced.line()) {
                c.at(
                    &s.name.referenced,
                    &format!("{sp}.name"),
                    format!("duplicate scenario name {name:?} (first defined on line {first})"),
                );
            }
            require_name(c, &s.name, &format!("{sp}.name"));
            if [SETUP, VU_SETUP, TEARDOWN].contains(&name) {
                c.at(
                    &s.name.referenced,
                    &format!("{sp}.name"),
                    format!("{name:?} is reserved for the plan's own {name} steps; choose another scenario name"),
                );
            }
            let weight = s.weight.as_ref().map(|w| w.value).unwrap_or(1);
            if weight == 0 {
                c.at(
                    &s.weight.as_ref().unwrap().referenced,
                    &format!("{sp}.weight"),
                    "0 must be greater than zero",
                );
            }
            if s.steps.is_empty() {
                c.at(
                    &s.name.referenced,
                    &format!("{sp}.steps"),
                    "must contain at least one step",
                );
            }
            self.defined = self.base.clone();
            let steps = self.steps(c, name, &s.steps, &format!("{sp}.steps"));
            out.push(ScenarioSpec {
                name: name.to_string(),
                weight: weight.max(1),
                steps,
                script: None,
            });
        }
        out
    }

    fn steps(
        &mut self,
        c: &mut Collector,
        scenario: &str,
        raw: &[S<RawStep>],
        path: &str,
    ) -> Vec<StepSpec> {
        self.steps_named(c, scenario, raw, path, &mut BTreeMap::new())
    }

    /// Compiles steps whose names share `names` with the rest of their scenario (a
    /// `repeat`'s steps are in the same scenario).
    fn steps_named(
        &mut self,
        c: &mut Collector,
        scenario: &str,
        raw: &[S<RawStep>],
        path: &str,
        names: &mut BTreeMap<String, u64>,
    ) -> Vec<StepSpec> {
        let mut out = Vec::new();
        for (i, spanned) in raw.iter().enumerate() {
            let sp = format!("{path}[{i}]");
            if let Some(step) = self.step(c, scenario, spanned, &sp, names) {
                out.push(self.guard(c, &spanned.value, step, &sp));
            }
        }
        out
    }

    /// One step of any kind, without its guard.
    fn step(
        &mut self,
        c: &mut Collector,
        scenario: &str,
        spanned: &S<RawStep>,
        sp: &str,
        names: &mut BTreeMap<String, u64>,
    ) -> Option<StepSpec> {
        let (st, at) = (&spanned.value, &spanned.referenced);
        let sp = sp.to_string();
        if !st.record.is_empty() && st.request.is_none() {
            c.at(
                at,
                &format!("{sp}.record"),
                "only a request step records metrics (from its response)",
            );
        }
        if !st.parallel.is_empty() {
            if st.request.is_some()
                || st.function.is_some()
                || st.think.is_some()
                || st.ws.is_some()
                || st.sse.is_some()
                || st.repeat.is_some()
            {
                c.at(at, &sp, "a step has exactly one of `request`, `think`, `ws`, `sse`, `repeat` or `parallel`");
                return None;
            }
            return self.parallel(c, scenario, &st.parallel, &sp, names);
        }
        if let Some(f) = &st.function {
            return self.function_step(c, st, f, at, &sp);
        }
        if let Some(r) = &st.repeat {
            if st.request.is_some() || st.think.is_some() || st.ws.is_some() || st.sse.is_some() {
                c.at(
                    at,
                    &sp,
                    "a step has exactly one of `request`, `think`, `ws`, `sse` or `repeat`",
                );
                return None;
            }
            return self.repeat(c, scenario, r, at, &sp, names);
        }
        let mut out = None;
        match (&st.request, &st.think, &st.ws) {
            (None, None, None) if st.sse.is_some() => {
                let e = st.sse.as_ref().expect("checked");
                unique_name(c, names, &e.name, &format!("{sp}.sse.name"), "step");
                if let Some(sse) = self.sse(c, scenario, e, st, &sp) {
                    out = Some(StepSpec::Sse(Box::new(sse)));
                }
            }
            _ if st.sse.is_some() => c.at(
                at,
                &sp,
                "a step has exactly one of `request`, `think`, `ws` or `sse`",
            ),
            (None, None, Some(w)) => {
                unique_name(c, names, &w.name, &format!("{sp}.ws.name"), "step");
                if let Some(ws) = self.ws(c, scenario, w, st, &sp) {
                    out = Some(StepSpec::Ws(Box::new(ws)));
                }
            }
            (Some(r), None, None) => {
                unique_name(c, names, &r.name, &format!("{sp}.request.name"), "request");
                if let Some(req) = self.request(c, scenario, r, st, &sp) {
                    out = Some(StepSpec::Request(Box::new(req)));
                }
            }
            (None, Some(t), None) => out = think_step(c, st, t, &sp),
            _ => c.at(
                at,
                &sp,
                "a step has exactly one of `request`, `think`, `ws` or `sse`",
            ),
        }
        out
    }

    /// A request's body: JSON, a form, raw text, or multipart (fields and files); at most
    /// one of them.
    fn body(&mut self, c: &mut Collector, r: &RawRequest, rp: &str) -> BodySpec {
        let bodies = [r.json.is_some(), r.form.is_some(), r.body.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if bodies > 1 {
            c.at(
                &r.name.referenced,
                rp,
                "set at most one of `json`, `form` or `body`",
            );
        }
        if !r.files.is_empty() && (r.json.is_some() || r.body.is_some()) {
            c.at(
                &r.name.referenced,
                &format!("{rp}.files"),
                "files go with `form` fields (multipart), not with `json` or `body`",
            );
        }
        if r.multipart.is_some() && (r.json.is_some() || r.body.is_some() || r.form.is_some()) {
            c.at(
                &r.name.referenced,
                &format!("{rp}.multipart"),
                "`multipart` fields go alone (with `files` beside them), not with `json`, `form` or `body`",
            );
        }
        if !r.files.is_empty() || r.multipart.is_some() {
            let (given, field) = match &r.multipart {
                Some(m) => (Some(m), "multipart"),
                None => (r.form.as_ref(), "form"),
            };
            let fields = given
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| {
                    Some((
                        k.clone(),
                        self.template(c, v, &format!("{rp}.{field}.{k}"))?,
                    ))
                })
                .collect();
            let files = r
                .files
                .iter()
                .filter_map(|(field, path)| {
                    self.file_part(c, field, path, &format!("{rp}.files.{field}"))
                })
                .collect();
            BodySpec::Multipart { fields, files }
        } else if let Some(j) = &r.json {
            BodySpec::Json(self.json_template(c, j, &format!("{rp}.json"), &r.name.referenced))
        } else if let Some(f) = &r.form {
            BodySpec::Form(
                f.iter()
                    .filter_map(|(k, v)| {
                        Some((k.clone(), self.template(c, v, &format!("{rp}.form.{k}"))?))
                    })
                    .collect(),
            )
        } else if let Some(b) = &r.body {
            self.template(c, b, &format!("{rp}.body"))
                .map(BodySpec::Raw)
                .unwrap_or(BodySpec::None)
        } else {
            BodySpec::None
        }
    }

    fn request(
        &mut self,
        c: &mut Collector,
        scenario: &str,
        r: &RawRequest,
        st: &RawStep,
        sp: &str,
    ) -> Option<RequestSpec> {
        let rp = format!("{sp}.request");
        require_name(c, &r.name, &format!("{rp}.name"));
        let method = method(c, r, &rp);
        if r.url.value.contains("://") {
            c.at(&r.url.referenced, &format!("{rp}.url"), format!("{:?} must be a path relative to the target's base_url (ad-hoc hosts are not allowed)", r.url.value));
        }
        let url = self.template(c, &r.url, &format!("{rp}.url"));
        let mut found = Compiled::default();
        let headers = Self::headers(
            c,
            &r.headers,
            &format!("{rp}.headers"),
            self.env,
            &mut found,
        );
        self.absorb(found, &r.name.referenced, &format!("{rp}.headers"));
        let query = r
            .query
            .iter()
            .filter_map(|(k, v)| {
                Some((k.clone(), self.template(c, v, &format!("{rp}.query.{k}"))?))
            })
            .collect();
        let body = self.body(c, r, &rp);
        let timeout = r
            .timeout
            .as_ref()
            .and_then(|t| duration(c, t, &format!("{rp}.timeout"), Duration::from_millis(1)));
        let index = self.requests.len();
        self.requests.push(RequestKey {
            scenario: scenario.to_string(),
            name: r.name.value.clone(),
            method: method.to_string(),
        });
        self.request_grades.push(crate::config::grades::grade_bands(
            c,
            r.grades.as_ref(),
            &format!("{rp}.grades"),
        ));
        // Captures first: an `equals` check reads what this request captured.
        let captures = st
            .capture
            .iter()
            .filter_map(|(var, src)| self.capture(c, var, src, &format!("{sp}.capture.{var}")))
            .collect();
        let captures = hooks::required_captures(c, captures, &st.require, &format!("{sp}.require"));
        let checks = st
            .check
            .as_ref()
            .map(|ch| self.checks(c, scenario, &r.name.value, ch, &format!("{sp}.check")))
            .unwrap_or_default();
        let records = self.records(c, &st.record, &format!("{sp}.record"));
        let hooks = self.hooks(c, r, &rp);
        Some(RequestSpec {
            index,
            name: r.name.value.clone(),
            method,
            url: url?,
            headers,
            query,
            body,
            timeout,
            checks,
            captures,
            records,
            hooks,
        })
    }

    fn absorb(&mut self, found: Compiled, loc: &serde_saphyr::Location, path: &str) {
        self.secrets.extend(found.secrets);
        self.read(found.vars, loc, path);
    }

    /// Notes the variables a field reads that nothing before it defines.
    fn read(&mut self, vars: Vec<String>, loc: &serde_saphyr::Location, path: &str) {
        for v in vars {
            if !self.defined.contains(&v) {
                self.undefined.push((v, *loc, path.to_string()));
            }
        }
    }

    /// Compiles the setup steps: they run once, before any VU, with no CSV row; what they
    /// capture is every scenario's starting point.
    pub fn setup(&mut self, c: &mut Collector, raw: &[S<RawStep>], path: &str) -> Vec<StepSpec> {
        self.defined = HashSet::new();
        let steps = self.steps(c, SETUP, raw, path);
        self.base.extend(std::mem::take(&mut self.defined));
        steps
    }

    /// Compiles the per-VU setup steps: they start from the setup captures and CSV columns,
    /// and what they capture is every scenario's starting point too (the VU keeps it).
    pub fn vu_setup(&mut self, c: &mut Collector, raw: &[S<RawStep>], path: &str) -> Vec<StepSpec> {
        self.defined = self.base.clone();
        let steps = self.steps(c, VU_SETUP, raw, path);
        self.base.extend(std::mem::take(&mut self.defined));
        steps
    }

    /// Compiles the teardown steps, after every scenario: they read the setup captures only
    /// (no VU ran them, so no per-VU capture exists), and their requests come last in the
    /// request table.
    pub fn teardown(
        &mut self,
        c: &mut Collector,
        raw: &[S<RawStep>],
        setup_captures: HashSet<String>,
        path: &str,
    ) -> Vec<StepSpec> {
        self.defined = setup_captures;
        self.steps(c, TEARDOWN, raw, path)
    }

    /// What the setup steps defined so far (for [`StepCompiler::teardown`]).
    pub fn base(&self) -> HashSet<String> {
        self.base.clone()
    }

    fn json_template(
        &mut self,
        c: &mut Collector,
        v: &serde_json::Value,
        path: &str,
        loc: &serde_saphyr::Location,
    ) -> JsonTemplate {
        match v {
            serde_json::Value::String(s) if s.contains("{{") => {
                let spanned = S {
                    value: s.clone(),
                    referenced: *loc,
                    defined: *loc,
                };
                self.template(c, &spanned, path)
                    .map(JsonTemplate::Str)
                    .unwrap_or(JsonTemplate::Value(v.clone()))
            }
            serde_json::Value::Array(a) => JsonTemplate::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, x)| self.json_template(c, x, &format!("{path}[{i}]"), loc))
                    .collect(),
            ),
            serde_json::Value::Object(o) => JsonTemplate::Object(
                o.iter()
                    .map(|(k, x)| {
                        (
                            k.clone(),
                            self.json_template(c, x, &format!("{path}.{k}"), loc),
                        )
                    })
                    .collect(),
            ),
            other => JsonTemplate::Value(other.clone()),
        }
    }

    /// Reports every variable read where nothing defines it.
    /// Reports every variable read where nothing defines it: an error, or with
    /// `undefined_empty` (Artillery's meaning) a warning, and it renders empty.
    pub fn check_vars(&mut self, c: &mut Collector, undefined_empty: bool) {
        self.secrets.append(&mut self.found.secrets);
        if self.calls_processor {
            // A processor function may set any variable (`context.vars.token = …`).
            return;
        }
        for (v, loc, path) in &self.undefined {
            if undefined_empty {
                c.warn_at(
                    loc,
                    path,
                    format!("variable {v:?} is not defined here; it renders empty"),
                );
            } else {
                c.at(loc, path, format!("variable {v:?} is not defined here: it must be a CSV column, a setup capture, or captured by an earlier step of the same flow (built-ins: vu, iteration, random_int, random_string, uuid(), iso_timestamp(), env.NAME)"));
            }
        }
    }
}

fn think(c: &mut Collector, t: &S<String>, path: &str) -> Option<(Duration, Duration)> {
    let (a, b) = t.value.split_once("..").unwrap_or((&t.value, &t.value));
    let part = |s: &str| S {
        value: s.trim().to_string(),
        referenced: t.referenced,
        defined: t.defined,
    };
    let min = duration(c, &part(a), path, Duration::from_millis(1))?;
    let max = duration(c, &part(b), path, Duration::from_millis(1))?;
    if min > max {
        c.at(
            &t.referenced,
            path,
            format!("{:?}: the lower bound is above the upper bound", t.value),
        );
        return None;
    }
    Some((min, max))
}

/// A step or request name once per scenario: a second one is a located error naming the first.
fn unique_name(
    c: &mut Collector,
    names: &mut BTreeMap<String, u64>,
    name: &S<String>,
    path: &str,
    what: &str,
) {
    if let Some(first) = names.insert(name.value.clone(), name.referenced.line()) {
        c.at(
            &name.referenced,
            path,
            format!(
                "duplicate {what} name {:?} in this scenario (first on line {first})",
                name.value
            ),
        );
    }
}

/// A request's method (GET when not given).
fn method(c: &mut Collector, r: &RawRequest, rp: &str) -> Method {
    let Some(m) = &r.method else {
        return Method::GET;
    };
    Method::from_bytes(m.value.to_ascii_uppercase().as_bytes()).unwrap_or_else(|_| {
        c.at(
            &m.referenced,
            &format!("{rp}.method"),
            format!("{:?} is not an HTTP method", m.value),
        );
        Method::GET
    })
}

/// A think step: a pause, fixed or drawn from a range; it checks and captures nothing.
fn think_step(c: &mut Collector, st: &RawStep, t: &S<String>, sp: &str) -> Option<StepSpec> {
    if st.check.is_some() || !st.capture.is_empty() {
        c.at(
            &t.referenced,
            sp,
            "check and capture belong to a request step, not a think step",
        );
    }
    let (min, max) = think(c, t, &format!("{sp}.think"))?;
    Some(StepSpec::Think { min, max })
}
