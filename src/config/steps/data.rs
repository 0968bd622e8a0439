//! A plan's CSV data source: the file, its columns, and the order rows are handed out.

use crate::config::error::Collector;
use crate::config::raw::RawData;
use std::path::Path;
use std::sync::Arc;

/// Row order of a CSV data source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataOrder {
    Sequential,
    Random,
}

/// CSV data is held whole (rows are handed out by index); larger files are refused.
const MAX_DATA_BYTES: u64 = 256 * 1024 * 1024;

/// Rows of a CSV file, one per iteration.
#[derive(Debug, Clone)]
pub struct DataSource {
    pub columns: Vec<String>,
    /// One record per row (one buffer each, not one per field: a large file costs little
    /// more than its size).
    pub rows: Arc<Vec<csv::StringRecord>>,
    pub order: DataOrder,
    /// `all_as`: every row in one variable, instead of one row per iteration.
    pub all_as: Option<String>,
}

pub(in crate::config) fn data_source(
    c: &mut Collector,
    d: &RawData,
    path: &str,
    base: Option<&Path>,
) -> Option<DataSource> {
    let order = crate::config::rules::keyword(
        c,
        d.order.as_ref(),
        &format!("{path}.order"),
        &[
            ("sequential", DataOrder::Sequential),
            ("random", DataOrder::Random),
        ],
        DataOrder::Sequential,
    )
    .unwrap_or(DataOrder::Sequential);
    let file = base
        .map(|b| b.join(&d.file.value))
        .unwrap_or_else(|| d.file.value.clone().into());
    let delimiter = delimiter(c, d, path);
    let named = d.columns.as_ref().filter(|cols| !cols.is_empty());
    let mut reader = match crate::files::limited_reader(&file, MAX_DATA_BYTES) {
        Ok(r) => csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(named.is_none() || d.skip_header)
            .from_reader(r),
        Err(e) => {
            c.at(
                &d.file.referenced,
                &format!("{path}.file"),
                format!(
                    "{} (CSV data is at most 256 MiB)",
                    e.about(&file.display().to_string())
                ),
            );
            return None;
        }
    };
    let columns: Vec<String> = match (named, reader.headers()) {
        (Some(cols), _) => cols.iter().map(|c| c.value.trim().to_string()).collect(),
        (None, Ok(h)) => h.iter().map(str::to_string).collect(),
        (None, Err(e)) => {
            c.at(
                &d.file.referenced,
                &format!("{path}.file"),
                format!("{}: bad CSV header: {e}", file.display()),
            );
            return None;
        }
    };
    let rows = match rows(&mut reader, columns.len(), &file) {
        Ok(rows) => rows,
        Err(why) => {
            c.at(&d.file.referenced, &format!("{path}.file"), why);
            return None;
        }
    };
    Some(DataSource {
        columns,
        rows: Arc::new(rows),
        order,
        all_as: d.all_as.as_ref().map(|n| n.value.clone()),
    })
}

/// A one-character ASCII delimiter (`,` when not given).
fn delimiter(c: &mut Collector, d: &RawData, path: &str) -> u8 {
    match &d.delimiter {
        None => b',',
        Some(x) if x.value.len() == 1 && x.value.is_ascii() => x.value.as_bytes()[0],
        Some(x) => {
            c.at(
                &x.referenced,
                &format!("{path}.delimiter"),
                format!("{:?} must be one ASCII character, e.g. \";\"", x.value),
            );
            b','
        }
    }
}

/// Every row of the file, each with at least `columns` fields; the first bad row, or a file
/// without rows, is the error.
fn rows<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
    columns: usize,
    file: &Path,
) -> Result<Vec<csv::StringRecord>, String> {
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        match rec {
            Ok(r) if r.len() < columns => {
                return Err(format!(
                    "{} row {}: {} field(s), fewer than the {columns} columns",
                    file.display(),
                    i + 1,
                    r.len(),
                ));
            }
            Ok(r) => rows.push(r),
            Err(e) => return Err(format!("{} row {}: {e}", file.display(), i + 2)),
        }
    }
    if rows.is_empty() {
        return Err(format!("{} has a header but no rows", file.display()));
    }
    Ok(rows)
}
