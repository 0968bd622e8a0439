//! Artillery scripts as input: a file with top-level `config:` and `scenarios:` is read as
//! Artillery YAML, translated into the equivalent loadpacer plan (`translate`), and that plan
//! is validated and run like any other. Errors point into the script; `loadpacer import`
//! prints the plan so that a user can switch for good. docs/artillery.md lists what is
//! covered, approximated and refused.

mod script;
mod translate;

use super::error::{Collector, ConfigErrors};
use super::parse::yaml_options;
use super::scripted::NoScripts;
use super::Config;
use std::collections::BTreeMap;
use std::path::Path;
pub use translate::Translation;

/// What a user chooses when running a script, as Artillery's own flags do.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    /// `-e NAME`: `config.environments.NAME` overrides the target, phases, defaults, …
    pub environment: Option<String>,
    /// `--variables JSON`: values added to `config.variables`, over the script's own.
    pub variables: BTreeMap<String, serde_json::Value>,
    /// `--config FILE` (as `{config: …}`) then `--overrides JSON`: merged over the script,
    /// maps key by key, anything else replaced, as Artillery merges them.
    pub overlays: Vec<serde_json::Value>,
    /// `--dotenv FILE`: environment variables read before the process's own.
    pub dotenv: BTreeMap<String, String>,
}

impl Choices {
    /// An environment variable: from `--dotenv` first, else the process's.
    pub fn env(&self, name: &str) -> Option<String> {
        self.dotenv
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    }
}

/// Merges `over` into `base`: maps key by key, anything else replaced.
fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The script with `--config` and `--overrides` merged in, as JSON text (YAML to the
/// parser); errors then point into that text, which `loadpacer import` shows.
fn overlaid(text: &str, overlays: &[serde_json::Value]) -> Result<String, String> {
    let mut script: serde_json::Value =
        serde_saphyr::from_str_with_options(text, yaml_options(text.len()))
            .map_err(|e| e.to_string())?;
    for o in overlays {
        merge(&mut script, o);
    }
    serde_json::to_string_pretty(&script).map_err(|e| e.to_string())
}

/// True when the text is an Artillery script: top-level `config:` and `scenarios:` keys, in
/// YAML or in JSON (Artillery runs `.json` scripts too; JSON is YAML to the parser that
/// reads the script).
pub fn is_artillery(text: &str) -> bool {
    let top = |key: &str| {
        text.lines()
            .any(|l| l.starts_with(key) && l[key.len()..].trim_start().starts_with(':'))
    };
    if top("config") && top("scenarios") {
        return true;
    }
    text.trim_start().starts_with('{')
        && serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| {
            v.get("config").is_some_and(|c| c.is_object()) && v.get("scenarios").is_some()
        })
}

/// The script translated into a loadpacer plan named after the file, or every error found,
/// located in the script.
/// `env` reads the environment variables a script's `{{ $processEnvironment.NAME }}` config
/// values name.
pub fn translate(
    text: &str,
    file: &str,
    choices: &Choices,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Translation, ConfigErrors> {
    let mut c = Collector::new(file);
    let merged;
    let text = if choices.overlays.is_empty() {
        text
    } else {
        match overlaid(text, &choices.overlays) {
            Ok(t) => {
                merged = t;
                merged.as_str()
            }
            Err(why) => {
                c.nowhere(
                    "",
                    format!("cannot merge --config/--overrides into the script: {why}"),
                );
                return Err(c.into_errors());
            }
        }
    };
    // Every unknown field at once, as for a loadpacer file; the rest is still translated so
    // that its errors come in the same report.
    let mut script: script::Script = match super::parse::parse_every_unknown(text) {
        Ok((s, _, unknown)) => {
            for (loc, msg) in unknown {
                c.at(&loc, "", msg);
            }
            s
        }
        Err(found) => {
            for (loc, msg) in found {
                c.at(&loc, "", msg);
            }
            return Err(c.into_errors());
        }
    };
    for (k, v) in &choices.variables {
        let at = serde_saphyr::Location::UNKNOWN;
        script.config.variables.insert(
            k.clone(),
            crate::config::raw::S {
                value: v.clone(),
                referenced: at,
                defined: at,
            },
        );
    }
    let name = plan_name(file);
    let t = translate::translate(&script, &name, choices.environment.as_deref(), env, &mut c);
    let errors = c.into_errors();
    if errors.0.is_empty() {
        Ok(t)
    } else {
        Err(errors)
    }
}

/// The names of a script's `config.environments` (empty when it does not parse).
pub fn environment_names(text: &str) -> Vec<String> {
    serde_saphyr::from_str_with_options::<script::Script>(text, yaml_options(text.len()))
        .map(|s| s.config.environments.keys().cloned().collect())
        .unwrap_or_default()
}

/// Loads a script as a config: translated, then validated as loadpacer YAML. An error in the
/// translated plan is reported at the script line it came from; the translation's warnings
/// come first in [`Config::warnings`].
pub fn load(
    text: &str,
    file: &str,
    base_dir: Option<&Path>,
    choices: &Choices,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    translated(text, file, base_dir, choices, env).map(|(cfg, _)| cfg)
}

/// The script translated and the translation validated: the config and the plan's text
/// (what `loadpacer import` prints, which therefore always validates), or every error,
/// located in the script.
pub fn translated(
    text: &str,
    file: &str,
    base_dir: Option<&Path>,
    choices: &Choices,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Translation), ConfigErrors> {
    let t = translate(text, file, choices, env)?;
    let to_script = |e: &mut super::error::ConfigError| {
        let origin = e
            .line
            .checked_sub(1)
            .and_then(|i| t.origins.get(i as usize))
            .filter(|l| l.line() > 0);
        (e.line, e.column) = origin.map_or((0, 0), |l| (l.line(), l.column()));
        e.message = format!(
            "{} (in the translated plan: `loadpacer import {file}`)",
            e.message
        );
    };
    match super::parse::load_str_with(&t.yaml, file, base_dir, env, &NoScripts) {
        Ok(mut cfg) => {
            cfg.warnings.iter_mut().for_each(to_script);
            let mut warnings = t.warnings.clone();
            warnings.append(&mut cfg.warnings);
            cfg.warnings = warnings;
            Ok((cfg, t))
        }
        Err(mut errors) => {
            errors.0.iter_mut().for_each(to_script);
            Err(errors)
        }
    }
}

/// The plan's name: the file's stem as a metric label (`checkout.yml` → `checkout`).
pub(crate) fn plan_name(file: &str) -> String {
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("artillery");
    let mut name: String = stem
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' {
                ch
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_') {
        name.insert(0, '_');
    }
    name
}
