//! k6 scripts as plans: the script's init context is evaluated once by [`crate::script`]
//! (with a host that refuses requests, as k6 does there) for its `options`, which become the
//! same [`PlanSpec`](super::PlanSpec) a YAML plan gives; its scenarios then call the script's
//! functions instead of running steps.

mod options;

use super::error::{ConfigError, ConfigErrors};
use super::scripted::NoScripts;
use super::{Config, ScriptPlan};
use crate::script::{Program, ScriptError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// What a user chooses on the command line, as k6's own flags do.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    /// `-e NAME=VALUE`: over the process environment in `__ENV`.
    pub env: Vec<(String, String)>,
    pub vus: Option<u64>,
    /// A loadpacer duration (`30s`, `1m30s`).
    pub duration: Option<String>,
    pub iterations: Option<u64>,
    /// `--stage 30s:10`, in order.
    pub stages: Vec<(String, u64)>,
    /// `--hosts NAME=ADDR`, over the script's `hosts`.
    pub hosts: Vec<(String, String)>,
}

/// Whether a file is to be read as a k6 script: a `.js`/`.mjs` name, or JavaScript that
/// imports k6.
pub fn is_k6(path: &Path, text: &str) -> bool {
    let js = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "js" | "mjs" | "cjs"));
    js || text.contains("from 'k6") || text.contains("from \"k6")
}

/// Loads a k6 script as a config with one plan, named after the file.
pub fn load(path: &Path, choices: &Choices) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    env.extend(choices.env.iter().cloned());
    let program = Program::load(path, env).map_err(|e| ConfigErrors(vec![located(e)]))?;
    not_k6(&program, path)?;
    let plan = super::artillery::plan_name(&file);
    let base = base_url(&program);
    let mut translated = options::translate(&program, &plan, &base, choices).map_err(|errs| {
        ConfigErrors(
            errs.into_iter()
                .map(|e| {
                    let (line, column) = program
                        .position(&program.entry, &needle(&e.path))
                        .unwrap_or((0, 0));
                    error(&file, line, column, &e.path, e.message)
                })
                .collect(),
        )
    })?;
    let env_lookup = |k: &str| std::env::var(k).ok();
    let mut cfg = super::parse::load_str_with(
        &translated.yaml,
        &file,
        path.parent(),
        &env_lookup,
        &NoScripts,
    )
    .map_err(|mut errs| {
        for e in &mut errs.0 {
            (e.line, e.column) = (0, 0);
            e.message = format!(
                "{} (in the plan translated from the script's options)",
                e.message
            );
        }
        errs
    })?;
    let functions = std::mem::take(&mut translated.functions);
    let named = named_thresholds(&translated.named_thresholds, &file)?;
    let mut warnings: Vec<ConfigError> = translated
        .warnings
        .into_iter()
        .map(|(p, m)| {
            let (line, column) = program
                .position(&program.entry, &needle(&p))
                .unwrap_or((0, 0));
            error(&file, line, column, &p, m)
        })
        .collect();
    let program = Arc::new(program);
    for plan in &mut cfg.plans {
        let p = Arc::get_mut(plan).expect("a plan just loaded is not shared");
        attach(p, &program, &functions, choices, &file)?;
        p.secrets.extend(secrets(&program));
        p.thresholds.extend(named.iter().cloned());
    }
    warnings.append(&mut cfg.warnings);
    cfg.warnings = warnings;
    Ok(cfg)
}

/// Words in an environment variable's name that make its value a secret.
const SECRET_WORDS: [&str; 9] = [
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "KEY",
    "AUTH",
    "CREDENTIAL",
    "COOKIE",
    "SESSION",
];

/// The values of the `__ENV` names a script's modules read whose names say they are secret
/// (`API_TOKEN`, `DB_PASSWORD`, …): redacted in every output like a config's `env.NAME` in a
/// header. A script's flow cannot be followed, so the name decides.
fn secrets(program: &Program) -> Vec<String> {
    let texts: Vec<String> = program.sources.texts();
    program
        .env
        .iter()
        .filter(|(name, value)| {
            let upper = name.to_ascii_uppercase();
            value.len() >= 4
                && SECRET_WORDS.iter().any(|w| upper.contains(w))
                && texts.iter().any(|t| {
                    t.contains(&format!("__ENV.{name}"))
                        || t.contains(&format!("__ENV['{name}']"))
                        || t.contains(&format!("__ENV[\"{name}\"]"))
                })
        })
        .map(|(_, value)| value.clone())
        .collect()
}

/// Refuses JavaScript that is no k6 script, saying which input was expected.
fn not_k6(program: &Program, path: &Path) -> Result<(), ConfigErrors> {
    if program.functions.iter().any(|f| f == "default")
        || program.options.get("scenarios").is_some()
    {
        return Ok(());
    }
    let text = program.sources.read(path).unwrap_or_default();
    let hint = if text.trim_start().starts_with('{') || text.contains("config:") {
        "; is this an Artillery script or a loadpacer config? Those are read from .yml, .yaml or .json files"
    } else {
        ""
    };
    Err(ConfigErrors(vec![error(
        &path.display().to_string(),
        0,
        0,
        "",
        format!(
            "is not a k6 script: it exports no default function and no options.scenarios{hint}"
        ),
    )]))
}

