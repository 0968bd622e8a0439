//! An Artillery processor's functions in a flow: `function` steps, and the `beforeRequest` /
//! `afterResponse` names a request (or its scenario) gives.

use super::flow::Flow;
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

/// `before_request` and `after_response`: the scenario's functions, then the request's.
pub(super) fn hook_fields(
    r: &serde_json::Map<String, Value>,
    f: &Flow,
    at: Location,
    rp: &str,
    c: &mut Collector,
) -> Vec<String> {
    let mut fields = Vec::new();
    for (field, from, scenario) in [
        ("before_request", "beforeRequest", &f.before_request),
        ("after_response", "afterResponse", &f.after_response),
    ] {
        let mut names = scenario.clone();
        names.extend(function_names(r.get(from), at, &format!("{rp}.{from}"), c));
        if !names.is_empty() {
            let quoted: Vec<String> = names.iter().map(|n| quote(n)).collect();
            fields.push(format!("{field}: [{}]", quoted.join(", ")));
        }
    }
    fields
}
