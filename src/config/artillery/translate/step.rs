//! A flow step as the translators read it, and what several of them need of one.

use crate::config::raw::S;
use serde_json::Value;
use serde_saphyr::Location;
use std::collections::BTreeMap;

/// One step of a flow: its action (`get`, `think`, `loop`, …) with the keys beside it.
pub(super) type Step = S<BTreeMap<String, S<Value>>>;

/// A list of flow steps written inside a step's value, each with the step's place.
pub(super) fn located_steps(v: &Value, at: Location) -> Option<Vec<Step>> {
    let maps = serde_json::from_value::<Vec<BTreeMap<String, Value>>>(v.clone()).ok()?;
    Some(
        maps.into_iter()
            .map(|m| {
                located(
                    m.into_iter().map(|(k, v)| (k, located(v, at))).collect(),
                    at,
                )
            })
            .collect(),
    )
}

/// A value with the place of the step it was written in.
fn located<T>(value: T, at: Location) -> S<T> {
    S {
        value,
        referenced: at,
        defined: at,
    }
}

pub(super) fn think(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(format!("{}ms", (n.as_f64()? * 1000.0).round())),
        Value::String(s) => humantime::parse_duration(s.trim())
            .ok()
            .map(|_| s.trim().to_string()),
        _ => None,
    }
}
