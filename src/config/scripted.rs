//! Plans given by a script file: `plans.P.artillery: { file, environment }` runs an Artillery
//! script as it is, and `plans.P.k6: { file, env }` a k6 script, so that the daemon
//! schedules, judges and exports them like its own plans.
//!
//! The script is read through [`Scripts`], which the caller supplies (the front end that
//! translates Artillery lives beside this module, not under it). The config around the
//! reference adds what a script has no words for (the schedule, baseline regression,
//! capacity, grades, monitors) and may point the plan at one of its own targets; its limits
//! and allowlist apply to the script's load as to any plan.

use super::error::Collector;
use super::grades::grades;
use super::judging::{capacity, monitor, regression};
use super::raw::{RawPlan, RawTarget, S};
use super::rules::Env;
use super::{host_allowed, Config, ConfigErrors, Limits, LoadShape, PlanSpec, TargetSpec};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Reads and validates the script a plan refers to.
pub trait Scripts {
    /// The script at `path` as a config of one plan, with the text it was read from (part of
    /// the referring config's hash, so that editing the script starts a new baseline).
    fn load(
        &self,
        path: &Path,
        environment: Option<&str>,
    ) -> Result<(Config, String), ConfigErrors>;

    /// The k6 script at `path` with `__ENV` values `env` over the process environment.
    fn load_k6(
        &self,
        path: &Path,
        env: &[(String, String)],
    ) -> Result<(Config, String), ConfigErrors> {
        let _ = env;
        self.load(path, None)
    }
}

/// Which script a plan refers to.
pub(super) enum ScriptRef<'a> {
    Artillery {
        file: &'a S<String>,
        environment: Option<&'a str>,
    },
    K6 {
        file: &'a S<String>,
        env: Vec<(String, String)>,
    },
}

impl ScriptRef<'_> {
    fn file(&self) -> &S<String> {
        match self {
            ScriptRef::Artillery { file, .. } | ScriptRef::K6 { file, .. } => file,
        }
    }

    /// The plan field it is given in.
    fn field(&self) -> &'static str {
        match self {
            ScriptRef::Artillery { .. } => "artillery",
            ScriptRef::K6 { .. } => "k6",
        }
    }
}

/// For text that may not refer to scripts (a translated script itself, or a config string).
pub struct NoScripts;

impl Scripts for NoScripts {
    fn load(&self, path: &Path, _: Option<&str>) -> Result<(Config, String), ConfigErrors> {
        let mut c = Collector::new(path.display().to_string());
        c.nowhere(
            "",
            "a plan given by a script is read from a config file (`loadpacer validate FILE`, `serve --config FILE`)",
        );
        Err(c.into_errors())
    }
}

/// What every plan of a file is compiled against.
pub(super) struct PlanContext<'a> {
    pub limits: &'a Limits,
    pub targets: &'a BTreeMap<String, (Arc<TargetSpec>, Vec<String>)>,
    pub raw_targets: &'a BTreeMap<String, RawTarget>,
    /// The config file's folder: relative paths (data files, scripts) are under it.
    pub base_dir: Option<&'a Path>,
    pub env: Env<'a>,
    pub scripts: &'a dyn Scripts,
}

/// What a plan given by a script may set beside `artillery`; everything else is the
/// script's.
const ALONGSIDE: &str =
    "description, target, schedule, capacity, regression, grades, monitors, resources and request_buckets";

/// The plan `name` from its script, with the settings around the reference applied.
/// `target` is the config's target the plan names, if it names one. Returns the plan and the
/// script's text.
pub(super) fn scripted_plan(
    c: &mut Collector,
    cx: &PlanContext<'_>,
    name: &str,
    p: &RawPlan,
    script: &ScriptRef<'_>,
    target: Option<(Arc<TargetSpec>, Vec<String>)>,
) -> Option<(PlanSpec, String)> {
    let path = format!("plans.{name}");
    refuse_script_fields(c, p, &path, &script.file().value, script.field());
    let (mut plan, text) = load_script(c, cx, &path, script)?;
    plan.name = name.to_string();
    if let Some(d) = &p.description {
        plan.description = Some(d.clone());
    }
    let at = (script.file(), format!("{path}.{}", script.field()));
    match target {
        Some((t, secrets)) => retarget(&mut plan, t, secrets),
        None if p.target.is_some() => return None, // an unknown target, reported by the caller
        None => {
            let host = plan.target.base_url.host_str().unwrap_or_default();
            if let Err(why) = host_allowed(host, &cx.limits.allow_targets) {
                c.at(
                    &at.0.referenced,
                    &format!("{}.file", at.1),
                    format!("the script's target {}: {why}; point the plan at one of this file's targets with `target:`, or allow the host", plan.target.base_url),
                );
            }
        }
    }
    for (i, w) in plan.workloads.iter().enumerate() {
        if let LoadShape::Open { max_in_flight, .. } = &w.load.shape {
            if *max_in_flight > cx.limits.max_in_flight {
                c.nowhere(
                    &at.1,
                    format!("workload {i} of the script allows {max_in_flight} requests in flight (maxVusers), above limits.max_in_flight ({})", cx.limits.max_in_flight),
                );
            }
        }
    }
    apply_settings(c, cx.limits, &mut plan, p, &path);
    Some((plan, text))
}

