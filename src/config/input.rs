//! Which front end reads a file: an Artillery script (top-level `config:` and `scenarios:`)
//! is translated by [`super::artillery`], anything else is a loadpacer config.

use super::artillery::{self, Choices};
use super::error::ConfigErrors;
use super::parse::{load_str, read_file};
use super::Config;
use std::path::Path;

/// Reads a loadpacer config or an Artillery script (with its `-e` choice), resolving
/// `env.NAME` from the process environment; also returns the warnings of a script's
/// translation (plugins that are not used).
pub fn load_file_with(
    path: &Path,
    choices: &Choices,
) -> Result<(Config, Vec<String>), ConfigErrors> {
    let name = path.display().to_string();
    let text = read_file(path)?;
    let env = |k: &str| std::env::var(k).ok();
    if artillery::is_artillery(&text) {
        return artillery::load(&text, &name, path.parent(), choices, &env);
    }
    load_str(&text, &name, path.parent(), &env).map(|cfg| (cfg, Vec::new()))
}
