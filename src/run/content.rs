//! Message and body content shared by every step kind: URLs joined onto the target, JSON
//! bodies rendered from templates, content checks and captures on a body or a stream message.

use super::vu::VuState;
use crate::config::{
    BodySpec, CaptureSource, CaptureSpec, CheckKind, FilePart, JsonTemplate, Template,
    MULTIPART_BOUNDARY,
};
use bytes::Bytes;

/// Base URL + relative path + query. The path is appended to the base path, never replacing
/// the host: a scenario cannot point load elsewhere.
/// Whether a body (or a stream message) passes a check on its content. Checks on the
/// status, headers or latency are not about content and never pass here.
pub(super) fn body_passes(kind: &CheckKind, body: &[u8], json: Option<&serde_json::Value>) -> bool {
    match kind {
        CheckKind::BodyContains(s) => memfind(body, s.as_bytes()),
        CheckKind::BodyEquals(s) => body == s.as_bytes(),
        CheckKind::BodyRegex(re) => std::str::from_utf8(body).is_ok_and(|b| re.is_match(b)),
        CheckKind::JsonExists(p) => json.is_some_and(|j| !p.query(j).is_empty()),
        // A body that is not JSON has no such property either.
        CheckKind::JsonAbsent(p) => json.is_none_or(|j| p.query(j).is_empty()),
        CheckKind::JsonEquals(p, v) => json.is_some_and(|j| p.query(j).first() == Some(v)),
        CheckKind::Status(_)
        | CheckKind::StatusNot(_)
        | CheckKind::HeaderContains(..)
        | CheckKind::HeaderExists(_)
        | CheckKind::HeaderEquals(..)
        | CheckKind::LatencyBelow(_)
        | CheckKind::Equals(_) => false,
    }
}

/// Whether a stream message passes an `expect` matcher.
pub(super) fn message_passes(
    kind: &CheckKind,
    text: &str,
    json: Option<&serde_json::Value>,
) -> bool {
    body_passes(kind, text.as_bytes(), json)
}

/// A capture's value from a body: the text, and whether it was a non-string JSON value.
pub(super) fn capture_from_body(
    source: &CaptureSource,
    body: &[u8],
    json: Option<&serde_json::Value>,
) -> (Option<String>, bool) {
    match source {
        CaptureSource::Json(p) => match json.and_then(|j| p.query(j).first()) {
            Some(serde_json::Value::String(s)) => (Some(s.clone()), false),
            Some(other) => (Some(other.to_string()), true),
            None => (None, false),
        },
        CaptureSource::Regex(re) => (
            std::str::from_utf8(body)
                .ok()
                .and_then(|b| re.captures(b))
                .and_then(|c| c.get(1).or_else(|| c.get(0)))
                .map(|m| m.as_str().to_string()),
            false,
        ),
        CaptureSource::Header(_) => (None, false),
    }
}

/// Sets (or clears, when nothing was found) a VU variable.
pub(super) fn store_capture(vu: &mut VuState, var: &str, value: Option<String>, typed: bool) {
    match value {
        Some(v) => {
            vu.vars.insert(var.to_string(), v);
        }
        None => {
            vu.vars.remove(var);
        }
    }
    if typed {
        vu.json_typed.insert(var.to_string());
    } else {
        vu.json_typed.remove(var);
    }
}

/// Applies an `expect`'s captures to the matching message.
pub(super) fn capture_into(
    captures: &[CaptureSpec],
    text: &str,
    json: Option<&serde_json::Value>,
    vu: &mut VuState,
) {
    for cap in captures {
        let (value, typed) = capture_from_body(&cap.source, text.as_bytes(), json);
        store_capture(vu, &cap.var, value, typed);
    }
}

pub(super) fn join_url(
    base: &reqwest::Url,
    path: &str,
    query: &[(String, Template)],
    vu: &VuState,
) -> Option<reqwest::Url> {
    let mut s = base.as_str().trim_end_matches('/').to_string();
    if !path.starts_with('/') {
        s.push('/');
    }
    s.push_str(path);
    let mut url = reqwest::Url::parse(&s).ok()?;
    if url.host_str() != base.host_str()
        || url.port_or_known_default() != base.port_or_known_default()
    {
        return None;
    }
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, t) in query {
            pairs.append_pair(k, &t.render(vu));
        }
    }
    Some(url)
}

pub(super) fn render_json(j: &JsonTemplate, vu: &VuState) -> serde_json::Value {
    match j {
        JsonTemplate::Value(v) => v.clone(),
        JsonTemplate::Str(t) => {
            let text = t.render(vu);
            let typed = t.is_single_number()
                || t.as_single_var().is_some_and(|v| vu.json_typed.contains(v));
            match typed.then(|| serde_json::from_str(&text).ok()).flatten() {
                Some(value) => value,
                None => serde_json::Value::String(text),
            }
        }
        JsonTemplate::Array(a) => {
            serde_json::Value::Array(a.iter().map(|x| render_json(x, vu)).collect())
        }
        JsonTemplate::Object(o) => serde_json::Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), render_json(v, vu)))
                .collect(),
        ),
    }
}

pub(super) fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

pub(super) fn render_body(body: &BodySpec, vu: &VuState) -> Option<Bytes> {
    match body {
        BodySpec::None => None,
        BodySpec::Raw(t) => Some(Bytes::from(t.render(vu))),
        BodySpec::Json(j) => Some(Bytes::from(render_json(j, vu).to_string())),
        BodySpec::Form(f) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, t) in f {
                form.append_pair(k, &t.render(vu));
            }
            Some(Bytes::from(form.finish()))
        }
        BodySpec::Multipart { fields, files } => Some(multipart_body(fields, files, vu)),
    }
}

/// A `multipart/form-data` body (RFC 7578): each field, then each file, between
/// [`MULTIPART_BOUNDARY`] lines. Field names come from the config (checked as labels); quotes
/// in them are escaped.
fn multipart_body(
    fields: &[(String, crate::config::Template)],
    files: &[FilePart],
    vu: &VuState,
) -> Bytes {
    let name = |s: &str| s.replace('"', "%22");
    let mut out = Vec::new();
    for (k, t) in fields {
        out.extend_from_slice(
            format!(
                "--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
                name(k)
            )
            .as_bytes(),
        );
        out.extend_from_slice(t.render(vu).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for f in files {
        out.extend_from_slice(format!("--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n", name(&f.field), name(&f.filename)).as_bytes());
        out.extend_from_slice(&f.bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{MULTIPART_BOUNDARY}--\r\n").as_bytes());
    Bytes::from(out)
}
