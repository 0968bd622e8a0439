//! Reading a file: size cap, YAML budgets, and serde errors turned into located errors.

use super::error::{Collector, ConfigErrors};
use super::raw::RawConfig;
use super::{validate, Config};
use serde_saphyr::{Budget, Error as YamlError, Location, Options};
use std::path::Path;

/// Larger files are refused before parsing (a plan file is a few KiB).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads, parses and validates a config file, resolving `env.NAME` from the process
/// environment. Relative paths inside it (CSV data) are resolved against its folder.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let name = path.display().to_string();
    let mut errors = Collector::new(&name);
    let text = match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            errors.nowhere(
                "",
                format!(
                    "file is {} bytes; the limit is {MAX_FILE_BYTES} bytes",
                    m.len()
                ),
            );
            return errors.finish(unreachable_config());
        }
        Ok(_) => std::fs::read_to_string(path),
        Err(e) => Err(e),
    };
    match text {
        Ok(text) => load_str(&text, &name, path.parent(), &|k| std::env::var(k).ok()),
        Err(e) => {
            errors.nowhere("", format!("cannot read the file: {e}"));
            errors.finish(unreachable_config())
        }
    }
}

// `Collector::finish` with errors never returns the value; this only satisfies the type.
fn unreachable_config() -> Config {
    Config {
        source: String::new(),
        hash: String::new(),
        limits: validate::default_limits(),
        server: super::daemon::default_server(),
        store: super::daemon::default_store(),
        host: super::HostSpec::default(),
        plans: Vec::new(),
    }
}

/// Parses and validates config text. `file` names it in errors; `base_dir` resolves relative
/// paths; `env` looks up `env.NAME` references.
pub fn load_str(
    text: &str,
    file: &str,
    base_dir: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let mut errors = Collector::new(file);
    if text.len() as u64 > MAX_FILE_BYTES {
        errors.nowhere(
            "",
            format!(
                "file is {} bytes; the limit is {MAX_FILE_BYTES} bytes",
                text.len()
            ),
        );
        return errors.finish(unreachable_config());
    }
    let raw: RawConfig = match serde_saphyr::from_str_with_options(text, yaml_options()) {
        Ok(raw) => raw,
        Err(e) => {
            let (loc, msg) = describe(&e);
            errors.at(&loc, "", msg);
            return errors.finish(unreachable_config());
        }
    };
    validate::validate(raw, text, file, base_dir, env)
}

fn yaml_options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = 32;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_events = 500_000;
    budget.max_recorded_anchor_events = 100_000;
    let mut options = Options::default();
    options.budget = Some(budget);
    options
}

/// A one-line message and the location of a YAML or serde error, with a "did you mean" for
/// misspelt keys.
fn describe(e: &YamlError) -> (Location, String) {
    let loc = e.location().unwrap_or(Location::UNKNOWN);
    let msg = match e.without_snippet() {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            let hint = closest(field, expected)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            format!(
                "unknown field `{field}`{hint} (expected one of: {})",
                expected.join(", ")
            )
        }
        other => first_line(&other.to_string()),
    };
    (loc, msg)
}

/// The message without the location suffix serde-saphyr adds (we print the location first).
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s).trim();
    let line = match line.find(" at line ") {
        Some(i) => line[..i].trim_end_matches(','),
        None => line,
    };
    match line.strip_prefix("budget breached: ") {
        Some(what) => format!("refused: the YAML expands beyond the parser budget ({what}); anchors/aliases or nesting are too large"),
        None => line.to_string(),
    }
}

/// The expected key closest to a misspelt one, if any is close enough to be a typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
