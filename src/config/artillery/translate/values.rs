//! Numbers and durations of a script's `config` as Artillery reads them: written as they
//! are (`10`, `"2m"`), or a `{{ }}` template of an environment variable
//! (`$processEnvironment.NAME`, `$env.NAME`) or of a `config.variables` value, resolved when
//! the script is read. A template that cannot be resolved then is a located error that says
//! what can be.

use super::super::script::Config;
use crate::config::error::Collector;
use crate::config::raw::S;
use serde_json::Value;
use std::collections::BTreeMap;

pub(super) struct Values<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    variables: BTreeMap<&'a String, &'a S<Value>>,
}

impl<'a> Values<'a> {
    pub fn new(
        cfg: &'a Config,
        environment: Option<&'a super::super::script::Environment>,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let mut variables: BTreeMap<&String, &S<Value>> = cfg.variables.iter().collect();
        if let Some(e) = environment {
            variables.extend(e.variables.iter());
        }
        Values { env, variables }
    }

    /// The value as written, or what its template names.
    fn resolved(&self, v: &Value) -> Result<Value, String> {
        let Some(expr) = v.as_str().and_then(whole_template) else {
            return Ok(v.clone());
        };
        let var = expr
            .strip_prefix("$processEnvironment.")
            .or_else(|| expr.strip_prefix("$env."));
        if let Some(name) = var {
            return (self.env)(name).map(Value::String).ok_or_else(|| {
                format!("{{{{ {expr} }}}}: the environment variable {name} is not set")
            });
        }
        match self.variables.get(&expr.to_string()).map(|s| &s.value) {
            Some(x @ (Value::Number(_) | Value::String(_))) if x.as_str().and_then(whole_template).is_none() => Ok(x.clone()),
            _ => Err(format!(
                "{{{{ {expr} }}}} cannot be resolved when the script is read: use a number, {{{{ $processEnvironment.NAME }}}} or a fixed config.variables value"
            )),
        }
    }

    /// A number (an arrival rate, a count).
    pub fn number(&self, v: &S<Value>, path: &str, c: &mut Collector) -> Option<f64> {
        let n = match self.resolved(&v.value) {
            Ok(Value::Number(n)) => n.as_f64(),
            Ok(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Ok(_) => None,
            Err(why) => {
                c.at(&v.referenced, path, why);
                return None;
            }
        };
        let n = n.filter(|n| n.is_finite() && *n >= 0.0);
        if n.is_none() {
            c.at(&v.referenced, path, "must be a number of 0 or more");
        }
        n
    }

    /// Seconds: a number, or a duration such as `2m`.
    pub fn seconds(&self, v: &S<Value>, path: &str, c: &mut Collector) -> Option<f64> {
        let s = match self.resolved(&v.value) {
            Ok(Value::Number(n)) => n.as_f64(),
            Ok(Value::String(s)) => humantime::parse_duration(s.trim())
                .ok()
                .map(|d| d.as_secs_f64())
                .or_else(|| s.trim().parse().ok()),
            Ok(_) => None,
            Err(why) => {
                c.at(&v.referenced, path, why);
                return None;
            }
        };
        if s.is_none() {
            c.at(
                &v.referenced,
                path,
                "must be seconds (a number) or a duration such as 2m",
            );
        }
        s
    }
}

/// The expression of a text that is one `{{ }}` template and nothing else.
fn whole_template(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}
