//! Rules every config section shares: durations, sizes, rates, names, "did you mean". A
//! leaf: it depends on nothing else of the config but its error collector and raw types.

use super::error::Collector;
use super::raw::S;
use std::time::Duration;

/// Environment lookup used while compiling templates.
pub(super) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Parses a duration like `90s`, `1m30s`, `250ms`; `min` is the smallest accepted value.
/// The longest duration any field takes (a soak, a retention age, a schedule period): far
/// beyond any real use, far below where clock arithmetic overflows.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

pub(super) fn duration(
    c: &mut Collector,
    s: &S<String>,
    path: &str,
    min: Duration,
) -> Option<Duration> {
    match humantime::parse_duration(s.value.trim()) {
        Ok(d) if d.is_zero() => {
            c.at(
                &s.referenced,
                path,
                format!("{:?} must be greater than zero", s.value),
            );
            None
        }
        Ok(d) if d > MAX_DURATION => {
            c.at(
                &s.referenced,
                path,
                format!(
                    "{:?} is too long; the maximum is {} days",
                    s.value,
                    MAX_DURATION.as_secs() / 86_400
                ),
            );
            None
        }
        Ok(d) if d < min => {
            c.at(
                &s.referenced,
                path,
                format!(
                    "{:?} is too short; the minimum is {}",
                    s.value,
                    humantime::format_duration(min)
                ),
            );
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            c.at(
                &s.referenced,
                path,
                format!(
                    "{:?} is not a duration; write e.g. 500ms, 30s, 5m or 1h30m",
                    s.value
                ),
            );
            None
        }
    }
}

pub(super) fn byte_size(c: &mut Collector, s: &S<String>, path: &str) -> Option<usize> {
    let t = s.value.trim();
    let split = t.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult = match unit.trim() {
        "" | "B" => Some(1),
        "KiB" | "KB" | "k" => Some(1024),
        "MiB" | "MB" | "M" => Some(1024 * 1024),
        "GiB" | "GB" | "G" => Some(1024 * 1024 * 1024),
        _ => None,
    };
    match (num.parse::<usize>(), mult) {
        (Ok(n), Some(m)) if n > 0 && n.saturating_mul(m) <= 1 << 30 => Some(n * m),
        _ => {
            c.at(
                &s.referenced,
                path,
                format!(
                    "{:?} must be a size between 1 B and 1 GiB, e.g. 64KiB or 10MiB",
                    s.value
                ),
            );
            None
        }
    }
}

pub(super) fn positive(c: &mut Collector, v: &S<u64>, path: &str) -> Option<u64> {
    if v.value == 0 {
        c.at(&v.referenced, path, "0 must be greater than zero");
        None
    } else {
        Some(v.value)
    }
}

/// The longest scenario, request, step or workload name, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 128;

/// Reports a scenario, request, step or workload name that cannot be shown as written. Such a
/// name is a label *value* on `/metrics`, which may be any UTF-8 (Prometheus restricts label
/// names only), so `User Registration Flow` or `Test Scenario (4)` are kept as they are, in
/// every output, escaped where each format needs it. Only a blank name, a control character
/// (it would break a terminal line or a log record) or one over [`MAX_NAME_CHARS`] is refused.
pub(super) fn require_name(c: &mut Collector, name: &S<String>, path: &str) {
    if let Err(why) = check_name(&name.value) {
        c.at(&name.referenced, path, why);
    }
}

/// Why `name` cannot be a scenario, request, step or workload name, if it cannot.
pub(super) fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty (it names the figures in every report)".into());
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "{:?} has a control character (a tab or a line break); names are shown on one line",
            crate::config::clip(name)
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "{:?} is longer than {MAX_NAME_CHARS} characters",
            crate::config::clip(name)
        ));
    }
    Ok(())
}

/// Plan and monitor names are also URL segments, file names and threshold words: letters,
/// digits, `_`, `.` and `-`.
pub(super) fn valid_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
}

/// The lowest positive rate: one arrival every 1000 s. Below it a run would send nothing
/// (and `1/rate` stops being a finite duration).
pub(crate) const MIN_RATE: f64 = 0.001;

/// A rate in arrivals per second: finite, at most `max_rps` (`limits.max_rps`), and either 0 (where a
/// ramp may start from nothing) or at least [`MIN_RATE`].
pub(super) fn rate(
    c: &mut Collector,
    max_rps: f64,
    r: &S<f64>,
    path: &str,
    allow_zero: bool,
) -> Option<f64> {
    let v = r.value;
    let in_range = v.is_finite() && v <= max_rps && (v > 0.0 || (allow_zero && v == 0.0));
    let message = if !in_range {
        format!("rate {v} must be > 0 and <= limits.max_rps ({max_rps})")
    } else if v > 0.0 && v < MIN_RATE {
        format!("rate {v:e} is below the minimum of {MIN_RATE} per second (one arrival every 1000 s); such a run would send nothing")
    } else {
        return Some(v);
    };
    c.at(&r.referenced, path, message);
    None
}

/// The expected key closest to a misspelt one, if any is close enough to be a typo.
/// A keyword field: the value its word names among `choices` (word, value). An absent field
/// is `absent`; another word is a located error naming the choices (and gives `None`).
pub(super) fn keyword<T: Copy>(
    c: &mut Collector,
    field: Option<&S<String>>,
    path: &str,
    choices: &[(&str, T)],
    absent: T,
) -> Option<T> {
    let Some(f) = field else {
        return Some(absent);
    };
    let found = choices.iter().find(|(w, _)| *w == f.value).map(|(_, v)| *v);
    if found.is_none() {
        let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
        let list = match words.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => words.join(""),
        };
        c.at(&f.referenced, path, format!("{:?} must be {list}", f.value));
    }
    found
}

pub(super) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `request_buckets`: 1 to 30 finite bounds above 0, ascending.
pub(super) fn request_buckets(
    c: &mut Collector,
    b: &[S<f64>],
    path: &str,
) -> Option<std::sync::Arc<[f64]>> {
    let values: Vec<f64> = b.iter().map(|v| v.value).collect();
    let ascending = values.windows(2).all(|w| w[0] < w[1]);
    let valid = values.iter().all(|v| v.is_finite() && *v > 0.0);
    if (1..=30).contains(&values.len()) && ascending && valid {
        return Some(values.into());
    }
    let at = b
        .first()
        .map_or(serde_saphyr::Location::UNKNOWN, |v| v.referenced);
    c.at(
        &at,
        path,
        format!("{values:?} must be 1 to 30 bounds in seconds, above 0 and ascending, e.g. [0.05, 0.2, 1]"),
    );
    None
}
