//! Which front end reads a file: a k6 script (`.js`) is run by [`super::k6`], an Artillery
//! script (top-level `config:` and `scenarios:`) is translated by [`super::artillery`],
//! anything else is a loadpacer config, whose plans may be given by Artillery scripts
//! (`plans.P.artillery`), read here too.

use super::artillery::{self, Choices};
use super::error::{Collector, ConfigErrors};
use super::k6;
use super::parse::{load_str_with, read_file};
use super::scripted::Scripts;
use super::Config;
use std::path::Path;

/// Reads a loadpacer config or an Artillery script (with its `-e` choice), resolving
/// `env.NAME` from the process environment. A script's translation warnings come first in
/// [`Config::warnings`].
pub fn load_file_with(path: &Path, choices: &Choices) -> Result<Config, ConfigErrors> {
    load_any(path, choices, &k6::Choices::default())
}

/// Reads a k6 script (with its command-line choices), an Artillery script or a loadpacer
/// config.
pub fn load_any(
    path: &Path,
    choices: &Choices,
    k6_choices: &k6::Choices,
) -> Result<Config, ConfigErrors> {
    let name = path.display().to_string();
    let text = read_file(path)?;
    if k6::is_k6(path, &text) {
        return k6::load(path, k6_choices);
    }
    let env = |k: &str| choices.env(k);
    if artillery::is_artillery(&text) {
        return artillery::load(&text, &name, path.parent(), choices, &env);
    }
    load_str(&text, &name, path.parent(), &env)
}

/// Reads, parses and validates a loadpacer config file, resolving `env.NAME` from the
/// process environment. Relative paths inside it (CSV data, scripts) are resolved against
/// its folder.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let text = read_file(path)?;
    load_str(&text, &path.display().to_string(), path.parent(), &|k| {
        std::env::var(k).ok()
    })
}

/// Parses and validates loadpacer config text. `file` names it in errors; `base_dir`
/// resolves relative paths; `env` looks up `env.NAME` references.
pub fn load_str(
    text: &str,
    file: &str,
    base_dir: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    load_str_with(text, file, base_dir, env, &ArtilleryScripts { env })
}

/// Plans given by Artillery scripts, translated as `loadpacer run script.yml` does.
struct ArtilleryScripts<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Scripts for ArtilleryScripts<'_> {
    fn load(
        &self,
        path: &Path,
        environment: Option<&str>,
    ) -> Result<(Config, String), ConfigErrors> {
        let name = path.display().to_string();
        let text = read_file(path)?;
        if !artillery::is_artillery(&text) {
            let mut c = Collector::new(&name);
            c.nowhere(
                "",
                "is not an Artillery script (it has no top-level `config:` and `scenarios:`)",
            );
            return Err(c.into_errors());
        }
        let choices = Choices {
            environment: environment.map(str::to_string),
            ..Choices::default()
        };
        let cfg = artillery::load(&text, &name, path.parent(), &choices, self.env)?;
        Ok((cfg, text))
    }

    fn load_k6(
        &self,
        path: &Path,
        env: &[(String, String)],
    ) -> Result<(Config, String), ConfigErrors> {
        let text = read_file(path)?;
        let choices = k6::Choices {
            env: env.to_vec(),
            ..k6::Choices::default()
        };
        let cfg = k6::load(path, &choices)?;
        Ok((cfg, text))
    }
}
