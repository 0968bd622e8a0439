//! Raw mirror → domain types. Every rule lives here (or in `steps`), and every broken rule is
//! collected so that a file's errors are reported together.

use super::error::{Collector, ConfigErrors};
use super::raw::{RawConfig, RawLimits, RawLoad, RawPlan, RawTarget, S};
use super::steps::StepCompiler;
use super::template::Compiled;
use super::threshold::{parse_expr, parse_metric, Threshold};
use super::*;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

pub(super) fn default_limits() -> Limits {
    Limits {
        max_rps: DEFAULT_MAX_RPS,
        max_vus: DEFAULT_MAX_VUS,
        max_in_flight: DEFAULT_MAX_IN_FLIGHT * 10,
        max_concurrent_runs: 2,
        allow_targets: Vec::new(),
    }
}

/// Environment lookup used while compiling templates.
pub(super) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(super) fn validate(
    raw: RawConfig,
    text: &str,
    file: &str,
    base_dir: Option<&Path>,
    env: Env<'_>,
) -> Result<Config, ConfigErrors> {
    let mut c = Collector::new(file);
    let limits = limits(&mut c, &raw.limits);
    let targets: BTreeMap<String, (Arc<TargetSpec>, Vec<String>)> = raw
        .targets
        .iter()
        .filter_map(|(name, t)| {
            target(&mut c, &limits, name, t, env, base_dir).map(|t| (name.clone(), t))
        })
        .collect();
    if raw.plans.is_empty() {
        c.nowhere(
            "plans",
            "no plan is defined; add at least one under `plans:`",
        );
    }
    let mut plans = Vec::new();
    for (name, p) in &raw.plans {
        if let Some(plan) = plan(
            &mut c,
            &limits,
            &targets,
            &raw.targets,
            name,
            p,
            base_dir,
            env,
        ) {
            plans.push(Arc::new(plan));
        }
    }
    check_total_rate(&mut c, &limits, &plans);
    let server = super::daemon::server(&mut c, &raw, env);
    let store = super::daemon::store(&mut c, &raw, base_dir);
    let host = host(&mut c, &raw);
    for p in &plans {
        for (i, t) in p.thresholds.iter().enumerate() {
            let by_process = matches!(t.metric, MetricKind::ProcessCpu | MetricKind::ProcessRss);
            if let Some(name) = t
                .request
                .as_ref()
                .filter(|n| by_process && !host.processes.contains(n))
            {
                c.nowhere(
                    &format!("plans.{}.thresholds[{i}].metric", p.name),
                    format!("process {name:?} is not watched; add it to host.processes"),
                );
            }
        }
    }
    let mut secrets: Vec<String> = server.token.iter().cloned().collect();
    secrets.retain(|s| !s.is_empty());
    for p in &mut plans {
        if !secrets.is_empty() {
            Arc::make_mut(p).secrets.extend(secrets.iter().cloned());
        }
    }
    c.finish(Config {
        source: file.to_string(),
        hash: fnv1a_hex(text),
        limits,
        server,
        store,
        host,
        plans,
    })
}

