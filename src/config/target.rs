//! `targets:`: base URL (the network rule applied), headers, timeouts, body cap, transport
//! and extra CA roots.

use super::allow::host_allowed;
use super::error::Collector;
use super::limits::Limits;
use super::raw::{RawTarget, S};
use super::rules::{byte_size, duration, Env};
use super::steps::StepCompiler;
use super::template::{Compiled, Template};
use http::HeaderName;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Default response body cap.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// A service under test.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub name: String,
    pub base_url: reqwest::Url,
    pub headers: Vec<(HeaderName, Template)>,
    pub timeout: Duration,
    pub max_redirects: u32,
    pub max_body: usize,
    pub http2: bool,
    pub transport: Transport,
    /// CA certificates (PEM) trusted for this target besides the built-in roots: an internal
    /// CA of a staging environment. Checked when the file is loaded.
    pub ca_pem: Option<Vec<u8>>,
}

/// How requests reach a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A shared reqwest pool: redirects, TLS, HTTP/2. The default.
    Pooled,
    /// One HTTP/1.1 connection per VU slot, spoken by the VU itself: plain HTTP only, no
    /// redirects followed; the cheapest path per request.
    Direct,
}

pub(super) fn target(
    c: &mut Collector,
    limits: &Limits,
    name: &str,
    t: &RawTarget,
    env: Env<'_>,
    base_dir: Option<&Path>,
) -> Option<(Arc<TargetSpec>, Vec<String>)> {
    let path = format!("targets.{name}");
    let base_url = base_url(c, limits, t, env, &path);
    let mut found = Compiled::default();
    let headers = StepCompiler::headers(c, &t.headers, &format!("{path}.headers"), env, &mut found);
    let timeout = t
        .timeout
        .as_ref()
        .and_then(|s| duration(c, s, &format!("{path}.timeout"), Duration::from_millis(1)))
        .unwrap_or(Duration::from_secs(30));
    let max_body = t
        .max_body
        .as_ref()
        .and_then(|s| byte_size(c, s, &format!("{path}.max_body")))
        .unwrap_or(DEFAULT_MAX_BODY);
    let max_redirects = match &t.max_redirects {
        Some(r) if r.value > 10 => {
            c.at(
                &r.referenced,
                &format!("{path}.max_redirects"),
                format!("{} must be at most 10", r.value),
            );
            10
        }
        Some(r) => r.value,
        None => 5,
    };
    if !found.vars.is_empty() {
        c.at(
            &t.base_url.referenced,
            &format!("{path}.headers"),
            "target headers may use env.NAME and functions, not per-VU variables",
        );
    }
    let transport = transport(c, t, base_url.as_ref(), &path);
    let spec = TargetSpec {
        name: name.to_string(),
        base_url: base_url?,
        headers,
        timeout,
        max_redirects,
        max_body,
        http2: t.http2.unwrap_or(false),
        transport,
        ca_pem: t
            .ca_file
            .as_ref()
            .and_then(|f| ca_file(c, f, &format!("{path}.ca_file"), base_dir)),
    };
    Some((Arc::new(spec), found.secrets))
}

/// The base URL, checked against the limits; only `{{ env.NAME }}` may be templated in it.
fn base_url(
    c: &mut Collector,
    limits: &Limits,
    t: &RawTarget,
    env: Env<'_>,
    path: &str,
) -> Option<url::Url> {
    // `{{ env.NAME }}` may set the base URL (one file for staging and CI); nothing else
    // can, since the target is fixed before any VU exists.
    let resolved = match Template::compile(&t.base_url.value, env, &mut Compiled::default()) {
        Ok(tpl) => match tpl.as_static() {
            Some(url) => Some(S {
                value: url.to_string(),
                ..t.base_url.clone()
            }),
            None => {
                c.at(
                    &t.base_url.referenced,
                    &format!("{path}.base_url"),
                    "only {{ env.NAME }} can be used in a base_url",
                );
                None
            }
        },
        Err(e) => {
            c.at(&t.base_url.referenced, &format!("{path}.base_url"), e);
            None
        }
    };
    resolved.and_then(|u| check_url(c, limits, &u, &format!("{path}.base_url")))
}

/// `pooled` (the default) or `direct` (plain HTTP/1.1 only).
fn transport(
    c: &mut Collector,
    t: &RawTarget,
    base_url: Option<&url::Url>,
    path: &str,
) -> Transport {
    match t.transport.as_ref().map(|s| (s, s.value.as_str())) {
        None | Some((_, "pooled")) => Transport::Pooled,
        Some((s, "direct")) => {
            if base_url.is_some_and(|u| u.scheme() != "http") || t.http2 == Some(true) {
                c.at(
                    &s.referenced,
                    &format!("{path}.transport"),
                    "direct supports plain http/1.1 only; use pooled for https or http2",
                );
            }
            Transport::Direct
        }
        Some((s, other)) => {
            c.at(
                &s.referenced,
                &format!("{path}.transport"),
                format!("{other:?} must be pooled or direct"),
            );
            Transport::Pooled
        }
    }
}

/// A CA bundle is a few KiB; the system's whole bundle is about 200 KiB.
const MAX_CA_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a PEM bundle of CA certificates (relative to the config's folder) and checks that it
/// holds at least one certificate.
fn ca_file(
    c: &mut Collector,
    f: &S<String>,
    path: &str,
    base_dir: Option<&Path>,
) -> Option<Vec<u8>> {
    let file = base_dir.map_or_else(|| Path::new(&f.value).to_path_buf(), |d| d.join(&f.value));
    let problem = match crate::files::read_bytes(&file, MAX_CA_BYTES) {
        Ok(pem) => match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certs) if !certs.is_empty() => return Some(pem),
            Ok(_) => "holds no certificate".to_string(),
            Err(e) => format!("is not a PEM certificate bundle ({e})"),
        },
        Err(crate::files::FileError::Io(e)) => format!("cannot be read ({e})"),
        Err(e) => e.to_string(),
    };
    c.at(
        &f.referenced,
        path,
        format!(
            "{:?} {problem}; give a PEM file of CA certificates",
            f.value
        ),
    );
    None
}

/// Only http(s), no userinfo, canonical host spelling, never link-local or IPv4-mapped
/// addresses, and within `limits.allow_targets` when set.
pub(super) fn check_url(
    c: &mut Collector,
    limits: &Limits,
    s: &S<String>,
    path: &str,
) -> Option<reqwest::Url> {
    let text = s.value.trim();
    let mut fail = |msg: String| {
        c.at(&s.referenced, path, format!("{text:?} {msg}"));
        None
    };
    if text.chars().any(char::is_whitespace) {
        return fail("must not contain spaces".into());
    }
    let url = match reqwest::Url::parse(text) {
        Ok(u) => u,
        Err(e) => {
            return fail(format!(
                "is not an absolute URL ({e}); write e.g. http://127.0.0.1:8080"
            ))
        }
    };
    if !matches!(url.scheme(), "http" | "https") {
        return fail(format!(
            "uses scheme {:?}; only http and https are allowed",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return fail(
            "must not contain user:password@; put credentials in a header from env".into(),
        );
    }
    let host = url.host_str().unwrap_or_default().to_string();
    if let Err(msg) = host_allowed(&host, &limits.allow_targets) {
        return fail(msg);
    }
    // `0x7f000001`, `2130706433` and `127.1` all parse as 127.0.0.1: refuse the disguises.
    if !text.to_ascii_lowercase().contains(&host) {
        return fail(format!(
            "spells its host in a non-canonical form; write {host}"
        ));
    }
    Some(url)
}
