//! `loadpacer report` and `loadpacer compare`: reports from saved summaries.

use super::read_summary;
use anyhow::Result;
use std::path::{Path, PathBuf};

pub(crate) fn report(summary: &Path, files: &super::outputs::ReportFiles) -> Result<u8> {
    if files.is_empty() {
        eprintln!("error: say what to write: --html FILE, --junit FILE and/or --markdown FILE");
        return Ok(2);
    }
    let s = read_summary(summary)?;
    files.write(&[(None, &s)])?;
    Ok(0)
}

/// Prints the summaries side by side (the first is the baseline) and checks each later one
/// for a regression against it: exit 1 when one regressed.
pub(crate) fn compare(files: &[PathBuf]) -> Result<u8> {
    if files.len() < 2 {
        eprintln!("error: compare needs at least two summary.json files: the baseline first");
        return Ok(2);
    }
    let summaries = files
        .iter()
        .map(|f| read_summary(f))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&loadpacer::report::Summary> = summaries.iter().collect();
    println!("{}", loadpacer::report::console::compare(&refs));
    let (base, rest) = summaries.split_first().expect("two or more");
    let mut failed = false;
    for (file, s) in files[1..].iter().zip(rest) {
        let mut s = s.clone();
        // A run at another scale of the same load is expected to carry that much more or
        // less throughput: the baseline's is scaled before comparing, and this is said.
        let mut expected = base.figures();
        let scale_of = loadpacer::config::scale_of_hash;
        let (ratio_b, ratio_s) = (scale_of(&base.config_hash), scale_of(&s.config_hash));
        if ratio_b != ratio_s {
            expected.rps *= ratio_s / ratio_b;
            println!(
                "{}: ran at scale {ratio_s} and the baseline at {ratio_b}: its throughput is compared with the baseline's × {}",
                file.display(),
                ratio_s / ratio_b
            );
        }
        s.compare_with(&files[0].display().to_string(), &[expected]);
        let regressed: Vec<String> = s
            .regression
            .iter()
            .flat_map(|r| r.deltas.iter())
            .filter(|d| d.regressed)
            .map(|d| format!("{} {:+.1}%", d.metric, d.delta_ratio * 100.0))
            .collect();
        if regressed.is_empty() {
            println!(
                "{}: no regression beyond the tolerances (latency +10 %, error rate +0.5 points, throughput -10 %)",
                file.display()
            );
        } else {
            println!("{}: REGRESSION: {}", file.display(), regressed.join(", "));
            failed = true;
        }
    }
    Ok(u8::from(failed))
}