/// Gives the translated plan its script: each scenario calls its function (`exec`) instead
/// of running steps.
fn attach(
    p: &mut super::PlanSpec,
    program: &Arc<Program>,
    functions: &[(String, String)],
    choices: &Choices,
    file: &str,
) -> Result<(), ConfigErrors> {
    for s in &mut p.scenarios {
        let f = functions
            .iter()
            .find(|(n, _)| *n == s.name)
            .map_or("default".to_string(), |(_, f)| f.clone());
        if !program.functions.contains(&f) {
            return Err(ConfigErrors(vec![error(
                file,
                0,
                0,
                &format!("options.scenarios.{}.exec", s.name),
                format!("the script exports no function {f}"),
            )]));
        }
        s.steps.clear();
        s.script = Some(f);
    }
    p.script = Some(Arc::new(script_plan(program, &p.metrics, choices)));
    Ok(())
}

/// Thresholds on one request name, checked as the plan's are but for the name (a script names
/// its requests as it runs).
fn named_thresholds(
    rows: &[options::Row],
    file: &str,
) -> Result<Vec<super::Threshold>, ConfigErrors> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for r in rows {
        let path = format!("options.thresholds.{}", r.metric);
        let parsed = super::threshold::parse_metric(&r.metric).and_then(|(kind, request)| {
            let (agg, op, value) = super::threshold::parse_expr(kind, &r.expr)?;
            let delay = r
                .delay
                .as_deref()
                .map(|d| {
                    humantime::parse_duration(d).map_err(|e| format!("delayAbortEval {d:?}: {e}"))
                })
                .transpose()?
                .unwrap_or_default();
            Ok(super::Threshold {
                metric_text: r.metric.clone(),
                expr_text: r.expr.clone(),
                metric: kind,
                request,
                agg,
                op,
                value,
                abort_on_fail: r.abort,
                delay_abort_eval: delay,
            })
        });
        match parsed {
            Ok(t) => out.push(t),
            Err(e) => errors.push(error(file, 0, 0, &path, e)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errors))
    }
}

fn script_plan(
    program: &Arc<Program>,
    metrics: &[super::custom::CustomMetricSpec],
    choices: &Choices,
) -> ScriptPlan {
    let o = &program.options;
    let mut hosts: Vec<(String, String)> = o
        .get("hosts")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    hosts.extend(choices.hosts.iter().cloned());
    ScriptPlan {
        program: program.clone(),
        setup: program.functions.iter().any(|f| f == "setup"),
        teardown: program.functions.iter().any(|f| f == "teardown"),
        discard_bodies: o
            .get("discardResponseBodies")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        hosts,
        user_agent: o
            .get("userAgent")
            .and_then(Value::as_str)
            .map(str::to_string),
        setup_timeout: o
            .get("setupTimeout")
            .and_then(Value::as_str)
            .and_then(|d| humantime::parse_duration(d).ok())
            .unwrap_or(std::time::Duration::from_secs(60)),
        preallocated: o
            .get("scenarios")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, s)| Some((k.clone(), s.get("preAllocatedVUs")?.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default(),
        metrics: program
            .metrics
            .iter()
            .filter_map(|m| {
                Some((
                    m.name.clone(),
                    metrics.iter().position(|x| x.name == m.name)?,
                    m.is_time,
                ))
            })
            .collect(),
    }
}

/// The plan's target: the origin of the first absolute URL in the script (what its summary
/// names), or loopback when it has none.
fn base_url(program: &Program) -> String {
    let text = program
        .sources
        .read(Path::new(&program.entry))
        .unwrap_or_default();
    for scheme in ["http://", "https://"] {
        if let Some(i) = text.find(scheme) {
            let rest = &text[i..];
            let end = rest[scheme.len()..]
                .find(|c: char| {
                    c == '/' || c == '\'' || c == '"' || c == '`' || c == '$' || c.is_whitespace()
                })
                .map_or(rest.len(), |e| e + scheme.len());
            if let Ok(u) = url::Url::parse(&rest[..end]) {
                return u.origin().ascii_serialization();
            }
        }
    }
    "http://127.0.0.1".into()
}

/// What to look for in the script to place an option's error: its last key.
fn needle(path: &str) -> String {
    path.rsplit('.').next().unwrap_or(path).to_string()
}

fn error(file: &str, line: u32, column: u32, path: &str, message: String) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        line: line.into(),
        column: column.into(),
        path: path.to_string(),
        message,
    }
}

fn located(e: ScriptError) -> ConfigError {
    let message = if e.stack.trim().is_empty() {
        e.message
    } else {
        format!("{}\n{}", e.message, e.stack.trim_end())
    };
    error(&e.file, e.line, e.column, "", message)
}
