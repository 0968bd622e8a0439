//! Whether a run may start now: the plan's overlap policy, the global concurrency limit and
//! the global rate cap, and the register of runs in progress (to cancel them).

use crate::config::{Overlap, PlanSpec};
use crate::sync::LockExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Why a run was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no plan named {0:?}")]
    UnknownPlan(String),
    #[error("plan {0:?} is already running and its overlap policy is forbid")]
    Overlap(String),
    #[error("limits.max_concurrent_runs reached; try again when a run has finished")]
    Busy,
    #[error("starting this run would exceed limits.max_rps ({limit}/s): {running}/s in progress + {asked}/s asked")]
    RateCap {
        limit: f64,
        running: f64,
        asked: f64,
    },
    #[error("shutting down")]
    ShuttingDown,
    /// A `scale` the plan cannot take within the limits.
    #[error("{0}")]
    Scale(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

struct Running {
    id: String,
    cancel: CancellationToken,
    /// Peak arrival rate of the run (0 for the closed model).
    peak: f64,
}

/// A run let in: it holds a concurrency slot until dropped.
pub(super) struct Admitted {
    pub id: String,
    pub cancel: CancellationToken,
    pub permit: OwnedSemaphorePermit,
}

/// The runs in progress and the concurrency slots.
pub(super) struct Admission {
    running: Mutex<HashMap<String, Vec<Running>>>,
    slots: Arc<Semaphore>,
}

fn peak_rate(plan: &PlanSpec) -> f64 {
    crate::config::peak_rate(&plan.workloads)
}

impl Admission {
    pub fn new(max_concurrent_runs: usize) -> Self {
        Admission {
            running: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(max_concurrent_runs)),
        }
    }

    fn running(&self) -> MutexGuard<'_, HashMap<String, Vec<Running>>> {
        self.running.locked()
    }

    /// Lets a run of `plan` in, or says why not. Under `replace` the runs in progress are
    /// cancelled; they count against the rate cap until they have ended. The new run's
    /// token is a child of `parent` (the daemon's shutdown token).
    pub fn admit(
        &self,
        plan: &PlanSpec,
        max_rps: f64,
        parent: &CancellationToken,
    ) -> Result<Admitted, StartError> {
        let overlap = plan
            .schedule
            .as_ref()
            .map(|s| s.overlap)
            .unwrap_or(Overlap::Forbid);
        let asked = peak_rate(plan);
        let mut running = self.running();
        let current = running
            .get(&plan.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        match overlap {
            _ if current.is_empty() => {}
            Overlap::Forbid => return Err(StartError::Overlap(plan.name.clone())),
            Overlap::Replace => current.iter().for_each(|r| r.cancel.cancel()),
            Overlap::Allow => {}
        }
        let in_use: f64 = running.values().flatten().map(|r| r.peak).sum();
        if in_use + asked > max_rps {
            return Err(StartError::RateCap {
                limit: max_rps,
                running: in_use,
                asked,
            });
        }
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| StartError::Busy)?;
        let admitted = Admitted {
            id: uuid::Uuid::now_v7().to_string(),
            cancel: parent.child_token(),
            permit,
        };
        running.entry(plan.name.clone()).or_default().push(Running {
            id: admitted.id.clone(),
            cancel: admitted.cancel.clone(),
            peak: asked,
        });
        Ok(admitted)
    }

    /// Forgets a run that has ended (or never started).
    pub fn release(&self, plan: &str, id: &str) {
        if let Some(v) = self.running().get_mut(plan) {
            v.retain(|r| r.id != id);
        }
    }

    /// Cancels a run in progress; false when no run has that id.
    pub fn cancel(&self, id: &str) -> bool {
        self.running()
            .values()
            .flatten()
            .find(|r| r.id == id)
            .map(|r| r.cancel.cancel())
            .is_some()
    }

    /// True while a run of `plan` is going on.
    pub fn is_running(&self, plan: &str) -> bool {
        self.running().get(plan).is_some_and(|v| !v.is_empty())
    }
}
