//! Reading a file: size cap, YAML budgets, and serde errors turned into located errors.

use super::error::{Collector, ConfigErrors};
use super::raw::RawConfig;
use super::rules::closest;
use super::scripted::Scripts;
use super::{validate, Config};
use serde_saphyr::{Budget, Error as YamlError, Location, Options};
use std::path::Path;

/// Larger files are refused before parsing (a plan file is a few KiB).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A config file's text, refused beyond [`MAX_FILE_BYTES`].
pub fn read_file(path: &Path) -> Result<String, ConfigErrors> {
    let name = path.display().to_string();
    let mut errors = Collector::new(&name);
    crate::files::read_text(path, MAX_FILE_BYTES).map_err(|e| {
        errors.nowhere("", e.about("the file"));
        errors.into_errors()
    })
}

/// Parses and validates config text. `file` names it in errors; `base_dir` resolves relative
/// paths; `env` looks up `env.NAME` references; `scripts` reads the scripts plans are given
/// by.
pub fn load_str_with(
    text: &str,
    file: &str,
    base_dir: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    scripts: &dyn Scripts,
) -> Result<Config, ConfigErrors> {
    parse_and_validate(text, file, base_dir, env, scripts)
        .map_err(|e| locate_missing(e, text, file))
}

/// Gives errors found on a whole block (no leaf to point at) the line and column of the
/// deepest part of their field path that the file has.
/// Errors of another file (a script a plan is given by) are left as they are.
fn locate_missing(mut errors: ConfigErrors, text: &str, file: &str) -> ConfigErrors {
    let unlocated =
        |e: &super::error::ConfigError| e.file == file && e.line == 0 && !e.path.is_empty();
    let pathless =
        |e: &super::error::ConfigError| e.file == file && e.line > 0 && e.path.is_empty();
    if !errors.0.iter().any(|e| unlocated(e) || pathless(e)) {
        return errors;
    }
    let Some(locator) = super::locate::Locator::new(text, yaml_options(text.len())) else {
        return errors;
    };
    for e in errors.0.iter_mut() {
        if unlocated(e) {
            if let Some(loc) = locator.find(&e.path) {
                (e.line, e.column) = (loc.line(), loc.column());
            }
        } else if pathless(e) {
            // A value serde rejected (a type error, an overflowing number): name its field.
            if let Some(path) = locator.path_at(e.line, e.column) {
                e.path = path;
            }
        }
    }
    errors
        .0
        .sort_by(|a, b| (a.line, a.column, &a.path).cmp(&(b.line, b.column, &b.path)));
    errors
}

fn parse_and_validate(
    text: &str,
    file: &str,
    base_dir: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    scripts: &dyn Scripts,
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
        return Err(errors.into_errors());
    }
    let (raw, edited, early) = match parse_every_unknown::<RawConfig>(text) {
        Ok(parsed) => parsed,
        Err(early) => {
            for (loc, msg) in early {
                errors.at(&loc, "", msg);
            }
            return Err(errors.into_errors());
        }
    };
    let result = validate::validate(raw, &edited, file, base_dir, env, scripts);
    if early.is_empty() {
        return result;
    }
    for (loc, msg) in early {
        errors.at(&loc, "", msg);
    }
    if let Err(rest) = result {
        errors.absorb(rest);
    }
    Err(errors.into_errors())
}

/// Errors found while parsing: where, and what.
pub(in crate::config) type Found = Vec<(Location, String)>;

/// Parses `text` as `T`, reporting every unknown field at once. Serde stops at the first
/// unknown field, so each is recorded, blanked out of a copy of the text (spaces keep every
/// other line and column where it was) and the copy parsed again. Returns the value, the text
/// it was parsed from and the unknown fields; or every error when parsing failed for another
/// reason (the unknown fields before it first).
pub(in crate::config) fn parse_every_unknown<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Result<(T, std::borrow::Cow<'_, str>, Found), Found> {
    let mut edited = std::borrow::Cow::Borrowed(text);
    // Unknown fields, then the error that ended parsing when it was of another kind.
    let mut early: Found = Vec::new();
    loop {
        match serde_saphyr::from_str_with_options(&edited, yaml_options(edited.len())) {
            Ok(value) => return Ok((value, edited, early)),
            Err(e) => {
                let (loc, msg) = describe(&e, &edited);
                let is_unknown = matches!(e.without_snippet(), YamlError::SerdeUnknownField { .. });
                let blanked = (is_unknown && early.len() < MAX_UNKNOWN_FIELDS)
                    .then(|| blank_entry(&edited, &loc))
                    .flatten();
                // A field missing only because its misspelling was blanked is not news.
                let consequence = msg.strip_prefix("missing field ").is_some_and(|f| {
                    early
                        .iter()
                        .any(|(_, u)| u.contains(&format!("did you mean {f}")))
                });
                if !consequence {
                    early.push((loc, msg));
                }
                match blanked {
                    Some(next) => edited = std::borrow::Cow::Owned(next),
                    None => return Err(early),
                }
            }
        }
    }
}

