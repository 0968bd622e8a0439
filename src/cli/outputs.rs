//! The report files a run, a merge or a saved summary can be written as (`--html`,
//! `--junit`, `--markdown`): one set of flags and one writer for `run`, `merge` and
//! `report`, secrets redacted with each plan's.

use super::{per_plan_path, write_file};
use anyhow::Result;
use clap::Args;
use loadpacer::config::PlanSpec;
use loadpacer::report::Summary;
use std::path::PathBuf;

#[derive(Args, Clone, Default)]
pub(crate) struct ReportFiles {
    /// Write JUnit XML here (one test suite per plan; a case per threshold and check).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML report here (`NAME-PLAN.html` when several plans run).
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Write a short Markdown summary here, for a CI job summary or a pull-request comment
    /// (e.g. `--markdown "$GITHUB_STEP_SUMMARY"`; `NAME-PLAN.md` when several plans run).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

impl ReportFiles {
    /// True when no report file was asked for.
    pub fn is_empty(&self) -> bool {
        self.html.is_none() && self.junit.is_none() && self.markdown.is_none()
    }

    /// Writes the reports of `runs` (each with its plan, whose secrets are redacted, when
    /// known): an HTML and a Markdown file per run (`NAME-PLAN.ext` when there are several)
    /// and one JUnit file for all of them.
    pub fn write(&self, runs: &[(Option<&PlanSpec>, &Summary)]) -> Result<()> {
        let redact = |plan: Option<&PlanSpec>, text: String| match plan {
            Some(p) => p.redact(&text),
            None => text,
        };
        for (plan, summary) in runs {
            let path = |p: &PathBuf| {
                if runs.len() > 1 {
                    per_plan_path(p, &summary.plan)
                } else {
                    p.clone()
                }
            };
            if let Some(html) = &self.html {
                let text = loadpacer::report::html::render(summary);
                write_file(&path(html), &redact(*plan, text))?;
            }
            if let Some(md) = &self.markdown {
                let text = loadpacer::report::markdown::render(summary);
                write_file(&path(md), &redact(*plan, text))?;
            }
        }
        if let Some(junit) = &self.junit {
            let refs: Vec<&Summary> = runs.iter().map(|(_, s)| *s).collect();
            let xml = loadpacer::report::junit::render(&refs)?;
            let xml = runs.iter().fold(xml, |x, (p, _)| redact(*p, x));
            write_file(junit, &xml)?;
        }
        Ok(())
    }
}
