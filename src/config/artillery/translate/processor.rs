//! An Artillery processor's functions in a flow: the names a `function` step (or a hook)
//! gives, and the `function` steps they become.

use super::{quote, Out};
use crate::config::error::Collector;
use serde_json::Value;
use serde_saphyr::Location;

/// Processor function names: one, or a list of them.
pub(super) fn function_names(
    v: Option<&Value>,
    at: Location,
    path: &str,
    c: &mut Collector,
) -> Vec<String> {
    match v {
        None => Vec::new(),
        Some(Value::String(f)) => vec![f.clone()],
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => list
            .iter()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect(),
        Some(_) => {
            c.at(&at, path, "must name a processor function, or list them");
            Vec::new()
        }
    }
}

/// `- function: NAME` steps.
pub(super) fn function_steps(out: &mut Out, indent: usize, names: &[String], at: Location) {
    for f in names {
        out.line(indent, &format!("- function: {}", quote(f)), at);
    }
}