/// Unknown fields reported from one file before the rest is left to the next run.
const MAX_UNKNOWN_FIELDS: usize = 50;

/// Replaces the mapping entry whose key starts at `loc` with spaces: in a flow mapping up to
/// the next `,` or closing bracket of its level, in a block mapping the key's line and the
/// more-indented lines under it. `None` when the location does not fit the text.
fn blank_entry(text: &str, loc: &Location) -> Option<String> {
    if *loc == Location::UNKNOWN || loc.line() == 0 || loc.column() == 0 {
        return None;
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(loc.line() as usize - 1)
        .map(str::len)
        .sum();
    let line = text[line_start..].split('\n').next()?;
    let (col_byte, _) = line.char_indices().nth(loc.column() as usize - 1)?;
    let start = line_start + col_byte;
    let bytes = text.as_bytes();
    let end = if flow_depth(&text[..start]) > 0 {
        flow_entry_end(text, start)
    } else {
        let indent = col_byte;
        let mut end = line_start + line.len();
        for next in text[end..].split_inclusive('\n').skip(1) {
            let body = next.trim_start_matches(' ');
            let depth = next.len() - body.len();
            let blank = body.trim().is_empty() || body.starts_with('#');
            if !blank && depth <= indent {
                break;
            }
            end += next.len();
        }
        end
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    // A list item whose only key is blanked would become null, which no item type takes;
    // an empty mapping keeps the item and lets the other errors of the file be found.
    let only_key_of_item = text[line_start..start].trim() == "-"
        && text[end..]
            .split('\n')
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .is_none_or(|l| l.len() - l.trim_start_matches(' ').len() != col_byte);
    let mut blanked: String = text[start..end]
        .chars()
        .map(|c| if c == '\n' { '\n' } else { ' ' })
        .collect();
    if only_key_of_item && blanked.starts_with("  ") {
        blanked.replace_range(0..2, "{}");
    }
    out.push_str(&blanked);
    out.push_str(&text[end..]);
    (bytes.len() == out.len()).then_some(out)
}

/// Open flow brackets (`{`, `[`) at the end of `prefix`, outside quotes and comments.
fn flow_depth(prefix: &str) -> i32 {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut comment = false;
    for c in prefix.chars() {
        match (quote, c) {
            (_, '\n') if comment => comment = false,
            _ if comment => {}
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => comment = true,
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// The end of a flow entry starting at `start`: after its `,`, or at the bracket closing
/// its level.
fn flow_entry_end(text: &str, start: usize) -> usize {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (i, c) in text[start..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') if depth == 0 => return start + i,
            (None, '}' | ']') => depth -= 1,
            (None, ',') if depth == 0 => return start + i + 1,
            _ => {}
        }
    }
    text.len()
}

/// YAML nodes any file may have, however small.
const BASE_NODES: usize = 100_000;

/// Events any file's aliases may replay, however small the file.
const REPLAY_FLOOR: usize = 10_000;

/// The parser's limits for a text of `len` bytes. A plain file parses at any size up to
/// [`MAX_FILE_BYTES`] (a node takes at least two bytes where it is written), so the node and
/// event budgets grow with the file; what anchors and aliases may add is bounded by that
/// ratio, and by the anchor counts.
pub(in crate::config) fn yaml_options(len: usize) -> Options {
    let mut budget = Budget::default();
    budget.max_depth = 32;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_nodes = BASE_NODES + len;
    budget.max_events = 2 * (BASE_NODES + len);
    budget.max_recorded_anchor_events = 100_000;
    let mut options = Options::default();
    options.budget = Some(budget);
    // What aliases replay is bounded by the file's own size: a small file cannot expand into
    // a large one (an alias bomb), and a file is never refused for being plain and large.
    options.alias_limits.max_total_replayed_events = REPLAY_FLOOR.max(len);
    options
}

/// Which of the parser's limits a file broke, in the project's words (A11).
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let what = match breach {
        B::Depth { .. } => "nests mappings and lists more than 32 levels deep".to_string(),
        B::Aliases { .. } | B::Anchors { .. } | B::AliasAnchorRatio { .. } => {
            "uses more than 1,000 anchors or aliases (`&name`, `*name`)".to_string()
        }
        B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
            "has anchors that expand to too much text".to_string()
        }
        B::Events { .. } | B::Nodes { .. } => {
            "expands to more YAML nodes than a file of its size holds when written out (a node takes at least two bytes; anchors and aliases may add at most as many as it has bytes)".to_string()
        }
        _ => "is larger or more deeply built than a config file can be".to_string(),
    };
    format!("refused: the file {what}; a plan needs far less, so check for a generated or repeated block")
}

/// A one-line message and the location of a YAML or serde error, with a "did you mean" for
/// misspelt keys.
pub(in crate::config) fn describe(e: &YamlError, text: &str) -> (Location, String) {
    let loc = e.location().unwrap_or(Location::UNKNOWN);
    let msg = match e.without_snippet() {
        YamlError::DuplicateMappingKey { key: Some(k), .. } => {
            match earlier_key(text, k, loc.line(), loc.column()) {
                Some((line, column)) => format!(
                    "duplicate key `{k}` (first defined at line {line}, column {column}); each key may appear once in a mapping"
                ),
                None => format!("duplicate key `{k}`; each key may appear once in a mapping"),
            }
        }
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
        YamlError::MultipleDocuments { .. } => {
            "a second YAML document (`---`) follows the first; a config is one document: remove the `---` line or split the file".to_string()
        }
        YamlError::Budget { breach, .. } => budget_message(breach),

        YamlError::IOError { .. } => "the text ends or breaks off where more was expected".to_string(),
        other => {
            let line = first_line(&other.to_string());
            if line.starts_with("invalid floating point") {
                "not a finite number (NaN, infinity, or beyond ±1.8e308); write a number such as 50 or 0.5".to_string()
            } else {
                line
            }
        }
    };
    (loc, msg)
}

/// Where `key` was written before the duplicate at `line`:`column`: the nearest earlier
/// occurrence as a key at the same column (block style) or on the same line (flow style).
fn earlier_key(text: &str, key: &str, line: u64, column: u64) -> Option<(u64, u64)> {
    let mut found = None;
    for (i, l) in text.lines().take(line as usize).enumerate() {
        let n = i as u64 + 1;
        for (byte, _) in l.match_indices(key) {
            let col = l[..byte].chars().count() as u64 + 1;
            if n == line && col >= column {
                break;
            }
            let before = l[..byte].trim_end_matches(['"', '\'']).trim_end();
            let after = l[byte + key.len()..]
                .trim_start_matches(['"', '\''])
                .trim_start();
            let is_key =
                after.starts_with(':') && (before.is_empty() || before.ends_with(['{', ',', '-']));
            if is_key && (col == column || n == line) {
                found = Some((n, col));
            }
        }
    }
    found
}

/// The message without the location suffix serde-saphyr adds (we print the location first).
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s).trim();
    let line = match line.find(" at line ") {
        Some(i) => line[..i].trim_end_matches(','),
        None => line,
    };
    if let Some(what) = line.strip_prefix("alias replay limit exceeded: ") {
        return format!("refused: its aliases (`*name`) repeat more YAML than the file's own size allows ({what}); write the repeated block out, or repeat it less");
    }
    match line.strip_prefix("budget breached: ") {
        Some(what) => format!("refused: the YAML expands beyond the parser budget ({what}); anchors/aliases or nesting are too large"),
        None => line.to_string(),
    }
}

/// YAML (or JSON) text as a JSON value, under the same parser budget as a config.
pub fn parse_yaml_value(text: &str) -> Result<serde_json::Value, String> {
    serde_saphyr::from_str_with_options(text, yaml_options(text.len())).map_err(|e| e.to_string())
}
