//! The one run path: a validated plan and its options in, the run's output and its judgement
//! out. `loadpacer run`, `hit`, the daemon and the tests all go through [`run()`], so every run
//! is guarded (`abort_on_fail` thresholds, the breakpoint stop, the generator's CPU watch),
//! sampled (host, watched processes, monitors) and judged the same way. What differs between
//! them (a progress display, a metrics publisher, where a baseline comes from) is the
//! caller's: an extra observer in, the summary out to compare and publish.

use crate::config::{Limits, PlanSpec};
use crate::judge::resources::{MonitorSink, ResourceWatch};
use crate::judge::{AbortGuard, BreakpointWatch, CpuWatch};
use crate::report::summary::{Criteria, Inputs};
use crate::report::Summary;
use crate::run::{self, Observer, RunError, RunOptions, RunOutput};
use crate::sync::LockExt;
use futures_util::FutureExt;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How a session runs its plan.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub run: RunOptions,
    /// Processes watched by name during the run (`host.processes`).
    pub processes: Vec<String>,
    /// The caller's part of the judgement: an error-rate bound (`hit`), a baseline.
    pub criteria: Criteria,
    /// Where monitor values go as they are polled (the daemon's `/metrics`).
    pub monitor_sink: Option<Arc<dyn MonitorSink>>,
}

/// A finished run and its judgement.
pub struct Judged {
    pub output: RunOutput,
    pub summary: Summary,
}

/// Runs `plan` to its end (or until `interrupt`), with `extra` watching every window, and
/// judges it. A panic anywhere in the run is returned as [`RunError::Panicked`], never as a
/// verdict.
pub async fn run(
    plan: Arc<PlanSpec>,
    limits: &Limits,
    config_hash: &str,
    opts: &Options,
    extra: &mut dyn Observer,
    interrupt: CancellationToken,
) -> Result<Judged, RunError> {
    let cpu = CpuWatch::new();
    let cpu_finding = cpu.finding();
    let watch = ResourceWatch::new(&opts.processes, &plan.monitors, opts.monitor_sink.clone());
    let resources = watch.result();
    let mut observer = run::Both(
        run::Both(AbortGuard::new(plan.clone()), BreakpointWatch::new(&plan)),
        run::Both(run::Both(cpu, watch), extra),
    );
    let output = std::panic::AssertUnwindSafe(run::execute(
        plan,
        limits,
        opts.run,
        &mut observer,
        interrupt,
    ))
    .catch_unwind()
    .await
    .unwrap_or_else(|p| Err(RunError::Panicked(run::panic_message(p))))?;
    drop(observer); // stops the monitors; the sampled figures are complete
    let sampled = resources.locked().clone();
    let summary = Summary::build_with(
        &output,
        config_hash,
        Inputs {
            resources: Some(sampled),
            generator_cpu: cpu_finding.locked().take(),
            criteria: opts.criteria.clone(),
            partial: None,
        },
    );
    Ok(Judged { output, summary })
}
