//! One file per command; `main.rs` only parses the arguments and dispatches. What several
//! commands share (loading a file, describing a plan, writing reports) lives here.

pub(crate) mod client;
pub(crate) mod demo_target;
pub(crate) mod hit;
pub(crate) mod merge;
pub(crate) mod outputs;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod signals;
pub(crate) mod store;

use anyhow::{bail, Context, Result};
use loadpacer::config::{self, Config, PlanSpec};
use loadpacer::report::Summary;
use std::path::{Path, PathBuf};

/// How an Artillery script is read, as Artillery's own flags say it.
#[derive(clap::Args, Clone, Default)]
pub(crate) struct ScriptArgs {
    /// Artillery scripts: `-e NAME` uses `config.environments.NAME`. k6 scripts:
    /// `-e NAME=VALUE` (repeatable) sets `__ENV.NAME` over the process environment.
    #[arg(short = 'e', long, alias = "env", value_name = "NAME or NAME=VALUE")]
    pub environment: Vec<String>,
    /// Artillery scripts: variables as a JSON object, added to `config.variables` (over
    /// the script's own). Example: --variables '{"user": "ann", "sizes": [1, 2]}'
    #[arg(long, value_name = "JSON")]
    pub variables: Option<String>,
    /// Artillery scripts: a JSON object merged over the script (maps key by key, anything
    /// else replaced). Example: --overrides '{"config": {"phases": [{"duration": 10, "arrivalRate": 2}]}}'
    #[arg(long, value_name = "JSON")]
    pub overrides: Option<String>,
    /// Artillery scripts: read `config` from this file (YAML or JSON, with or without a
    /// top-level `config:`), merged over the script's, before --overrides.
    #[arg(long = "config", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Read environment variables (for `{{ $processEnvironment.NAME }}` and `env.NAME`) from
    /// this .env file first, then from the process.
    #[arg(long, value_name = "FILE")]
    pub dotenv: Option<PathBuf>,
    /// k6 scripts: virtual users, over the script's options (as k6's --vus).
    #[arg(long, value_name = "N")]
    pub vus: Option<u64>,
    /// k6 scripts: how long VUs run, over the script's options. Example: --duration 30s
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// k6 scripts: iterations in all, over the script's options.
    #[arg(long, value_name = "N")]
    pub iterations: Option<u64>,
    /// k6 scripts: a ramping stage DURATION:VUS, repeatable, over the script's options.
    /// Example: --stage 10s:20 --stage 20s:0
    #[arg(long = "stage", short = 's', value_name = "DURATION:VUS")]
    pub stages: Vec<String>,
    /// k6 scripts: send requests for host NAME to ADDR (as the script's `hosts` option), to
    /// point a script's absolute URLs at another host. Example: --hosts api.test=127.0.0.1:8080
    #[arg(long, value_name = "NAME=ADDR")]
    pub hosts: Vec<String>,
}

impl ScriptArgs {
    /// [`ScriptArgs::choices`], saying on stderr why not (the caller exits 2).
    pub fn choices_or_say(&self) -> Option<config::artillery::Choices> {
        self.choices().map_err(|why| eprintln!("error: {why}")).ok()
    }

