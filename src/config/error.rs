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
            message: message.into(),
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
