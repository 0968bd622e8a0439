//! The daemon's part of the file: its listener and its run store. Plan schedules are in
//! `schedule.rs`.

use super::error::Collector;
use super::raw::RawConfig;
use super::rules::{duration, Env};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The daemon's listener.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub listen: SocketAddr,
    /// Bearer token for mutating endpoints (resolved from `token_env`); a secret.
    pub token: Option<String>,
    /// Names a request's `Host` may carry besides IP literals and `localhost` (DNS
    /// rebinding guard): exact names, or `*.suffix` for any name under a domain.
    pub allowed_hosts: Vec<String>,
    /// How long a distributed run's segments are awaited before a partial run is stored.
    pub segments_deadline: Duration,
}

impl ServerSpec {
    /// Whether a `Host` header value (with or without port) names this daemon: an IP
    /// literal, `localhost`, or one of `allowed_hosts`. A page on an attacker's domain that
    /// rebinds its name to 127.0.0.1 sends its own name and is refused.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        let name = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        name == "localhost"
            || name.parse::<std::net::IpAddr>().is_ok()
            || self
                .allowed_hosts
                .iter()
                .any(|a| match a.strip_prefix("*.") {
                    Some(suffix) => {
                        name.len() > suffix.len() + 1 && name.ends_with(&format!(".{suffix}"))
                    }
                    None => *a == name,
                })
    }
}

/// Where run history lives and how much is kept.
#[derive(Debug, Clone)]
pub struct StoreSpec {
    pub path: PathBuf,
    pub keep_runs: u64,
    pub max_age: Duration,
}

/// The listener used when the file has no `server` block.
pub(super) fn default_server() -> ServerSpec {
    ServerSpec {
        listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        token: None,
        allowed_hosts: Vec::new(),
        segments_deadline: Duration::from_secs(600),
    }
}

/// The store used when the file has no `store` block.
pub(super) fn default_store() -> StoreSpec {
    StoreSpec {
        path: PathBuf::from("loadpacer.db"),
        keep_runs: 2000,
        max_age: Duration::from_secs(90 * 86400),
    }
}

pub(super) fn server(c: &mut Collector, raw: &RawConfig, env: Env<'_>) -> ServerSpec {
    let mut spec = default_server();
    let Some(s) = &raw.server else { return spec };
    if let Some(l) = &s.listen {
        match l.value.parse::<SocketAddr>() {
            Ok(a) => spec.listen = a,
            Err(_) => c.at(
                &l.referenced,
                "server.listen",
                format!("{:?} must be IP:PORT, e.g. 127.0.0.1:9464", l.value),
            ),
        }
    }
    if let Some(t) = &s.token_env {
        match env(&t.value) {
            Some(v) if !v.is_empty() => spec.token = Some(v),
            _ => c.at(
                &t.referenced,
                "server.token_env",
                format!(
                    "environment variable {} is not set or empty; export the API token there",
                    t.value
                ),
            ),
        }
    }
    for (i, h) in s.allowed_hosts.iter().enumerate() {
        let name = h.value.trim().to_ascii_lowercase();
        let bare = name.strip_prefix("*.").unwrap_or(&name);
        let valid = !bare.is_empty()
            && bare
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if valid {
            spec.allowed_hosts.push(name);
        } else {
            c.at(
                &h.referenced,
                &format!("server.allowed_hosts[{i}]"),
                format!("{:?} must be a host name such as loadpacer or *.svc.cluster.local (no port, no scheme)", h.value),
            );
        }
    }
    if let Some(d) = &s.segments_deadline {
        spec.segments_deadline = duration(c, d, "server.segments_deadline", Duration::from_secs(1))
            .unwrap_or(spec.segments_deadline);
    }
    if !spec.listen.ip().is_loopback() && s.token_env.is_none() {
        let loc = s
            .listen
            .as_ref()
            .map(|l| l.referenced)
            .unwrap_or(serde_saphyr::Location::UNKNOWN);
        c.at(
            &loc,
            "server.listen",
            format!(
                "{} is not a loopback address: set server.token_env so the API requires a token",
                spec.listen
            ),
        );
    }
    spec
}

pub(super) fn store(c: &mut Collector, raw: &RawConfig, base: Option<&Path>) -> StoreSpec {
    let mut spec = default_store();
    let Some(s) = &raw.store else {
        spec.path = base.map(|b| b.join("loadpacer.db")).unwrap_or(spec.path);
        return spec;
    };
    let rel = s
        .path
        .as_ref()
        .map(|p| PathBuf::from(&p.value))
        .unwrap_or(spec.path.clone());
    spec.path = match base {
        Some(b) if rel.is_relative() => b.join(rel),
        _ => rel,
    };
    if let Some(r) = &s.retention {
        if let Some(n) = &r.runs {
            if n.value == 0 {
                c.at(
                    &n.referenced,
                    "store.retention.runs",
                    "0 must be greater than zero",
                );
            } else {
                spec.keep_runs = n.value;
            }
        }
        if let Some(a) = &r.max_age {
            spec.max_age = duration(c, a, "store.retention.max_age", Duration::from_secs(60))
                .unwrap_or(spec.max_age);
        }
    }
    spec
}