    /// The choices these flags make, or why a flag's value is unusable.
    pub fn choices(&self) -> std::result::Result<config::artillery::Choices, String> {
        let json = |flag: &str, text: &str| {
            serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| format!("--{flag} must be a JSON object, e.g. '{{\"name\": 1}}'"))
        };
        let names: Vec<&String> = self
            .environment
            .iter()
            .filter(|e| !e.contains('='))
            .collect();
        if names.len() > 1 {
            return Err("-e NAME chooses one Artillery environment; give it once (k6's -e takes NAME=VALUE)".into());
        }
        let mut choices = config::artillery::Choices {
            environment: names.first().map(|s| s.to_string()),
            ..Default::default()
        };
        if let Some(v) = &self.variables {
            if let serde_json::Value::Object(m) = json("variables", v)? {
                choices.variables = m.into_iter().collect();
            }
        }
        if let Some(f) = &self.config_file {
            let text = config::read_file(f).map_err(|e| format!("--config: {e}"))?;
            let value: serde_json::Value = config::parse_yaml_value(&text)
                .map_err(|e| format!("--config {}: {e}", f.display()))?;
            let cfg = match value.get("config") {
                Some(c) => c.clone(),
                None => value,
            };
            choices.overlays.push(serde_json::json!({ "config": cfg }));
        }
        if let Some(o) = &self.overrides {
            choices.overlays.push(json("overrides", o)?);
        }
        if let Some(f) = &self.dotenv {
            let vars =
                dotenvy::from_path_iter(f).map_err(|e| format!("--dotenv {}: {e}", f.display()))?;
            for item in vars {
                let (k, v) = item.map_err(|e| format!("--dotenv {}: {e}", f.display()))?;
                choices.dotenv.insert(k, v);
            }
        }
        Ok(choices)
    }

    /// What the k6 flags choose, or why a value is unusable.
    pub fn k6_choices(&self) -> std::result::Result<config::k6::Choices, String> {
        let pair = |flag: &str, s: &String| {
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("{flag} {s:?}: write NAME=VALUE"))
        };
        let mut env = Vec::new();
        for e in self.environment.iter().filter(|e| e.contains('=')) {
            env.push(pair("-e", e)?);
        }
        let mut hosts = Vec::new();
        for h in &self.hosts {
            hosts.push(pair("--hosts", h)?);
        }
        let mut stages = Vec::new();
        for s in &self.stages {
            let (d, n) = s
                .split_once(':')
                .and_then(|(d, n)| Some((d, n.parse::<u64>().ok()?)))
                .filter(|(d, _)| humantime::parse_duration(d).is_ok())
                .ok_or_else(|| format!("--stage {s:?}: write DURATION:VUS, e.g. 30s:10"))?;
            stages.push((d.to_string(), n));
        }
        if let Some(d) = &self.duration {
            humantime::parse_duration(d)
                .map_err(|_| format!("--duration {d:?}: write a duration, e.g. 30s or 1m30s"))?;
        }
        Ok(config::k6::Choices {
            env,
            vus: self.vus,
            duration: self.duration.clone(),
            iterations: self.iterations,
            stages,
            hosts,
        })
    }

    /// Both sets of choices, saying on stderr why not (the caller exits 2).
    pub fn all_choices_or_say(&self) -> Option<(config::artillery::Choices, config::k6::Choices)> {
        let a = self.choices_or_say()?;
        let k = self
            .k6_choices()
            .map_err(|why| eprintln!("error: {why}"))
            .ok()?;
        Some((a, k))
    }
}

pub(crate) fn load(file: &Path) -> Option<Config> {
    load_with(
        file,
        &config::artillery::Choices::default(),
        &config::k6::Choices::default(),
    )
}

/// Loads a loadpacer file or an Artillery script (with its `-e` choice), printing every
/// error, and the translation's warnings, to stderr.
pub(crate) fn load_with(
    file: &Path,
    choices: &config::artillery::Choices,
    k6: &config::k6::Choices,
) -> Option<Config> {
    match config::load_any(file, choices, k6) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            Some(c)
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "{} error(s) in {}; fix them and run `loadpacer validate {}`",
                errors.0.len(),
                file.display(),
                file.display()
            );
            None
        }
    }
}

pub(crate) fn validate(file: &Path, script: &ScriptArgs) -> u8 {
    let Some((choices, k6)) = script.all_choices_or_say() else {
        return 2;
    };
    let environment = choices.environment.clone();
    // An Artillery script is checked in every environment it has, not only the one chosen:
    // a target outside the allowlist in `environments.staging` must not wait for the day
    // someone runs `-e staging`.
    let others: Vec<String> = match config::read_file(file) {
        Ok(text) if config::artillery::is_artillery(&text) => {
            config::artillery::environment_names(&text)
                .into_iter()
                .filter(|e| Some(e) != environment.as_ref())
                .collect()
        }
        _ => Vec::new(),
    };
    let Some(cfg) = load_with(file, &choices, &k6) else {
        return 2;
    };
    let mut broken = false;
    for env in others {
        let choices = config::artillery::Choices {
            environment: Some(env.clone()),
            ..choices.clone()
        };
        if let Err(e) = config::load_file_with(file, &choices) {
            eprintln!("with -e {env}:\n{e}");
            broken = true;
        }
    }
    if broken {
        return 2;
    }
    for p in &cfg.plans {
        println!("{}", describe_plan(p));
    }
    println!("{}: OK, {} plan(s)", file.display(), cfg.plans.len());
    0
}

