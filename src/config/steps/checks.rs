//! A request's checks and captures.

use super::StepCompiler;
use crate::config::error::Collector;
use crate::config::raw::{RawCheck, RawStatus, S};
use crate::config::rules::duration;
use crate::config::{CaptureSource, CaptureSpec, CheckKey, CheckKind, CheckSpec};
use http::HeaderName;
use serde_json_path::JsonPath;
use std::collections::BTreeMap;
use std::time::Duration;

impl StepCompiler<'_> {
    pub(super) fn checks(
        &mut self,
        c: &mut Collector,
        scenario: &str,
        request: &str,
        ch: &RawCheck,
        path: &str,
    ) -> Vec<CheckSpec> {
        let mut kinds = status_and_header_kinds(c, ch, path);
        if let Some(b) = &ch.body_contains {
            kinds.push((
                format!("body contains {:?}", b.value),
                CheckKind::BodyContains(b.value.clone()),
            ));
        }
        if let Some(r) = &ch.body_regex {
            kinds.extend(self.regex_kind(c, r, &format!("{path}.body_regex"), "body"));
        }
        kinds.extend(self.json_kinds(c, &ch.json, &format!("{path}.json")));
        if let Some(l) = &ch.latency_below {
            if let Some(d) = duration(
                c,
                l,
                &format!("{path}.latency_below"),
                Duration::from_micros(1),
            ) {
                kinds.push((
                    format!("latency below {}", l.value),
                    CheckKind::LatencyBelow(d),
                ));
            }
        }
        if let Some(e) = &ch.equals {
            kinds.extend(self.equals_kind(c, e, path));
        }
        self.register_checks(scenario, request, kinds)
    }

    /// `equals`: two or more templates that must render the same.
    fn equals_kind(
        &mut self,
        c: &mut Collector,
        e: &[S<String>],
        path: &str,
    ) -> Option<(String, CheckKind)> {
        let templates: Option<Vec<_>> = e
            .iter()
            .enumerate()
            .map(|(i, t)| self.template(c, t, &format!("{path}.equals[{i}]")))
            .collect();
        match templates {
            Some(t) if t.len() >= 2 => {
                let texts: Vec<&str> = e.iter().map(|t| t.value.as_str()).collect();
                return Some((
                    format!("equals {}", texts.join(" == ")),
                    CheckKind::Equals(t),
                ));
            }
            Some(_) => c.nowhere(
                &format!("{path}.equals"),
                "must list two or more templates to compare, e.g. [\"{{ status }}\", shipped]",
            ),
            None => {}
        }
        None
    }

    /// Adds checks to the plan's check table (under `scenario` and the step's name).
    pub(super) fn register_checks(
        &mut self,
        scenario: &str,
        step: &str,
        kinds: Vec<(String, CheckKind)>,
    ) -> Vec<CheckSpec> {
        kinds
            .into_iter()
            .map(|(name, kind)| {
                let index = self.checks.len();
                self.checks.push(CheckKey {
                    scenario: scenario.to_string(),
                    request: step.to_string(),
                    name,
                });
                CheckSpec { index, kind }
            })
            .collect()
    }

    /// `json:` checks: a JSONPath to `exists` or to the value it must equal.
    pub(super) fn json_kinds(
        &mut self,
        c: &mut Collector,
        json: &BTreeMap<String, S<serde_json::Value>>,
        path: &str,
    ) -> Vec<(String, CheckKind)> {
        let mut kinds = Vec::new();
        for (p, v) in json {
            let jp = format!("{path}.{p}");
            let Ok(compiled) = JsonPath::parse(p) else {
                c.at(
                    &v.referenced,
                    &jp,
                    format!("{p:?} is not a valid JSONPath (RFC 9535), e.g. $.items[0].id"),
                );
                continue;
            };
            match &v.value {
                serde_json::Value::String(s) if s == "exists" => {
                    kinds.push((format!("{p} exists"), CheckKind::JsonExists(compiled)))
                }
                serde_json::Value::String(s) if s == "absent" => {
                    kinds.push((format!("{p} absent"), CheckKind::JsonAbsent(compiled)))
                }
                other => kinds.push((
                    format!("{p} == {other}"),
                    CheckKind::JsonEquals(compiled, other.clone()),
                )),
            }
        }
        kinds
    }

    /// A regex check on a body or message (`what`).
    pub(super) fn regex_kind(
        &mut self,
        c: &mut Collector,
        r: &S<String>,
        path: &str,
        what: &str,
    ) -> Option<(String, CheckKind)> {
        match regex::Regex::new(&r.value) {
            Ok(re) => Some((
                format!("{what} matches /{}/", r.value),
                CheckKind::BodyRegex(re),
            )),
            Err(e) => {
                c.at(
                    &r.referenced,
                    path,
                    format!("{:?} is not a valid regex: {}", r.value, regex_reason(&e)),
                );
                None
            }
        }
    }

    pub(super) fn capture(
        &mut self,
        c: &mut Collector,
        var: &str,
        src: &S<String>,
        path: &str,
    ) -> Option<CaptureSpec> {
        self.defined.insert(var.to_string());
        let v = src.value.trim();
        let source = if v.starts_with('$') {
            JsonPath::parse(v)
                .map(CaptureSource::Json)
                .map_err(|_| format!("{v:?} is not a valid JSONPath (RFC 9535)"))
        } else if let Some(h) = v.strip_prefix("header:") {
            HeaderName::from_bytes(h.trim().as_bytes())
                .map(CaptureSource::Header)
                .map_err(|_| format!("{h:?} is not a valid header name"))
        } else if let Some(r) = v.strip_prefix("regex:") {
            regex::Regex::new(r.trim())
                .map(CaptureSource::Regex)
                .map_err(|e| format!("{r:?} is not a valid regex: {}", regex_reason(&e)))
        } else {
            Err(format!(
                "{v:?} must be a JSONPath ($.token), header:NAME or regex:PATTERN"
            ))
        };
        match source {
            Ok(source) => Some(CaptureSpec {
                var: var.to_string(),
                source,
                required: false,
            }),
            Err(e) => {
                c.at(&src.referenced, path, e);
                None
            }
        }
    }
}

