//! Flow control around steps: `repeat` (a count, a list, or a captured JSON array), and the
//! guards `if:` and `probability:`.

use super::spec::{Condition, GuardedSpec, RepeatSpec, StepSpec, Times, VariableValue};
use super::StepCompiler;
use crate::config::error::Collector;
use crate::config::raw::{RawRepeat, RawStep, S};
use crate::config::template::Template;
use serde_json::Value;
use std::collections::BTreeMap;

/// The most times a `repeat` may run its steps in one iteration.
const MAX_REPEAT: u32 = 10_000;

/// The largest file a request uploads.
const MAX_UPLOAD: u64 = 10 * 1024 * 1024;

impl StepCompiler<'_> {
    /// A file to upload, read now: missing, too large or unreadable is a located error.
    pub(super) fn file_part(
        &mut self,
        c: &mut Collector,
        field: &str,
        path: &S<String>,
        at: &str,
    ) -> Option<super::spec::FilePart> {
        let file = match &self.base_dir {
            Some(b) => b.join(&path.value),
            None => std::path::PathBuf::from(&path.value),
        };
        let bytes = crate::files::read_bytes(&file, MAX_UPLOAD).map_err(|e| {
            format!(
                "{} (uploads are at most 10 MiB)",
                e.about(&file.display().to_string())
            )
        });
        match bytes {
            Ok(b) => Some(super::spec::FilePart {
                field: field.to_string(),
                filename: file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| field.to_string()),
                bytes: b.into(),
            }),
            Err(e) => {
                c.at(&path.referenced, at, e);
                None
            }
        }
    }

    pub(super) fn repeat(
        &mut self,
        c: &mut Collector,
        scenario: &str,
        r: &RawRepeat,
        at: &serde_saphyr::Location,
        sp: &str,
        names: &mut BTreeMap<String, u64>,
    ) -> Option<StepSpec> {
        let rp = format!("{sp}.repeat");
        let times = match (&r.count, &r.over) {
            (Some(n), None) if n.value >= 1 && n.value <= MAX_REPEAT => Times::Count(n.value),
            (Some(n), None) => {
                c.at(
                    &n.referenced,
                    &format!("{rp}.count"),
                    format!("{} must be between 1 and {MAX_REPEAT}", n.value),
                );
                return None;
            }
            (None, Some(over)) => match &over.value {
                Value::Array(items) if !items.is_empty() && items.len() <= MAX_REPEAT as usize => {
                    Times::List(items.clone())
                }
                Value::String(var) if !var.trim().is_empty() && !var.contains("{{") => {
                    self.read(
                        vec![var.trim().to_string()],
                        &over.referenced,
                        &format!("{rp}.over"),
                    );
                    Times::Variable(var.trim().to_string())
                }
                _ => {
                    c.at(&over.referenced, &format!("{rp}.over"), format!("must be a list of 1 to {MAX_REPEAT} values, or the name of a variable holding a JSON array"));
                    return None;
                }
            },
            _ => {
                c.at(at, &rp, "give either `count` or `over`");
                return None;
            }
        };
        if r.steps.is_empty() {
            c.at(at, &format!("{rp}.steps"), "must contain at least one step");
        }
        let var = r
            .r#as
            .as_ref()
            .map_or_else(|| "item".to_string(), |v| v.value.trim().to_string());
        self.defined.insert(var.clone());
        let index_var = r.index_as.as_ref().map(|v| v.value.trim().to_string());
        if let Some(v) = &index_var {
            self.defined.insert(v.clone());
        }
        let steps = self.steps_named(c, scenario, &r.steps, &format!("{rp}.steps"), names);
        Some(StepSpec::Repeat(Box::new(RepeatSpec {
            times,
            var,
            index_var,
            steps,
        })))
    }

    /// `parallel`: request steps (with their checks and captures) sent at once.
    pub(super) fn parallel(
        &mut self,
        c: &mut Collector,
        scenario: &str,
        raw: &[S<RawStep>],
        sp: &str,
        names: &mut BTreeMap<String, u64>,
    ) -> Option<StepSpec> {
        let pp = format!("{sp}.parallel");
        let mut requests = Vec::new();
        for (i, st) in raw.iter().enumerate() {
            let ip = format!("{pp}[{i}]");
            let step = self
                .step(c, scenario, st, &ip, names)
                .map(|step| self.guard(c, &st.value, step, &ip));
            match step {
                Some(StepSpec::Request(r)) => requests.push(*r),
                Some(_) => c.at(
                    &st.referenced,
                    &ip,
                    "only request steps (without `if` or `probability`) run in parallel",
                ),
                None => {}
            }
        }
        (!requests.is_empty()).then_some(StepSpec::Parallel(requests))
    }

    /// Wraps a step in its `if:` and `probability:`, when it has them.
    pub(super) fn guard(
        &mut self,
        c: &mut Collector,
        st: &RawStep,
        step: StepSpec,
        sp: &str,
    ) -> StepSpec {
        let condition = st
            .r#if
            .as_ref()
            .and_then(|t| self.condition(c, t, &format!("{sp}.if")));
        let probability = st.probability.as_ref().and_then(|p| {
            if p.value.is_finite() && p.value > 0.0 && p.value <= 1.0 {
                Some(p.value)
            } else {
                c.at(
                    &p.referenced,
                    &format!("{sp}.probability"),
                    format!("{} must be a ratio above 0 and at most 1", p.value),
                );
                None
            }
        });
        if condition.is_none() && probability.is_none() {
            return step;
        }
        StepSpec::Guarded(Box::new(GuardedSpec {
            condition,
            probability,
            step,
        }))
    }

    /// `NAME == VALUE`, `NAME != VALUE` or `NAME`; NAME `status` is the last response's.
    fn condition(&mut self, c: &mut Collector, t: &S<String>, path: &str) -> Option<Condition> {
        let text = t.value.trim();
        let (name, op, value) = match text
            .split_once("==")
            .map(|(a, b)| (a, true, b))
            .or_else(|| text.split_once("!=").map(|(a, b)| (a, false, b)))
        {
            Some((a, equal, b)) => (
                a.trim(),
                Some(equal),
                Some(b.trim().trim_matches(|ch| ch == '"' || ch == '\'')),
            ),
            None => (text, None, None),
        };
        let ident = !name.is_empty()
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
            && !name.starts_with(|ch: char| ch.is_ascii_digit());
        if !ident {
            c.at(&t.referenced, path, format!("{text:?} must be NAME == VALUE, NAME != VALUE or NAME, with NAME a variable or `status`"));
            return None;
        }
        match (name, op, value) {
            ("status", Some(equal), Some(v)) => match v.parse::<u16>() {
                Ok(code) if (100..=599).contains(&code) => Some(Condition::Status { equal, code }),
                _ => {
                    c.at(
                        &t.referenced,
                        path,
                        format!("{v:?} must be an HTTP status code"),
                    );
                    None
                }
            },
            (name, Some(equal), Some(value)) => {
                self.read(vec![name.to_string()], &t.referenced, path);
                Some(Condition::Equals {
                    var: name.to_string(),
                    equal,
                    value: value.to_string(),
                })
            }
            (name, _, _) => {
                self.read(vec![name.to_string()], &t.referenced, path);
                Some(Condition::Set(name.to_string()))
            }
        }
    }
}

