//! What a native plan reads besides its own text: CSV data (one row per iteration, or every
//! row in one variable) and its processor's exported functions.

use super::error::Collector;
use super::raw::{RawPlan, S};
use super::steps::StepCompiler;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The plan's CSV sources (one, or a list); a column named by two of them is an error.
fn data_sources(
    c: &mut Collector,
    p: &RawPlan,
    path: &str,
    base_dir: Option<&Path>,
) -> Vec<super::DataSource> {
    let raw = p.data.as_ref().map_or(&[][..], |d| d.0.as_slice());
    let many = raw.len() > 1;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, d) in raw.iter().enumerate() {
        let dp = if many {
            format!("{path}.data[{i}]")
        } else {
            format!("{path}.data")
        };
        let Some(source) = super::steps::data_source(c, d, &dp, base_dir) else {
            continue;
        };
        for col in &source.columns {
            if let Some(first) = seen.insert(col.clone(), i) {
                c.at(
                    &d.file.referenced,
                    &dp,
                    format!(
                        "column {col:?} is also given by data[{first}]; rename one (`columns:`)"
                    ),
                );
            }
        }
        out.push(source);
    }
    out
}

/// Largest `all_as` list: every VU holds it, and it is written into the variable on every
/// iteration.
const MAX_ALL_ROWS_JSON: usize = 1 << 20;

/// Data sources with `all_as` become a variable holding every row (a list of objects by
/// column); the others stay sources of one row per iteration.
pub(super) fn all_rows(
    c: &mut Collector,
    p: &RawPlan,
    path: &str,
    base_dir: Option<&Path>,
) -> (
    Vec<super::DataSource>,
    Vec<(String, Vec<super::VariableValue>)>,
) {
    let data = data_sources(c, p, path, base_dir);
    let (all, rows): (Vec<_>, Vec<_>) = data.into_iter().partition(|d| d.all_as.is_some());
    let mut vars = Vec::new();
    for d in all {
        let name = d.all_as.clone().unwrap_or_default();
        let list: Vec<serde_json::Value> = d
            .rows
            .iter()
            .map(|r| {
                let row = d.columns.iter().zip(r.iter());
                serde_json::Value::Object(
                    row.map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string())))
                        .collect(),
                )
            })
            .collect();
        let value = serde_json::Value::Array(list);
        let size = value.to_string().len();
        let ident = !name.is_empty()
            && !name.starts_with(|ch: char| ch.is_ascii_digit())
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
        let why = if !ident {
            format!("all_as {name:?} must be a variable name ([a-zA-Z_][a-zA-Z0-9_-]*)")
        } else if size > MAX_ALL_ROWS_JSON {
            format!("all_as {name:?}: the rows are {size} bytes as JSON, above 1 MiB (every VU holds them); hand out one row per iteration instead (leave out `all_as`)")
        } else {
            vars.push((name, vec![super::VariableValue::Fixed(value)]));
            continue;
        };
        let at = p.data.as_ref().and_then(|x| {
            x.0.iter()
                .find_map(|r| r.all_as.as_ref().filter(|n| n.value == name))
        });
        match at {
            Some(n) => c.at(&n.referenced, &format!("{path}.data"), why),
            None => c.nowhere(&format!("{path}.data"), why),
        }
    }
    (rows, vars)
}

/// Loads the plan's processor once, to list the functions it exports (a file that does not
/// load is an error located in it), and tells the step compiler which names exist.
pub(super) fn processor(
    c: &mut Collector,
    p: &RawPlan,
    path: &str,
    base_dir: Option<&Path>,
    steps: &mut StepCompiler<'_>,
) -> Option<Arc<super::ProcessorSpec>> {
    let spec = p
        .processor
        .as_ref()
        .and_then(|f| load_processor(c, f, &format!("{path}.processor"), base_dir));
    steps.processor = spec
        .as_ref()
        .map(|s| (s.path.display().to_string(), s.functions.clone()))
        .ok_or(p.processor.is_some());
    spec
}

fn load_processor(
    c: &mut Collector,
    f: &S<String>,
    path: &str,
    base_dir: Option<&Path>,
) -> Option<Arc<super::ProcessorSpec>> {
    let file = base_dir.map_or_else(|| Path::new(&f.value).to_path_buf(), |d| d.join(&f.value));
    let text = match crate::files::read_text(&file, 16 << 20) {
        Ok(t) => t,
        Err(e) => {
            c.at(&f.referenced, path, e.about(&file.display().to_string()));
            return None;
        }
    };
    match crate::script::processor::exported_functions(&file) {
        Ok(functions) => Some(Arc::new(super::ProcessorSpec {
            path: file,
            functions,
            text,
        })),
        Err(e) => {
            c.at(
                &f.referenced,
                path,
                format!("the processor does not load: {e}"),
            );
            None
        }
    }
}
