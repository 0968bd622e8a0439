//! `loadpacer report` and `loadpacer compare`: reports from saved summaries.

use super::{read_summary, write_file};
use anyhow::Result;
use std::path::Path;

pub(crate) fn report(summary: &Path, html: Option<&Path>, junit: Option<&Path>) -> Result<u8> {
    if html.is_none() && junit.is_none() {
        eprintln!("error: say what to write: --html FILE and/or --junit FILE");
        return Ok(2);
    }
    let s = read_summary(summary)?;
    if let Some(p) = html {
        write_file(p, &loadpacer::report::html::render(&s))?;
    }
    if let Some(p) = junit {
        write_file(p, &loadpacer::report::junit::render(&[&s])?)?;
    }
    Ok(0)
}

pub(crate) fn compare(a: &Path, b: &Path) -> Result<u8> {
    let (sa, mut sb) = (read_summary(a)?, read_summary(b)?);
    println!("{}", loadpacer::report::console::compare(&sa, &sb));
    sb.compare_with(&a.display().to_string(), &[sa.figures()]);
    let regressed: Vec<String> = sb
        .regression
        .iter()
        .flat_map(|r| r.deltas.iter())
        .filter(|d| d.regressed)
        .map(|d| format!("{} {:+.1}%", d.metric, d.delta_ratio * 100.0))
        .collect();
    if regressed.is_empty() {
        println!("no regression beyond the tolerances (latency +10 %, error rate +0.5 points, throughput -10 %)");
        Ok(0)
    } else {
        println!("REGRESSION: {}", regressed.join(", "));
        Ok(1)
    }
}