impl StepCompiler<'_> {
    /// Compiles plan `variables`: a scalar, or a non-empty list of scalars to draw from. A
    /// string with `{{ }}` is a template (`{{ random_string(8) }}`, `{{ env.REGION }}`,
    /// another variable or a data column), rendered each time its value is drawn: it is
    /// never sent as the literal text.
    pub(in crate::config) fn variables(
        &mut self,
        c: &mut Collector,
        raw: &BTreeMap<String, S<Value>>,
        path: &str,
    ) -> Vec<(String, Vec<VariableValue>)> {
        let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
        let mut out = Vec::new();
        for (name, v) in raw {
            let vp = format!("{path}.{name}");
            let ident = !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
                && !name.starts_with(|ch: char| ch.is_ascii_digit());
            if !ident || ["vu", "iteration", "status"].contains(&name.as_str()) {
                c.at(&v.referenced, &vp, format!("{name:?} must be a variable name ([a-zA-Z_][a-zA-Z0-9_-]*, not vu, iteration or status)"));
                continue;
            }
            let values = match &v.value {
                Value::Array(items) if !items.is_empty() && items.iter().all(scalar) => {
                    items.clone()
                }
                one if scalar(one) => vec![one.clone()],
                _ => {
                    c.at(&v.referenced, &vp, "must be a string, number or boolean, or a non-empty list of them (one is drawn per iteration)");
                    continue;
                }
            };
            let values = values
                .into_iter()
                .filter_map(|x| self.variable_value(c, x, name, v.referenced, &vp))
                .collect();
            out.push((name.clone(), values));
        }
        out
    }

    /// One value of a plan variable: as written, or its template.
    fn variable_value(
        &mut self,
        c: &mut Collector,
        value: Value,
        name: &str,
        at: serde_saphyr::Location,
        path: &str,
    ) -> Option<VariableValue> {
        let Value::String(text) = &value else {
            return Some(VariableValue::Fixed(value));
        };
        if !text.contains("{{") {
            return Some(VariableValue::Fixed(value));
        }
        let before = self.found.vars.len();
        let compiled = Template::compile(text, self.env, &mut self.found);
        let read: Vec<String> = self.found.vars.drain(before..).collect();
        for var in read
            .iter()
            .filter(|r| !self.base.contains(*r) || *r == name)
        {
            c.at(
                &at,
                path,
                format!(
                    "the template reads {var:?}, which is not another variable or a data column"
                ),
            );
        }
        match compiled {
            Ok(t) => Some(VariableValue::Drawn(t)),
            Err(e) => {
                c.at(&at, path, e);
                None
            }
        }
    }
}