/// A regex error in one line (the crate's own text spans several).
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .last()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string()
}

/// The codes of a `status` or `status_not` check, each a status between 100 and 599.
fn status_codes(c: &mut Collector, s: &S<RawStatus>, path: &str) -> Option<Vec<u16>> {
    let codes = match &s.value {
        RawStatus::One(c) => vec![*c],
        RawStatus::Many(v) => v.clone(),
    };
    if codes.is_empty() || codes.iter().any(|c| !(100..=599).contains(c)) {
        c.at(
            &s.referenced,
            path,
            format!("{codes:?} must be HTTP status codes between 100 and 599"),
        );
        return None;
    }
    Some(codes)
}

fn header_name(
    c: &mut Collector,
    name: &str,
    at: &serde_saphyr::Location,
    path: &str,
) -> Option<HeaderName> {
    let n = HeaderName::from_bytes(name.as_bytes()).ok();
    if n.is_none() {
        c.at(at, path, format!("{name:?} is not a valid header name"));
    }
    n
}

/// The checks on the status and the headers.
fn status_and_header_kinds(
    c: &mut Collector,
    ch: &RawCheck,
    path: &str,
) -> Vec<(String, CheckKind)> {
    let mut kinds: Vec<(String, CheckKind)> = Vec::new();
    if let Some(codes) = ch
        .status
        .as_ref()
        .and_then(|s| status_codes(c, s, &format!("{path}.status")))
    {
        kinds.push((format!("status in {codes:?}"), CheckKind::Status(codes)));
    }
    if let Some(codes) = ch
        .status_not
        .as_ref()
        .and_then(|s| status_codes(c, s, &format!("{path}.status_not")))
    {
        kinds.push((
            format!("status not in {codes:?}"),
            CheckKind::StatusNot(codes),
        ));
    }
    for (h, v) in &ch.header {
        if let Some(n) = header_name(c, h, &v.referenced, &format!("{path}.header.{h}")) {
            kinds.push((
                format!("header {h} contains {:?}", v.value),
                CheckKind::HeaderContains(n, v.value.clone()),
            ));
        }
    }
    for (i, h) in ch.header_exists.iter().enumerate() {
        let hp = format!("{path}.header_exists[{i}]");
        if let Some(n) = header_name(c, &h.value, &h.referenced, &hp) {
            kinds.push((
                format!("header {} exists", h.value),
                CheckKind::HeaderExists(n),
            ));
        }
    }
    for (h, v) in &ch.header_equals {
        let hp = format!("{path}.header_equals.{h}");
        if let Some(n) = header_name(c, h, &v.referenced, &hp) {
            kinds.push((
                format!("header {h} == {:?}", v.value),
                CheckKind::HeaderEquals(n, v.value.clone()),
            ));
        }
    }
    kinds
}
