//! Raw mirror → domain types. Every rule lives here (or in `steps`), and every broken rule is
//! collected so that a file's errors are reported together.

use super::error::{Collector, ConfigErrors};
use super::grades::grades;
use super::judging::{capacity, monitor, regression};
use super::limits::limits;
use super::plan_inputs::{all_rows, processor};
use super::raw::{RawConfig, RawPlan, RawTarget, S};
use super::rules::{duration, valid_label, Env};
use super::scripted::{PlanContext, Scripts};
use super::steps::StepCompiler;
use super::target::target;
use super::target_resources::TARGET_FIGURES;
use super::threshold::MetricKind;
use super::threshold::{parse_custom_expr, parse_expr, parse_metric, Threshold};
use super::workload::{peak_rate, workloads, WorkloadSpec};
use super::{Config, HostSpec, Limits, PlanSpec, TargetSpec};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long teardown steps may take when the plan does not say.
const DEFAULT_TEARDOWN_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) fn validate(
    raw: RawConfig,
    text: &str,
    file: &str,
    base_dir: Option<&Path>,
    env: Env<'_>,
    scripts: &dyn Scripts,
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
    let cx = PlanContext {
        limits: &limits,
        targets: &targets,
        raw_targets: &raw.targets,
        base_dir,
        env,
        scripts,
    };
    // The hash covers the scripts plans are given by: editing one starts a new baseline.
    let mut hashed = text.to_string();
    let mut plans = plans(&mut c, &cx, &raw, &mut hashed);
    check_total_rate(&mut c, &limits, &plans);
    check_custom_metrics(&mut c, &plans);
    let server = super::daemon::server(&mut c, &raw, env);
    let store = super::daemon::store(&mut c, &raw, base_dir);
    let host = host(&mut c, &raw);
    check_watched_processes(&mut c, &plans, &host);
    let mut secrets: Vec<String> = server.token.iter().cloned().collect();
    secrets.retain(|s| !s.is_empty());
    for p in &mut plans {
        if !secrets.is_empty() {
            Arc::make_mut(p).secrets.extend(secrets.iter().cloned());
        }
    }
    let warnings = c.take_warnings();
    c.finish(Config {
        warnings,
        source: file.to_string(),
        hash: fnv1a_hex(&hashed),
        limits,
        server,
        store,
        host,
        plans,
    })
}

/// Every plan, native or given by a script, each script's text added to `hashed`.
fn plans(
    c: &mut Collector,
    cx: &PlanContext<'_>,
    raw: &RawConfig,
    hashed: &mut String,
) -> Vec<Arc<PlanSpec>> {
    let mut plans = Vec::new();
    for (name, p) in &raw.plans {
        let Ok(script) = script_ref(c, name, p) else {
            continue;
        };
        let Some(script) = script else {
            if let Some(plan) = native_plan(c, cx, name, p) {
                if let Some(proc) = &plan.processor {
                    hashed.push_str(&proc.text);
                }
                plans.push(Arc::new(plan));
            }
            continue;
        };
        let path = format!("plans.{}", name.as_str());
        let target = p
            .target
            .as_ref()
            .and_then(|t| find_target(c, cx.targets, &raw.targets, t, &format!("{path}.target")));
        check_plan_name(c, name, &path);
        let given = super::scripted::scripted_plan(c, cx, name.as_str(), p, &script, target);
        if let Some((plan, script_text)) = given {
            hashed.push_str(&script_text);
            plans.push(Arc::new(plan));
        }
    }
    plans
}

/// A plan's name is a metric label's value and a file name: keep it to a safe set.
fn check_plan_name(c: &mut Collector, key: &super::raw::Key, path: &str) {
    let name = key.as_str();
    if !valid_label(name) {
        c.at(&key.0.referenced, path, format!("plan name {name:?} must match [a-zA-Z_][a-zA-Z0-9_.-]* (it becomes a metric label)"));
    }
}

/// The script a plan is given by, if any; `Err` when it names two (reported).
fn script_ref<'r>(
    c: &mut Collector,
    name: &super::raw::Key,
    p: &'r RawPlan,
) -> Result<Option<super::scripted::ScriptRef<'r>>, ()> {
    match (&p.artillery, &p.k6) {
        (Some(a), None) => Ok(Some(super::scripted::ScriptRef::Artillery {
            file: &a.file,
            environment: a.environment.as_ref().map(|e| e.value.as_str()),
        })),
        (None, Some(k)) => Ok(Some(super::scripted::ScriptRef::K6 {
            file: &k.file,
            env: k.env.iter().map(|(n, v)| (n.clone(), v.clone())).collect(),
        })),
        (Some(_), Some(k)) => {
            c.at(
                &k.file.referenced,
                &format!("plans.{}.k6", name.as_str()),
                "a plan is given by one script: `artillery` or `k6`, not both",
            );
            Err(())
        }
        (None, None) => Ok(None),
    }
}

