//! Located configuration errors: file, line, column, field path, value and rule.

use serde_saphyr::Location;
use std::fmt;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line, or 0 when unknown.
    pub line: u64,
    /// 1-based column, or 0 when unknown.
    pub column: u64,
    /// Dotted field path, e.g. `plans.checkout.load.phases[2].duration`.
    pub path: String,
    /// The offending value and the rule it breaks.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if self.path.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a file; never empty.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Collects errors while a file is validated, so that all of them are reported at once.
pub struct Collector {
    file: String,
    errors: Vec<ConfigError>,
    /// What loads but deserves a word (an Artillery script's undefined variable).
    warnings: Vec<ConfigError>,
}

impl Collector {
    /// A collector for one file.
    pub fn new(file: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records a warning at a location: the file still loads.
    pub fn warn_at(&mut self, loc: &Location, path: &str, message: impl Into<String>) {
        self.at(loc, path, message);
        let w = self.errors.pop().expect("just recorded");
        self.warnings.push(w);
    }

    /// Warnings found elsewhere (a file this one refers to).
    pub fn add_warnings(&mut self, warnings: Vec<ConfigError>) {
        self.warnings.extend(warnings);
    }

    /// The warnings recorded so far, sorted by position.
    pub fn take_warnings(&mut self) -> Vec<ConfigError> {
        let mut w = std::mem::take(&mut self.warnings);
        w.sort_by(|a, b| (a.line, a.column, &a.path).cmp(&(b.line, b.column, &b.path)));
        w.dedup();
        w
    }

    /// Records an error at a location.
    pub fn at(&mut self, loc: &Location, path: &str, message: impl Into<String>) {
        let (line, column) = if *loc == Location::UNKNOWN {
            (0, 0)
        } else {
            (loc.line(), loc.column())
        };
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line,
            column,
            path: path.to_string(),
            message: clip_quoted(&message.into()),
        });
    }

    /// Takes over the errors found by another pass over the same file.
    pub fn absorb(&mut self, other: ConfigErrors) {
        self.errors.extend(other.0);
    }

    /// Records an error whose location is not known.
    pub fn nowhere(&mut self, path: &str, message: impl Into<String>) {
        self.at(&Location::UNKNOWN, path, message);
    }

    /// Ends collection when something was recorded: every error, sorted by position.
    pub fn into_errors(mut self) -> ConfigErrors {
        self.errors
            .sort_by(|a, b| (a.line, a.column, &a.path).cmp(&(b.line, b.column, &b.path)));
        self.errors.dedup();
        ConfigErrors(self.errors)
    }

    /// Ends collection: `Ok(value)` when nothing was recorded, otherwise every error sorted by
    /// position.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            return Ok(value);
        }
        Err(self.into_errors())
    }
}

/// Echoed values longer than this are cut (a 1 MB value is not repeated back in full).
const MAX_ECHO: usize = 80;

/// `value` as it may be echoed in a message: whole when short, otherwise its start and how
/// long it was.
pub fn clip(value: &str) -> std::borrow::Cow<'_, str> {
    if value.chars().count() <= MAX_ECHO {
        return value.into();
    }
    let head: String = value.chars().take(MAX_ECHO / 2).collect();
    format!("{head}… ({} characters)", value.chars().count()).into()
}

/// A message with every quoted value (`"…"`) longer than [`MAX_ECHO`] cut by [`clip`]
/// (RELIABILITY: errors cut echoed values, with their length).
fn clip_quoted(message: &str) -> String {
    if message.len() <= 2 * MAX_ECHO {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..=start]);
        rest = &rest[start + 1..];
        // The closing quote that is not escaped.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in rest.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else { break };
        out.push_str(&clip(&rest[..end]));
        out.push('"');
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    clip_unquoted(out)
}

/// A message still over 4 KiB after quoted values were cut (an unquoted value) keeps its
/// start and end.
fn clip_unquoted(message: String) -> String {
    const MAX: usize = 4096;
    if message.len() <= MAX {
        return message;
    }
    let cut = |at: usize| {
        (0..=at)
            .rev()
            .find(|i| message.is_char_boundary(*i))
            .unwrap_or(0)
    };
    let head = &message[..cut(MAX / 2)];
    let tail = &message[cut(message.len() - MAX / 4)..];
    format!(
        "{head} … ({} characters cut) … {tail}",
        message.len() - head.len() - tail.len()
    )
}

#[cfg(test)]
mod clipping {
    use super::*;

    #[test]
    fn long_echoed_values_are_cut_with_their_length_and_short_ones_kept() {
        let long = "x".repeat(1_000_000);
        let m = clip_quoted(&format!("targets.t.base_url: \"{long}\" must be http(s)"));
        assert!(m.len() < 200, "{m}");
        assert!(m.contains("(1000000 characters)\" must be http(s)"), "{m}");
        let short = "plans.p: \"checkout\" is not a plan; did you mean \"checkouts\"?";
        assert_eq!(clip_quoted(short), short);
        let bare = format!("value {long} is bad");
        let m = clip_quoted(&bare);
        assert!(m.len() < 4200 && m.ends_with("is bad"), "{}", m.len());
    }
}