/// The one plan the script gives, and the script's text; errors are the script's own,
/// listed with its name, and one at the reference.
fn load_script(
    c: &mut Collector,
    cx: &PlanContext<'_>,
    path: &str,
    script: &ScriptRef<'_>,
) -> Option<(PlanSpec, String)> {
    let (field, given) = (script.field(), script.file());
    let file = cx.base_dir.map_or_else(
        || Path::new(&given.value).to_path_buf(),
        |d| d.join(&given.value),
    );
    let loaded = match script {
        ScriptRef::Artillery { environment, .. } => cx.scripts.load(&file, *environment),
        ScriptRef::K6 { env, .. } => cx.scripts.load_k6(&file, env),
    };
    let at = format!("{path}.{field}.file");
    let (cfg, text) = match loaded {
        Ok(loaded) => loaded,
        Err(errors) => {
            let why = format!(
                "{} does not load ({} error(s), listed with its name)",
                file.display(),
                errors.0.len()
            );
            c.at(&given.referenced, &at, why);
            c.absorb(errors);
            return None;
        }
    };
    c.add_warnings(cfg.warnings.clone());
    let [from_script] = cfg.plans.as_slice() else {
        let why = format!(
            "{} gives {} plans; a script gives one",
            file.display(),
            cfg.plans.len()
        );
        c.at(&given.referenced, &at, why);
        return None;
    };
    Some(((**from_script).clone(), text))
}

/// Points the plan, and every workload that used the script's target, at the config's
/// target.
fn retarget(plan: &mut PlanSpec, t: Arc<TargetSpec>, secrets: Vec<String>) {
    let old = plan.target.name.clone();
    for w in plan.workloads.iter_mut() {
        if w.target.as_ref().is_some_and(|wt| wt.name == old) {
            w.target = Some(t.clone());
        }
    }
    plan.target = t;
    plan.secrets.extend(secrets);
}

/// What the daemon config adds around a script: schedule, capacity, regression, request
/// buckets, grades, monitors and resources.
fn apply_settings(
    c: &mut Collector,
    limits: &Limits,
    plan: &mut PlanSpec,
    p: &RawPlan,
    path: &str,
) {
    plan.schedule = p.schedule.as_ref().and_then(|s| {
        super::schedule::schedule(
            c,
            s,
            &format!("{path}.schedule"),
            Some(plan.duration()),
            Some(plan.target.timeout),
        )
    });
    if let Some(cap) = &p.capacity {
        plan.capacity = capacity(c, cap, &format!("{path}.capacity"));
    }
    if let Some(r) = &p.regression {
        plan.regression = Some(regression(c, r, &format!("{path}.regression")));
    }
    if let Some(b) = &p.request_buckets {
        plan.request_buckets =
            super::rules::request_buckets(c, b, &format!("{path}.request_buckets"));
    }
    if p.grades.is_some() {
        plan.grades = grades(c, p, path);
    }
    plan.monitors.extend(p.monitors.iter().filter_map(|(n, m)| {
        let mp = format!("{path}.monitors.{n}");
        if m.metric.is_some() {
            c.nowhere(&format!("{mp}.metric"), "a script declares no metrics for a monitor to feed; `loadpacer import` the script to add them");
        }
        monitor(c, limits, n, m, &mp)
    }));
    if let Some(r) = &p.resources {
        plan.monitors
            .extend(super::target_resources::target_resources(
                c,
                limits,
                r,
                &format!("{path}.resources"),
            ));
    }
}

/// Fields that would change the load or the flow belong to the script.
fn refuse_script_fields(c: &mut Collector, p: &RawPlan, path: &str, file: &str, kind: &str) {
    let set = [
        ("load", p.load.is_some()),
        ("scenarios", !p.scenarios.is_empty()),
        ("workloads", p.workloads.is_some()),
        ("setup", !p.setup.is_empty()),
        ("vu_setup", !p.vu_setup.is_empty()),
        ("teardown", !p.teardown.is_empty()),
        ("teardown_timeout", p.teardown_timeout.is_some()),
        ("data", p.data.is_some()),
        ("fresh_vus", p.fresh_vus),
        ("undefined_variables", p.undefined_variables.is_some()),
        ("variables", !p.variables.is_empty()),
        ("thresholds", !p.thresholds.is_empty()),
        ("metrics", p.metrics.is_some()),
    ];
    for (field, _) in set.iter().filter(|(_, on)| *on) {
        c.nowhere(
            &format!("{path}.{field}"),
            if kind == "k6" {
                format!("comes from the script {file} (its `options` give the load and the thresholds); beside `k6` a plan sets only {ALONGSIDE}")
            } else {
                format!("comes from the script {file} (its `ensure` gives the thresholds); beside `artillery` a plan sets only {ALONGSIDE}, or `loadpacer import {file}` it and edit the plan")
            },
        );
    }
}
