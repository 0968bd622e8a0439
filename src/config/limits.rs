//! `limits:`: the global safety caps every plan is checked against (rate, VUs, requests in
//! flight, concurrent runs) and the allowlist of target hosts.

use super::allow::parse_cidr;
use super::error::Collector;
use super::raw::RawLimits;
use super::rules::positive;
use std::net::IpAddr;

/// Default cap on arrivals per second over all plans when `limits.max_rps` is not set.
pub const DEFAULT_MAX_RPS: f64 = 100_000.0;

/// Default cap on virtual users when `limits.max_vus` is not set.
pub const DEFAULT_MAX_VUS: u64 = 10_000;

/// Default `max_in_flight` of open-model plans.
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 1_000;

/// Global safety limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_rps: f64,
    pub max_vus: u64,
    pub max_in_flight: u64,
    /// Runs at the same time across plans (daemon).
    pub max_concurrent_runs: u64,
    /// Hosts, `*.domain` wildcards and CIDRs a target may use; empty means any public or
    /// loopback host (link-local and metadata addresses are always refused).
    pub allow_targets: Vec<String>,
}

pub(super) fn default_limits() -> Limits {
    Limits {
        max_rps: DEFAULT_MAX_RPS,
        max_vus: DEFAULT_MAX_VUS,
        max_in_flight: DEFAULT_MAX_IN_FLIGHT * 10,
        max_concurrent_runs: 2,
        allow_targets: Vec::new(),
    }
}

pub(super) fn limits(c: &mut Collector, raw: &RawLimits) -> Limits {
    let mut l = default_limits();
    if let Some(r) = &raw.max_rps {
        if r.value.is_finite() && r.value > 0.0 {
            l.max_rps = r.value;
        } else {
            c.at(
                &r.referenced,
                "limits.max_rps",
                format!("{} must be a finite number > 0", r.value),
            );
        }
    }
    if let Some(v) = &raw.max_vus {
        l.max_vus = positive(c, v, "limits.max_vus").unwrap_or(l.max_vus);
    }
    if let Some(v) = &raw.max_in_flight {
        l.max_in_flight = positive(c, v, "limits.max_in_flight").unwrap_or(l.max_in_flight);
    }
    if let Some(v) = &raw.max_concurrent_runs {
        l.max_concurrent_runs =
            positive(c, v, "limits.max_concurrent_runs").unwrap_or(l.max_concurrent_runs);
    }
    for (i, a) in raw.allow_targets.iter().flatten().enumerate() {
        let entry = a.value.trim().to_ascii_lowercase();
        let valid = !entry.is_empty()
            && (parse_cidr(&entry).is_some()
                || entry.parse::<IpAddr>().is_ok()
                || entry
                    .trim_start_matches("*.")
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.'));
        if valid {
            l.allow_targets.push(entry);
        } else {
            c.at(
                &a.referenced,
                &format!("limits.allow_targets[{i}]"),
                format!(
                    "{:?} must be a host name, *.domain, an IP address or a CIDR",
                    a.value
                ),
            );
        }
    }
    l
}