fn fnv1a_hex(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn limits(c: &mut Collector, raw: &RawLimits) -> Limits {
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

fn positive(c: &mut Collector, v: &S<u64>, path: &str) -> Option<u64> {
    if v.value == 0 {
        c.at(&v.referenced, path, "0 must be greater than zero");
        None
    } else {
        Some(v.value)
    }
}

/// Parses a duration like `90s`, `1m30s`, `250ms`; `min` is the smallest accepted value.
/// The longest duration any field takes (a soak, a retention age, a schedule period): far
/// beyond any real use, far below where clock arithmetic overflows.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

pub(super) fn duration(
    c: &mut Collector,
    s: &S<String>,
    path: &str,
    min: Duration,
) -> Option<Duration> {
    match humantime::parse_duration(s.value.trim()) {
        Ok(d) if d.is_zero() => {
            c.at(
                &s.referenced,
                path,
                format!("{:?} must be greater than zero", s.value),
            );
            None
        }
        Ok(d) if d > MAX_DURATION => {
            c.at(
                &s.referenced,
                path,
                format!(
                    "{:?} is too long; the maximum is {} days",
                    s.value,
                    MAX_DURATION.as_secs() / 86_400
                ),
            );
            None
        }
        Ok(d) if d < min => {
            c.at(
                &s.referenced,
                path,
                format!(
                    "{:?} is too short; the minimum is {}",
                    s.value,
                    humantime::format_duration(min)
                ),
            );
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            c.at(
                &s.referenced,
                path,
                format!(
                    "{:?} is not a duration; write e.g. 500ms, 30s, 5m or 1h30m",
                    s.value
                ),
            );
            None
        }
    }
}

fn byte_size(c: &mut Collector, s: &S<String>, path: &str) -> Option<usize> {
    let t = s.value.trim();
    let split = t.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult = match unit.trim() {
        "" | "B" => Some(1),
        "KiB" | "KB" | "k" => Some(1024),
        "MiB" | "MB" | "M" => Some(1024 * 1024),
        "GiB" | "GB" | "G" => Some(1024 * 1024 * 1024),
        _ => None,
    };
    match (num.parse::<usize>(), mult) {
        (Ok(n), Some(m)) if n > 0 && n.saturating_mul(m) <= 1 << 30 => Some(n * m),
        _ => {
            c.at(
                &s.referenced,
                path,
                format!(
                    "{:?} must be a size between 1 B and 1 GiB, e.g. 64KiB or 10MiB",
                    s.value
                ),
            );
            None
        }
    }
}

fn target(
    c: &mut Collector,
    limits: &Limits,
    name: &str,
    t: &RawTarget,
    env: Env<'_>,
    base_dir: Option<&Path>,
) -> Option<(Arc<TargetSpec>, Vec<String>)> {
    let path = format!("targets.{name}");
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
    let base_url = resolved.and_then(|u| check_url(c, limits, &u, &format!("{path}.base_url")));
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
    let transport = match t.transport.as_ref().map(|s| (s, s.value.as_str())) {
        None | Some((_, "pooled")) => Transport::Pooled,
        Some((s, "direct")) => {
            if base_url.as_ref().is_some_and(|u| u.scheme() != "http") || t.http2 == Some(true) {
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
    };
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

/// Reads a PEM bundle of CA certificates (relative to the config's folder) and checks that it
/// holds at least one certificate.
fn ca_file(
    c: &mut Collector,
    f: &S<String>,
    path: &str,
    base_dir: Option<&Path>,
) -> Option<Vec<u8>> {
    let file = base_dir.map_or_else(|| Path::new(&f.value).to_path_buf(), |d| d.join(&f.value));
    let problem = match std::fs::read(&file) {
        Ok(pem) => match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certs) if !certs.is_empty() => return Some(pem),
            Ok(_) => "holds no certificate".to_string(),
            Err(e) => format!("is not a PEM certificate bundle ({e})"),
        },
        Err(e) => format!("cannot be read ({e})"),
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
fn check_url(
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

/// Checks a host (name or IP literal) against the fixed refusals and the allowlist. Also
/// called at connect time with the resolved address.
pub fn host_allowed(host: &str, allow: &[String]) -> Result<(), String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        if let IpAddr::V6(v6) = ip {
            if v6.to_ipv4_mapped().is_some() {
                return Err("is an IPv4-mapped IPv6 address; write the IPv4 address".into());
            }
            if (v6.segments()[0] & 0xffc0) == 0xfe80 {
                return Err("is a link-local address, which is never a load target".into());
            }
        }
        if let IpAddr::V4(v4) = ip {
            if v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast() {
                return Err("is a link-local, unspecified or broadcast address (cloud metadata lives there); it is never a load target".into());
            }
        }
    }
    if allow.is_empty() || allow.iter().any(|a| allow_entry_matches(a, bare)) {
        Ok(())
    } else {
        Err(format!(
            "host {bare} is not in limits.allow_targets ({})",
            allow.join(", ")
        ))
    }
}

fn allow_entry_matches(entry: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    if let Some(suffix) = entry.strip_prefix("*.") {
        return host.ends_with(&format!(".{suffix}"));
    }
    if let (Some((net, bits)), Ok(ip)) = (parse_cidr(entry), host.parse::<IpAddr>()) {
        return cidr_contains(net, bits, ip);
    }
    entry == host
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = s.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn cidr_contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn plan(
    c: &mut Collector,
    limits: &Limits,
    targets: &BTreeMap<String, (Arc<TargetSpec>, Vec<String>)>,
    raw_targets: &BTreeMap<String, RawTarget>,
    key: &super::raw::Key,
    p: &RawPlan,
    base_dir: Option<&Path>,
    env: Env<'_>,
) -> Option<PlanSpec> {
    let name = key.as_str();
    let path = format!("plans.{name}");
    if !valid_label(name) {
        c.at(&key.0.referenced, &path, format!("plan name {name:?} must match [a-zA-Z_][a-zA-Z0-9_.-]* (it becomes a metric label)"));
    }
    let target = match targets.get(&p.target.value) {
        Some(t) => Some(t.clone()),
        None => {
            if !raw_targets.contains_key(&p.target.value) {
                let names: Vec<&str> = raw_targets.keys().map(String::as_str).collect();
                let hint = super::parse::closest(&p.target.value, &names)
                    .map(|s| format!("; did you mean {s:?}?"))
                    .unwrap_or_default();
                c.at(
                    &p.target.referenced,
                    &format!("{path}.target"),
                    format!("{:?} is not a defined target{hint}", p.target.value),
                );
            }
            None
        }
    };
    let load = load(c, limits, &p.load, &format!("{path}.load"));
    let schedule = p.schedule.as_ref().and_then(|s| {
        super::daemon::schedule(
            c,
            s,
            &format!("{path}.schedule"),
            load.as_ref().map(LoadSpec::duration),
            target.as_ref().map(|(t, _)| t.timeout),
        )
    });
    let data = p
        .data
        .as_ref()
        .and_then(|d| super::steps::data_source(c, d, &format!("{path}.data"), base_dir));
    let mut steps = StepCompiler::new(
        env,
        data.as_ref().map(|d| d.columns.clone()).unwrap_or_default(),
    );
    let setup = steps.setup(c, &p.setup, &format!("{path}.setup"));
    let scenarios = steps.scenarios(c, &p.scenarios, &format!("{path}.scenarios"));
    steps.check_vars(c);
    let thresholds = thresholds(c, p, &path, &steps.requests);
    let grades = grades(c, p, &path);
    let capacity = p
        .capacity
        .as_ref()
        .and_then(|cap| capacity(c, cap, &format!("{path}.capacity")));
    let monitors = p
        .monitors
        .iter()
        .filter_map(|(n, m)| monitor(c, limits, n, m, &format!("{path}.monitors.{n}")))
        .collect();
    let regression = p
        .regression
        .as_ref()
        .map(|r| regression(c, r, &format!("{path}.regression")));
    let (target, mut secrets) = target?;
    secrets.extend(steps.secrets);
    Some(PlanSpec {
        name: name.to_string(),
        description: p.description.clone(),
        target,
        schedule,
        load: load?,
        scenarios,
        setup,
        data,
        thresholds,
        grades,
        requests: steps.requests,
        checks: steps.checks,
        secrets,
        capacity,
        regression,
        monitors,
    })
}

/// Names used as metric label values must be printable and short; this keeps them also
/// valid as file names and URL segments.
pub(super) fn valid_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
}

/// The lowest positive rate: one arrival every 1000 s. Below it a run would send nothing
/// (and `1/rate` stops being a finite duration).
pub(super) const MIN_RATE: f64 = 0.001;

/// A rate in arrivals per second: finite, at most `limits.max_rps`, and either 0 (where a
/// ramp may start from nothing) or at least [`MIN_RATE`].
pub(super) fn rate(
    c: &mut Collector,
    limits: &Limits,
    r: &S<f64>,
    path: &str,
    allow_zero: bool,
) -> Option<f64> {
    let v = r.value;
    let in_range = v.is_finite() && v <= limits.max_rps && (v > 0.0 || (allow_zero && v == 0.0));
    let message = if !in_range {
        format!(
            "rate {v} must be > 0 and <= limits.max_rps ({})",
            limits.max_rps
        )
    } else if v > 0.0 && v < MIN_RATE {
        format!("rate {v:e} is below the minimum of {MIN_RATE} per second (one arrival every 1000 s); such a run would send nothing")
    } else {
        return Some(v);
    };
    c.at(&r.referenced, path, message);
    None
}

fn load(c: &mut Collector, limits: &Limits, l: &RawLoad, path: &str) -> Option<LoadSpec> {
    let kinds = [l.phases.is_some(), l.vus.is_some(), l.preset.is_some()];
    if kinds.iter().filter(|k| **k).count() != 1 {
        c.nowhere(
            path,
            "set exactly one of `phases` (open model), `vus` (closed model) or `preset`",
        );
        return None;
    }
    let max_in_flight = match &l.max_in_flight {
        Some(m) if m.value > limits.max_in_flight => {
            c.at(
                &m.referenced,
                &format!("{path}.max_in_flight"),
                format!(
                    "{} exceeds limits.max_in_flight ({})",
                    m.value, limits.max_in_flight
                ),
            );
            None
        }
        Some(m) => positive(c, m, &format!("{path}.max_in_flight")),
        None => Some(DEFAULT_MAX_IN_FLIGHT.min(limits.max_in_flight)),
    };
    let one_sec = Duration::from_secs(1);
    let shape = if let Some(phases) = &l.phases {
        if phases.is_empty() {
            c.nowhere(&format!("{path}.phases"), "must contain at least one phase");
        }
        let mut out = Vec::new();
        for (i, ph) in phases.iter().enumerate() {
            let pp = format!("{path}.phases[{i}]");
            let d = duration(c, &ph.duration, &format!("{pp}.duration"), one_sec);
            let r = rate(
                c,
                limits,
                &ph.rate,
                &format!("{pp}.rate"),
                ph.ramp_to.is_some(),
            );
            let to = match &ph.ramp_to {
                Some(t) => rate(c, limits, t, &format!("{pp}.ramp_to"), true),
                None => r,
            };
            if let (Some(duration), Some(rate), Some(ramp_to)) = (d, r, to) {
                out.push(Phase {
                    name: ph
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("phase-{}", i + 1)),
                    duration,
                    rate,
                    ramp_to,
                });
            }
        }
        LoadShape::Open {
            phases: out,
            max_in_flight: max_in_flight?,
        }
    } else if let Some(stages) = &l.vus {
        if stages.is_empty() {
            c.nowhere(&format!("{path}.vus"), "must contain at least one stage");
        }
        let mut out = Vec::new();
        for (i, st) in stages.iter().enumerate() {
            let sp = format!("{path}.vus[{i}]");
            // `0s` jumps to the stage's VU count at once (as in k6); any other stage ramps.
            let jump =
                humantime::parse_duration(st.duration.value.trim()).is_ok_and(|d| d.is_zero());
            let d = if jump {
                Some(Duration::ZERO)
            } else {
                duration(c, &st.duration, &format!("{sp}.duration"), one_sec)
            };
            if st.target.value > limits.max_vus {
                c.at(
                    &st.target.referenced,
                    &format!("{sp}.target"),
                    format!(
                        "{} VUs exceed limits.max_vus ({})",
                        st.target.value, limits.max_vus
                    ),
                );
            }
            if let Some(duration) = d {
                out.push(Stage {
                    duration,
                    target: st.target.value.min(limits.max_vus),
                });
            }
        }
        if !out.is_empty() && out.iter().all(|s| s.target == 0) {
            c.nowhere(
                &format!("{path}.vus"),
                "every stage targets 0 VUs; nothing would run",
            );
        }
        LoadShape::Closed { stages: out }
    } else {
        super::steps::preset(c, limits, l, path, max_in_flight?)?
    };
    let iterations = l
        .iterations
        .as_ref()
        .and_then(|n| positive(c, n, &format!("{path}.iterations")));
    let graceful_stop = l
        .graceful_stop
        .as_ref()
        .and_then(|g| {
            duration(
                c,
                g,
                &format!("{path}.graceful_stop"),
                Duration::from_millis(1),
            )
        })
        .unwrap_or(Duration::from_secs(10));
    if let (Some(_), false) = (&l.preset, matches!(shape, LoadShape::Open { .. })) {
        return None;
    }
    Some(LoadSpec {
        shape,
        iterations,
        graceful_stop,
        preset: l.preset.as_ref().map(|p| p.value.clone()),
    })
}

fn check_total_rate(c: &mut Collector, limits: &Limits, plans: &[Arc<PlanSpec>]) {
    for p in plans {
        if let LoadShape::Open { phases, .. } = &p.load.shape {
            let peak = phases
                .iter()
                .map(|ph| ph.rate.max(ph.ramp_to))
                .fold(0.0, f64::max);
            if peak > limits.max_rps {
                c.nowhere(
                    &format!("plans.{}.load", p.name),
                    format!(
                        "peak rate {peak} exceeds limits.max_rps ({})",
                        limits.max_rps
                    ),
                );
            }
        }
    }
}

fn thresholds(
    c: &mut Collector,
    p: &RawPlan,
    path: &str,
    requests: &[RequestKey],
) -> Vec<Threshold> {
    let mut out = Vec::new();
    for (i, t) in p.thresholds.iter().enumerate() {
        let tp = format!("{path}.thresholds[{i}]");
        let metric = match parse_metric(&t.metric.value) {
            Ok(m) => m,
            Err(e) => {
                c.at(&t.metric.referenced, &format!("{tp}.metric"), e);
                continue;
            }
        };
        let by_process = matches!(metric.0, MetricKind::ProcessCpu | MetricKind::ProcessRss);
        if metric.0 == MetricKind::Monitor {
            let name = metric.1.clone().unwrap_or_default();
            if !p.monitors.contains_key(&name) {
                c.at(
                    &t.metric.referenced,
                    &format!("{tp}.metric"),
                    format!("monitor {name:?} is not defined under this plan's monitors"),
                );
            }
        } else if let Some(req) = metric.1.as_ref().filter(|_| !by_process) {
            if !requests.iter().any(|r| &r.name == req) {
                c.at(
                    &t.metric.referenced,
                    &format!("{tp}.metric"),
                    format!("request {req:?} is not a request name of this plan"),
                );
            }
        }
        let (agg, op, value) = match parse_expr(metric.0, &t.expr.value) {
            Ok(e) => e,
            Err(e) => {
                c.at(&t.expr.referenced, &format!("{tp}.expr"), e);
                continue;
            }
        };
        let delay = t
            .delay_abort_eval
            .as_ref()
            .and_then(|d| {
                duration(
                    c,
                    d,
                    &format!("{tp}.delay_abort_eval"),
                    Duration::from_millis(1),
                )
            })
            .unwrap_or_default();
        out.push(Threshold {
            metric_text: t.metric.value.trim().to_string(),
            expr_text: t.expr.value.trim().to_string(),
            metric: metric.0,
            request: metric.1,
            agg,
            op,
            value,
            abort_on_fail: t.abort_on_fail,
            delay_abort_eval: delay,
        });
    }
    out
}

fn monitor(
    c: &mut Collector,
    limits: &Limits,
    name: &str,
    m: &super::raw::RawMonitor,
    path: &str,
) -> Option<MonitorSpec> {
    if !valid_label(name) {
        c.nowhere(
            path,
            format!("monitor name {name:?} must match [a-zA-Z_][a-zA-Z0-9_.-]*"),
        );
    }
    let every = m
        .every
        .as_ref()
        .and_then(|e| duration(c, e, &format!("{path}.every"), Duration::from_millis(100)))
        .unwrap_or(Duration::from_secs(5));
    let source = match (&m.url, &m.jsonpath, &m.prometheus, &m.promql) {
        (Some(url), Some(jp), None, None) => {
            let url = check_url(c, limits, url, &format!("{path}.url"));
            let parsed = match JsonPath::parse(&jp.value) {
                Ok(p) => Some(p),
                Err(_) => {
                    c.at(
                        &jp.referenced,
                        &format!("{path}.jsonpath"),
                        format!("{:?} is not a valid JSONPath (RFC 9535)", jp.value),
                    );
                    None
                }
            };
            MonitorSource::Json {
                url: url?,
                path: parsed?,
            }
        }
        (None, None, Some(prom), Some(q)) => {
            let prometheus = check_url(c, limits, prom, &format!("{path}.prometheus"));
            if q.value.trim().is_empty() {
                c.at(
                    &q.referenced,
                    &format!("{path}.promql"),
                    "the query is empty",
                );
            }
            MonitorSource::PromQl {
                prometheus: prometheus?,
                query: q.value.trim().to_string(),
            }
        }
        _ => {
            c.nowhere(path, "set either `url` and `jsonpath` (a JSON endpoint) or `prometheus` and `promql` (an instant query)");
            return None;
        }
    };
    Some(MonitorSpec {
        name: name.to_string(),
        source,
        every,
    })
}

fn host(c: &mut Collector, raw: &RawConfig) -> HostSpec {
    let mut spec = HostSpec::default();
    let Some(h) = &raw.host else { return spec };
    if let Some(i) = &h.interval {
        spec.interval =
            duration(c, i, "host.interval", Duration::from_secs(1)).unwrap_or(spec.interval);
    }
    for (i, p) in h.processes.iter().enumerate() {
        let name = p.value.trim();
        if name.is_empty() || name.len() > 64 || name.contains('/') {
            c.at(
                &p.referenced,
                &format!("host.processes[{i}]"),
                format!("{name:?} must be a process name such as postgres"),
            );
        } else {
            spec.processes.push(name.chars().take(15).collect());
        }
    }
    spec
}

fn regression(c: &mut Collector, r: &super::raw::RawRegression, path: &str) -> RegressionSpec {
    if let Some(w) = &r.window {
        if !(1..=100).contains(&w.value) {
            c.at(
                &w.referenced,
                &format!("{path}.window"),
                format!("{} must be between 1 and 100 runs", w.value),
            );
        }
    }
    let baseline_run = r.baseline_run.as_ref().and_then(|b| {
        let ok = b.value.len() == 36
            && b.value
                .chars()
                .all(|ch| ch.is_ascii_hexdigit() || ch == '-');
        if !ok {
            c.at(
                &b.referenced,
                &format!("{path}.baseline_run"),
                format!("{:?} must be a run id (a UUID from /api/v1/runs)", b.value),
            );
        }
        ok.then(|| b.value.clone())
    });
    let mut ratio = |v: Option<&S<f64>>, name: &str, default: f64| match v {
        Some(s) if s.value.is_finite() && (0.0..=10.0).contains(&s.value) => s.value,
        Some(s) => {
            c.at(
                &s.referenced,
                &format!("{path}.tolerance.{name}"),
                format!("{} must be a ratio such as 0.1", s.value),
            );
            default
        }
        None => default,
    };
    let t = r.tolerance.as_ref();
    RegressionSpec {
        baseline_run,
        window: r
            .window
            .as_ref()
            .map(|w| w.value)
            .unwrap_or(5)
            .clamp(1, 100),
        latency: ratio(t.and_then(|t| t.latency.as_ref()), "latency", 0.10),
        error_rate: ratio(t.and_then(|t| t.error_rate.as_ref()), "error_rate", 0.005),
        throughput: ratio(t.and_then(|t| t.throughput.as_ref()), "throughput", 0.10),
    }
}

fn capacity(c: &mut Collector, cap: &super::raw::RawCapacity, path: &str) -> Option<CapacitySpec> {
    let peak = cap.expected_peak_rps.value;
    if !(peak.is_finite() && peak > 0.0) {
        c.at(
            &cap.expected_peak_rps.referenced,
            &format!("{path}.expected_peak_rps"),
            format!("{peak} must be a finite number > 0"),
        );
    }
    let p95 = duration(
        c,
        &cap.slo.p95,
        &format!("{path}.slo.p95"),
        Duration::from_micros(1),
    );
    let err = cap.slo.error_rate.value;
    if !(0.0..=1.0).contains(&err) {
        c.at(
            &cap.slo.error_rate.referenced,
            &format!("{path}.slo.error_rate"),
            format!("{err} must be a ratio between 0 and 1"),
        );
    }
    let growth = cap.monthly_growth.as_ref().map(|g| g.value);
    if let (Some(g), Some(s)) = (growth, &cap.monthly_growth) {
        if !(g.is_finite() && g > -1.0 && g <= 10.0) {
            c.at(
                &s.referenced,
                &format!("{path}.monthly_growth"),
                format!("{g} must be a ratio such as 0.05 (5 % a month)"),
            );
        }
    }
    let sustain = cap
        .sustain
        .as_ref()
        .map(|s| s.value)
        .unwrap_or(3)
        .clamp(1, 600);
    Some(CapacitySpec {
        expected_peak_rps: peak,
        slo_p95: p95?,
        slo_error_rate: err,
        monthly_growth: growth,
        sustain,
    })
}

fn grades(c: &mut Collector, p: &RawPlan, path: &str) -> Vec<GradeBand> {
    let Some(raw) = &p.grades else {
        return Vec::new();
    };
    let order = ["excellent", "good", "acceptable"];
    let mut out = Vec::new();
    for (name, g) in raw {
        let gp = format!("{path}.grades.{name}");
        if !order.contains(&name.as_str()) {
            c.at(&g.p95.referenced, &gp, format!("grade {name:?} is unknown; use excellent, good and acceptable (anything worse is poor)"));
            continue;
        }
        let p95 = duration(c, &g.p95, &format!("{gp}.p95"), Duration::from_micros(1));
        if !(0.0..=1.0).contains(&g.error_rate.value) {
            c.at(
                &g.error_rate.referenced,
                &format!("{gp}.error_rate"),
                format!("{} must be a ratio between 0 and 1", g.error_rate.value),
            );
        }
        if let Some(p95) = p95 {
            out.push(GradeBand {
                grade: name.clone(),
                p95,
                error_rate: g.error_rate.value,
            });
        }
    }
    out.sort_by_key(|g| order.iter().position(|o| *o == g.grade));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_matches_hosts_wildcards_and_cidrs() {
        let allow = vec![
            "127.0.0.0/8".to_string(),
            "*.staging.example.com".into(),
            "api.local".into(),
        ];
        assert!(host_allowed("127.0.0.1", &allow).is_ok());
        assert!(host_allowed("shop.staging.example.com", &allow).is_ok());
        assert!(host_allowed("api.local", &allow).is_ok());
        assert!(host_allowed("10.0.0.1", &allow).is_err());
        assert!(host_allowed("staging.example.com.evil", &allow).is_err());
        assert!(host_allowed("169.254.169.254", &[]).is_err());
        assert!(host_allowed("[::ffff:127.0.0.1]", &[]).is_err());
        assert!(host_allowed("[::1]", &[]).is_ok());
    }
}