/// `loadpacer import FILE`: the loadpacer plan equivalent to an Artillery script, on stdout.
pub(crate) fn import(file: &Path, script: &ScriptArgs) -> u8 {
    let Some(choices) = script.choices_or_say() else {
        return 2;
    };
    let text = match config::read_file(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    if !config::artillery::is_artillery(&text) {
        eprintln!(
            "error: {} is not an Artillery script (it has no top-level `config:` and `scenarios:`); a loadpacer file needs no import",
            file.display()
        );
        return 2;
    }
    let env = |k: &str| choices.env(k);
    let name = file.display().to_string();
    // The printed plan is the one `run` would run: validated, errors located in the script.
    match config::artillery::translated(&text, &name, file.parent(), &choices, &env) {
        Ok((cfg, t)) => {
            for w in &cfg.warnings {
                eprintln!("warning: {w}");
            }
            print!("{}", t.yaml);
            0
        }
        Err(errors) => {
            eprintln!("{errors}");
            2
        }
    }
}

/// The config JSON Schema (pretty, with a final newline) or the Markdown field reference.
pub(crate) fn schema(markdown: bool) -> String {
    if markdown {
        config::schema::reference_markdown()
    } else {
        let mut text = serde_json::to_string_pretty(&config::schema::json_schema())
            .expect("a schema serialises");
        text.push('\n');
        text
    }
}

pub(crate) fn describe_plan(p: &PlanSpec) -> String {
    let requests: usize = p.requests.len();
    let shape = match p.single_load() {
        Some(load) => describe_load(load),
        None => format!("{} workloads at once", p.workloads.len()),
    };
    let mut text = format!(
        "plan {}: {}, {} → {}, {} scenario(s), {} request(s), {} check(s), {} threshold(s)",
        p.name,
        humantime::format_duration(p.duration()),
        shape,
        p.target.base_url,
        p.scenarios.len(),
        requests,
        p.checks.len(),
        p.thresholds.len(),
    );
    for w in &p.workloads {
        if p.workloads.len() > 1 {
            text.push_str(&format!(
                "\n  workload {}: from {} for {}, {}{}",
                w.name,
                humantime::format_duration(w.start),
                humantime::format_duration(w.load.duration()),
                describe_load(&w.load),
                w.target
                    .as_ref()
                    .map(|t| format!(" → {}", t.base_url))
                    .unwrap_or_default()
            ));
        }
        if let Some(preset) = w.load.preset {
            text.push_str(&format!(
                "\n  preset {}: {}",
                preset.as_str(),
                shape_steps(&w.load.shape)
            ));
        }
    }
    text
}

fn describe_load(load: &config::LoadSpec) -> String {
    match &load.shape {
        config::LoadShape::Open {
            phases,
            max_in_flight,
        } => {
            let peak = phases
                .iter()
                .map(|ph| ph.rate.max(ph.ramp_to))
                .fold(0.0, f64::max);
            format!(
                "open model, {} phase(s), peak {peak}/s, max_in_flight {max_in_flight}",
                phases.len()
            )
        }
        config::LoadShape::Closed { stages } => format!(
            "closed model, {} stage(s), peak {} VUs",
            stages.len(),
            stages.iter().map(|s| s.target).max().unwrap_or(0)
        ),
    }
}

/// A load shape's steps in words: `0→50 VUs in 1m, 50→100 in 6m, ...`.
fn shape_steps(shape: &config::LoadShape) -> String {
    let d = |d: std::time::Duration| humantime::format_duration(d).to_string();
    match shape {
        config::LoadShape::Open { phases, .. } => phases
            .iter()
            .map(|p| format!("{} {}→{}/s in {}", p.name, p.rate, p.ramp_to, d(p.duration)))
            .collect::<Vec<_>>()
            .join(", "),
        config::LoadShape::Closed { stages } => {
            let mut from = 0;
            stages
                .iter()
                .map(|s| {
                    let step = format!("{from}→{} VUs in {}", s.target, d(s.duration));
                    from = s.target;
                    step
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

pub(crate) fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

pub(crate) fn per_plan_path(path: &Path, plan: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!("{stem}-{plan}{ext}"))
}

/// A segment's summary.json with its recorded histograms is at most a few MiB.
const MAX_SUMMARY_BYTES: u64 = 64 * 1024 * 1024;

pub(crate) fn read_summary(path: &Path) -> Result<Summary> {
    let text = loadpacer::files::read_text(path, MAX_SUMMARY_BYTES)
        .with_context(|| format!("{} is not readable as a summary", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if v["schema_version"] != 1 {
        bail!(
            "{} has schema_version {}; this loadpacer reads version 1",
            path.display(),
            v["schema_version"]
        );
    }
    Summary::from_json(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a loadpacer summary (schemas/summary.v1.json): {e}",
            path.display()
        )
    })
}
