//! `loadpacer merge FILE SUMMARY...`: one verdict for a distributed run. The summaries of the
//! `run --segment I/N` processes are merged losslessly, judged with the plan of FILE (the file
//! they ran), reported like a run, and the exit code is the verdict's.

use super::{read_summary, write_file};
use anyhow::Result;
use clap::Args;
use loadpacer::report::console;
use loadpacer::report::merge::{merge, Part};
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct MergeArgs {
    /// The config file (or Artillery script) the segments ran.
    file: PathBuf,
    /// The segments' summary.json files (`run --segment I/N --out DIR`), one per segment.
    #[arg(required = true)]
    summaries: Vec<PathBuf>,
    /// Merge the segments that reported when others did not: the run is marked partial and
    /// fails (exit 1) with the missing segments named.
    #[arg(long)]
    partial: bool,
    /// Write the merged summary.json here.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    reports: super::outputs::ReportFiles,
    #[command(flatten)]
    script: super::ScriptArgs,
}

pub(crate) fn merge_files(args: MergeArgs) -> Result<u8> {
    let Some((choices, k6)) = args.script.all_choices_or_say() else {
        return Ok(2);
    };
    let Some(cfg) = super::load_with(&args.file, &choices, &k6) else {
        return Ok(2);
    };
    let mut parts = Vec::new();
    for path in &args.summaries {
        match read_summary(path) {
            Ok(summary) => parts.push(Part {
                label: path.display().to_string(),
                summary,
            }),
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(2);
            }
        }
    }
    let name = parts[0].summary.plan.clone();
    let Some(plan) = cfg.plan(&name).cloned() else {
        let names: Vec<&str> = cfg.plans.iter().map(|p| p.name.as_str()).collect();
        eprintln!(
            "error: {} is a run of plan {name:?}, which {} does not have (plans: {}); give the file the segments ran",
            parts[0].label,
            args.file.display(),
            names.join(", ")
        );
        return Ok(2);
    };
    let summary = match merge(plan.clone(), &cfg.hash, &parts, args.partial) {
        Ok(m) => m.summary,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    print!("{}", plan.redact(&console::render(&summary)));
    if let Some(dir) = &args.out {
        write_file(&dir.join("summary.json"), &summary.to_json(&plan))?;
    }
    args.reports.write(&[(Some(plan.as_ref()), &summary)])?;
    Ok(summary.result.exit_code() as u8)
}
