//! One admitted run, from start to stored result: the shared run path
//! ([`crate::session::run`]) with the daemon's options, the comparison with the plan's
//! history, the final metrics, the write, and pruning.

use super::App;
use crate::config::{Config, PlanSpec};
use crate::judge::analysis::Tolerance;
use crate::judge::verdict::Outcome;
use crate::report::summary::{Baseline, Criteria};
use crate::report::Summary;
use crate::run::{Both, RunError, RunOptions};
use crate::session::{self, Judged};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

impl App {
    pub(super) async fn run_one(
        &self,
        plan: std::sync::Arc<PlanSpec>,
        id: &str,
        cfg: &Config,
        cancel: CancellationToken,
        mut live: super::live::LiveObserver,
    ) {
        let opts = session::Options {
            run: RunOptions {
                interrupt_grace: Some(super::DRAIN_ON_SHUTDOWN),
                ..Default::default()
            },
            processes: cfg.host.processes.clone(),
            criteria: Criteria {
                max_error_rate: None,
                baseline: self.baseline(&plan, &cfg.hash),
            },
            monitor_sink: Some(self.metrics.monitor_sink(&plan.name)),
        };
        let mut publisher = self.metrics.publisher(&plan.name);
        let result = session::run(
            plan.clone(),
            &cfg.limits,
            &cfg.hash,
            &opts,
            &mut Both(&mut publisher, &mut live),
            cancel,
        )
        .await;
        let status = match result {
            // A panic anywhere in the run is stored as an `error` run, never left `running`.
            Err(RunError::Panicked(why)) => {
                error!(plan = %plan.name, run = %id, reason = %why, "the run panicked");
                let json = serde_json::json!({ "error": format!("the run panicked: {why}") });
                self.record_end(&plan.name, id, Outcome::Error, json.to_string(), None);
                Outcome::Error
            }
            Ok(Judged { output, summary }) => {
                let status = summary.result;
                let latency = output.total.merged_latency();
                let json = summary.to_json(&plan);
                self.record_end(&plan.name, id, status, json, Some((&summary, &latency)));
                status
            }
            Err(e) => {
                warn!(plan = %plan.name, error = %e, "run could not start");
                let json = serde_json::json!({ "error": e.to_string() });
                self.record_end(&plan.name, id, Outcome::Aborted, json.to_string(), None);
                Outcome::Aborted
            }
        };
        self.live.end(id, status.as_str());
        self.admission.release(&plan.name, id);
        info!(plan = %plan.name, run = %id, status = status.as_str(), "run finished");
    }

    /// What a run of `plan` is compared with: the median of the plan's last passing runs of
    /// the same config, or the pinned baseline run; `None` without a `regression` block.
    /// Read before the run starts, so the run is judged once, with it.
    fn baseline(&self, plan: &PlanSpec, hash: &str) -> Option<Baseline> {
        let spec = plan.regression.as_ref()?;
        let found = match &spec.baseline_run {
            Some(id) => self
                .store
                .get(id)
                .map(|r| r.and_then(|r| r.summary).into_iter().collect::<Vec<_>>()),
            None => self.store.recent_passing(&plan.name, hash, spec.window),
        };
        let history = match found {
            Ok(h) => h,
            Err(e) => {
                warn!(plan = %plan.name, error = %e, "cannot read the baseline runs");
                return None;
            }
        };
        let figures: Vec<_> = history
            .into_iter()
            .filter_map(|v| serde_json::from_value::<Summary>(v).ok())
            .map(|s| s.figures())
            .collect();
        Some(Baseline {
            label: match &spec.baseline_run {
                Some(id) => format!("pinned run {id}"),
                None => format!("median of the last {} passing runs", figures.len()),
            },
            figures,
            tolerance: Tolerance {
                latency: spec.latency,
                error_rate: spec.error_rate,
                throughput: spec.throughput,
                ..Default::default()
            },
        })
    }
}
