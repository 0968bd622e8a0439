//! Finished runs on their way to the store. A write that fails (disk full, I/O error) keeps
//! the result in memory, counted, and is tried again every 10 s and at shutdown; nothing
//! finished is dropped while the process lives.

use crate::judge::verdict::Outcome;
use crate::measure::Histo;
use crate::metrics::Metrics;
use crate::report::Summary;
use crate::store::Store;
use crate::sync::LockExt;
use std::sync::Mutex;
use tracing::warn;

struct Finished {
    id: String,
    status: Outcome,
    json: String,
}

/// The finished runs whose write failed.
#[derive(Default)]
pub(super) struct PendingWrites {
    waiting: Mutex<Vec<Finished>>,
}

impl PendingWrites {
    /// Stores a finished run, or keeps it for [`PendingWrites::retry`].
    pub fn persist(
        &self,
        store: &Store,
        metrics: &Metrics,
        id: String,
        status: Outcome,
        json: String,
    ) {
        if let Err(e) = store.finish(&id, status, &json) {
            warn!(run = %id, error = %e, "could not store the finished run; keeping it in memory and retrying");
            metrics.store_error();
            self.waiting.locked().push(Finished { id, status, json });
        }
    }

    /// Writes the runs that could not be stored before; returns how many are still waiting.
    pub fn retry(&self, store: &Store, metrics: &Metrics) -> usize {
        let waiting = std::mem::take(&mut *self.waiting.locked());
        for f in waiting {
            self.persist(store, metrics, f.id, f.status, f.json);
        }
        self.waiting.locked().len()
    }
}

impl super::App {
    /// A run's end, written once for every kind of run (scheduled, API, start-up, merged
    /// from segments): its figures on `/metrics` when it was judged, its write to the store
    /// (kept and retried when the write fails), and the history pruned to its retention.
    pub(super) fn record_end(
        &self,
        plan: &str,
        id: &str,
        status: Outcome,
        json: String,
        judged: Option<(&Summary, &Histo)>,
    ) {
        if let Some((summary, latency)) = judged {
            self.metrics.run_finished(plan, summary, latency);
        }
        self.writes
            .persist(&self.store, &self.metrics, id.to_string(), status, json);
        let cfg = self.config();
        let _ = self.store.prune(cfg.store.keep_runs, cfg.store.max_age);
    }
}