/// A threshold on a process's CPU or memory needs the process in `host.processes`.
fn check_watched_processes(c: &mut Collector, plans: &[Arc<PlanSpec>], host: &HostSpec) {
    for p in plans {
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
}

fn fnv1a_hex(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// A plan's monitors: its own (`monitors`, each maybe feeding a declared metric) and the
/// target's resources (`resources`).
fn monitors(
    c: &mut Collector,
    limits: &Limits,
    p: &RawPlan,
    path: &str,
    steps: &StepCompiler<'_>,
) -> Vec<super::judging::MonitorSpec> {
    let mut monitors: Vec<_> = p
        .monitors
        .iter()
        .filter_map(|(n, m)| {
            let mp = format!("{path}.monitors.{n}");
            let mut spec = monitor(c, limits, n, m, &mp)?;
            spec.feeds = m
                .metric
                .as_ref()
                .and_then(|name| monitor_feed(c, &steps.custom, name, &format!("{mp}.metric")));
            Some(spec)
        })
        .collect();
    if let Some(r) = &p.resources {
        monitors.extend(super::target_resources::target_resources(
            c,
            limits,
            r,
            &format!("{path}.resources"),
        ));
    }
    monitors
}

/// A plan written in loadpacer's own YAML.
fn native_plan(
    c: &mut Collector,
    cx: &PlanContext<'_>,
    key: &super::raw::Key,
    p: &RawPlan,
) -> Option<PlanSpec> {
    let PlanContext {
        limits,
        targets,
        raw_targets,
        base_dir,
        ..
    } = *cx;
    let name = key.as_str();
    let path = format!("plans.{name}");
    check_plan_name(c, key, &path);
    let mut find_target = |c: &mut Collector, name: &S<String>, at: &str| {
        find_target(c, targets, raw_targets, name, at)
    };
    let target = match &p.target {
        Some(t) => find_target(c, t, &format!("{path}.target")),
        None => {
            c.nowhere(&format!("{path}.target"), "missing: name one of `targets` (or give the plan by a script with `artillery: { file: script.yml }` or `k6: { file: script.js }`)");
            None
        }
    };
    let (data, all_rows) = all_rows(c, p, &path, base_dir);
    let (mut steps, variables) = step_compiler(c, p, &path, &data, cx, all_rows);
    let processor = processor(c, p, &path, base_dir, &mut steps);
    let setup = steps.setup(c, &p.setup, &format!("{path}.setup"));
    let setup_captures = steps.base();
    let vu_setup = steps.vu_setup(c, &p.vu_setup, &format!("{path}.vu_setup"));
    let compiled = workloads(c, limits, p, &path, &mut steps, &mut find_target);
    let load_length = compiled.workloads.iter().map(WorkloadSpec::end).max();
    let timeout = target.as_ref().map(|(t, _)| t.timeout);
    let schedule = p.schedule.as_ref().and_then(|s| {
        super::schedule::schedule(c, s, &format!("{path}.schedule"), load_length, timeout)
    });
    let teardown = steps.teardown(c, &p.teardown, setup_captures, &format!("{path}.teardown"));
    let teardown_timeout = teardown_timeout(c, p, &path);
    let empty = undefined_empty(c, p, &path);
    steps.check_vars(c, empty);
    let judging = judging(c, limits, p, &path, &steps);
    let (target, mut secrets) = target?;
    secrets.extend(steps.secrets);
    secrets.extend(compiled.secrets);
    if compiled.workloads.is_empty() {
        return None;
    }
    Some(PlanSpec {
        name: name.to_string(),
        description: p.description.clone(),
        target,
        schedule,
        workloads: compiled.workloads,
        scenarios: compiled.scenarios,
        setup,
        vu_setup,
        teardown,
        teardown_timeout,
        fresh_vus: p.fresh_vus,
        data,
        variables,
        thresholds: judging.thresholds,
        grades: judging.grades,
        requests: steps.requests,
        checks: steps.checks,
        streams: steps.streams,
        request_grades: steps.request_grades,
        stream_grades: steps.stream_grades,
        secrets,
        capacity: judging.capacity,
        regression: judging.regression,
        monitors: judging.monitors,
        metrics: steps.custom,
        script: None,
        processor,
        request_buckets: judging.request_buckets,
    })
}

/// The compiler of the plan's steps, knowing the variables its data and `variables` give,
/// and the plan's variables compiled.
fn step_compiler<'e>(
    c: &mut Collector,
    p: &RawPlan,
    path: &str,
    data: &[super::DataSource],
    cx: &PlanContext<'e>,
    more: Vec<(String, Vec<super::VariableValue>)>,
) -> (StepCompiler<'e>, Vec<(String, Vec<super::VariableValue>)>) {
    let mut starting: Vec<String> = data.iter().flat_map(|d| d.columns.clone()).collect();
    starting.extend(p.variables.keys().cloned());
    starting.extend(more.iter().map(|(n, _)| n.clone()));
    let mut steps = StepCompiler::new(cx.env, starting);
    let mut variables = steps.variables(c, &p.variables, &format!("{path}.variables"));
    variables.extend(more);
    steps.base_dir = cx.base_dir.map(Path::to_path_buf);
    steps.custom = super::custom::custom_metrics(c, p.metrics.as_ref(), &format!("{path}.metrics"));
    (steps, variables)
}

/// Whether a variable nothing defines renders empty (`undefined_variables: empty`) rather
/// than being an error.
fn undefined_empty(c: &mut Collector, p: &RawPlan, path: &str) -> bool {
    super::rules::keyword(
        c,
        p.undefined_variables.as_ref(),
        &format!("{path}.undefined_variables"),
        &[("error", false), ("empty", true)],
        false,
    )
    .unwrap_or(false)
}

/// What a native plan is judged by, compiled.
struct Judging {
    thresholds: Vec<Threshold>,
    grades: Vec<super::GradeBand>,
    capacity: Option<super::CapacitySpec>,
    monitors: Vec<super::judging::MonitorSpec>,
    regression: Option<super::RegressionSpec>,
    request_buckets: Option<Arc<[f64]>>,
}

fn judging(
    c: &mut Collector,
    limits: &Limits,
    p: &RawPlan,
    path: &str,
    steps: &StepCompiler<'_>,
) -> Judging {
    Judging {
        thresholds: thresholds(c, p, path, steps),
        grades: grades(c, p, path),
        capacity: p
            .capacity
            .as_ref()
            .and_then(|cap| capacity(c, cap, &format!("{path}.capacity"))),
        monitors: monitors(c, limits, p, path, steps),
        regression: p
            .regression
            .as_ref()
            .map(|r| regression(c, r, &format!("{path}.regression"))),
        request_buckets: p
            .request_buckets
            .as_ref()
            .and_then(|b| super::rules::request_buckets(c, b, &format!("{path}.request_buckets"))),
    }
}

fn teardown_timeout(c: &mut Collector, p: &RawPlan, path: &str) -> Duration {
    p.teardown_timeout
        .as_ref()
        .and_then(|t| {
            duration(
                c,
                t,
                &format!("{path}.teardown_timeout"),
                Duration::from_millis(1),
            )
        })
        .unwrap_or(DEFAULT_TEARDOWN_TIMEOUT)
}

fn thresholds(
    c: &mut Collector,
    p: &RawPlan,
    path: &str,
    steps: &StepCompiler<'_>,
) -> Vec<Threshold> {
    let mut out = Vec::new();
    for (i, t) in p.thresholds.iter().enumerate() {
        let tp = format!("{path}.thresholds[{i}]");
        let custom = steps
            .custom
            .iter()
            .find(|m| m.name == t.metric.value.trim());
        let parsed = match custom {
            Some(m) => Ok((MetricKind::Custom, Some(m.name.clone()))),
            None => parse_metric(&t.metric.value),
        };
        let metric = match parsed {
            Ok(m) => m,
            Err(e) => {
                c.at(&t.metric.referenced, &format!("{tp}.metric"), e);
                continue;
            }
        };
        check_named(c, p, steps, t, &tp, &metric);
        let expr = match custom {
            Some(m) => parse_custom_expr(m.kind, m.unit, &t.expr.value),
            None => parse_expr(metric.0, &t.expr.value),
        };
        let (agg, op, value) = match expr {
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

/// The monitor, stream step or request a threshold names must exist in the plan.
fn check_named(
    c: &mut Collector,
    p: &RawPlan,
    steps: &StepCompiler<'_>,
    t: &super::raw::RawThreshold,
    tp: &str,
    metric: &(MetricKind, Option<String>),
) {
    let by_process = matches!(metric.0, MetricKind::ProcessCpu | MetricKind::ProcessRss);
    if metric.0 == MetricKind::Monitor {
        let name = metric.1.clone().unwrap_or_default();
        let watched = p.resources.as_ref().is_some_and(|r| {
            (name.starts_with("target.") && r.kubernetes.is_some())
                || (name.starts_with("node.") && r.nodes.as_ref().is_some_and(|n| !n.is_empty()))
        }) && TARGET_FIGURES.contains(&name.as_str());
        if name.starts_with("target.") || name.starts_with("node.") {
            if !watched {
                c.at(
                    &t.metric.referenced,
                    &format!("{tp}.metric"),
                    format!(
                        "{name:?} is not read: it needs a `resources` block with {} (figures: {})",
                        if name.starts_with("node.") {
                            "`nodes`"
                        } else {
                            "`kubernetes`"
                        },
                        TARGET_FIGURES.join(", ")
                    ),
                );
            }
        } else if !p.monitors.contains_key(&name) {
            c.at(
                &t.metric.referenced,
                &format!("{tp}.metric"),
                format!("monitor {name:?} is not defined under this plan's monitors"),
            );
        }
    } else if let Some(step) = metric.1.as_ref().filter(|_| metric.0.is_stream()) {
        if !steps.streams.iter().any(|s| &s.name == step) {
            c.at(
                &t.metric.referenced,
                &format!("{tp}.metric"),
                format!("step {step:?} is not a ws or sse step name of this plan"),
            );
        }
    } else if let Some(req) = metric
        .1
        .as_ref()
        .filter(|_| !by_process && metric.0 != MetricKind::Custom)
    {
        if !steps.requests.iter().any(|r| &r.name == req) {
            c.at(
                &t.metric.referenced,
                &format!("{tp}.metric"),
                format!("request {req:?} is not a request name of this plan"),
            );
        }
    }
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

/// Workloads of a plan run at once: their summed peak rate must fit `limits.max_rps` too.
pub(super) fn check_total_rate(c: &mut Collector, limits: &Limits, plans: &[Arc<PlanSpec>]) {
    for p in plans {
        let peak = peak_rate(&p.workloads);
        if peak > limits.max_rps {
            let at = if p.workloads.len() > 1 {
                "workloads"
            } else {
                "load"
            };
            c.nowhere(
                &format!("plans.{}.{at}", p.name),
                format!(
                    "peak rate {peak} exceeds limits.max_rps ({}){}",
                    limits.max_rps,
                    if p.workloads.len() > 1 {
                        " (the workloads that overlap in time add up)"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
}

/// A user-defined metric name is one family on `/metrics`: every plan that declares it must
/// give it the same type, unit and label.
fn check_custom_metrics(c: &mut Collector, plans: &[Arc<PlanSpec>]) {
    let mut first: BTreeMap<&str, (&str, &super::custom::CustomMetricSpec)> = BTreeMap::new();
    for p in plans {
        for m in &p.metrics {
            match first.get(m.name.as_str()) {
                Some((plan, other))
                    if (other.kind, other.unit, &other.label) != (m.kind, m.unit, &m.label) =>
                {
                    c.nowhere(
                        &format!("plans.{}.metrics.{}", p.name, m.name),
                        format!("metric {:?} is declared by plan {plan:?} with another type, unit or label; one name is one metric on /metrics", m.name),
                    );
                }
                Some(_) => {}
                None => {
                    first.insert(&m.name, (&p.name, m));
                }
            }
        }
    }
}

/// The metric a monitor feeds: a declared gauge or trend.
fn monitor_feed(
    c: &mut Collector,
    custom: &[super::custom::CustomMetricSpec],
    name: &S<String>,
    path: &str,
) -> Option<usize> {
    use super::custom::CustomKind;
    let Some(i) = custom.iter().position(|m| m.name == name.value) else {
        c.at(
            &name.referenced,
            path,
            format!("{:?} is not declared in the plan's `metrics`", name.value),
        );
        return None;
    };
    if !matches!(custom[i].kind, CustomKind::Gauge | CustomKind::Trend) {
        c.at(
            &name.referenced,
            path,
            format!(
                "a monitor feeds a gauge or a trend; {:?} is a {}",
                name.value,
                custom[i].kind.as_str()
            ),
        );
        return None;
    }
    Some(i)
}

/// Looks up a target by name; an unknown one is reported with the closest defined name.
fn find_target(
    c: &mut Collector,
    targets: &BTreeMap<String, (Arc<TargetSpec>, Vec<String>)>,
    raw_targets: &BTreeMap<String, RawTarget>,
    name: &S<String>,
    at: &str,
) -> Option<(Arc<TargetSpec>, Vec<String>)> {
    if let Some(t) = targets.get(&name.value) {
        return Some(t.clone());
    }
    // A defined target that failed its own checks was reported there.
    if !raw_targets.contains_key(&name.value) {
        let names: Vec<&str> = raw_targets.keys().map(String::as_str).collect();
        let hint = super::rules::closest(&name.value, &names)
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        c.at(
            &name.referenced,
            at,
            format!("{:?} is not a defined target{hint}", name.value),
        );
    }
    None
}
