//! Raw mirror → domain types. Every rule lives here (or in `steps`), and every broken rule is
//! collected so that a file's errors are reported together.

use super::allow::parse_cidr;
use super::error::{Collector, ConfigErrors};
use super::load::{check_total_rate, default_limits, load};
use super::raw::{RawConfig, RawLimits, RawPlan, RawTarget, S};
use super::rules::{duration, positive, valid_label, Env};
use super::steps::StepCompiler;
use super::target::{check_url, target};
use super::threshold::MetricKind;
use super::threshold::{parse_expr, parse_metric, Threshold};
use super::{
    CapacitySpec, Config, Grade, GradeBand, HostSpec, Limits, LoadSpec, MonitorSource, MonitorSpec,
    PlanSpec, RegressionSpec, RequestKey, TargetSpec,
};
use serde_json_path::JsonPath;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
                let hint = super::rules::closest(&p.target.value, &names)
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
        super::schedule::schedule(
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
        latency: ratio(
            t.and_then(|t| t.latency.as_ref()),
            "latency",
            RegressionSpec::DEFAULT_LATENCY,
        ),
        error_rate: ratio(
            t.and_then(|t| t.error_rate.as_ref()),
            "error_rate",
            RegressionSpec::DEFAULT_ERROR_RATE,
        ),
        throughput: ratio(
            t.and_then(|t| t.throughput.as_ref()),
            "throughput",
            RegressionSpec::DEFAULT_THROUGHPUT,
        ),
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
    let mut out = Vec::new();
    for (name, g) in raw {
        let gp = format!("{path}.grades.{name}");
        let Some(grade) = Grade::BANDED.into_iter().find(|b| b.as_str() == name) else {
            c.at(&g.p95.referenced, &gp, format!("grade {name:?} is unknown; use excellent, good and acceptable (anything worse is poor)"));
            continue;
        };
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
                grade,
                p95,
                error_rate: g.error_rate.value,
            });
        }
    }
    out.sort_by_key(|g| g.grade);
    out
}
