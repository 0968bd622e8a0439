//! The daemon: the only module that knows every part. This file is the wiring (the config
//! in force, reload, start and shutdown); the parts are beside it:
//! - `admission`: whether a run may start (overlap, concurrency, rate cap) and the runs in
//!   progress;
//! - `runner`: one admitted run on the shared run path, compared with history and stored;
//! - `live`: the runs in progress, window by window, for the live view;
//! - `writes`: finished runs whose write failed, retried;
//! - `segments`: the segments of distributed runs, merged into one stored run;
//! - `housekeeping`: host sampling, write retries and segment deadlines in the background.
//!
//! Scheduled plans are driven by [`crate::schedule::drive`], one task per plan, with
//! [`App::trigger`] as the trigger function.

mod admission;
mod housekeeping;
mod live;
mod runner;
mod segments;
mod writes;

pub use admission::StartError;
pub use live::Snapshot;
pub use segments::{SegmentError, SegmentReceipt};

use crate::config::{self, Config, PlanSpec};
use crate::metrics::Metrics;
use crate::schedule::{self, Refused, WallClock};
use crate::store::{Store, StoreError, Trigger};
use crate::sync::{LockExt, RwLockExt};
use admission::Admission;
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use writes::PendingWrites;

/// How long SIGTERM may take before the daemon exits: well inside the 10 s it promises and
/// a third of Kubernetes' default 30-s grace period.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(8);
/// How long runs let in-flight requests finish after SIGTERM, whatever their `graceful_stop`
/// and request timeouts: what is still in flight then is cancelled, and the run is stored
/// `interrupted` with everything measured so far within the rest of the budget.
pub const DRAIN_ON_SHUTDOWN: Duration = Duration::from_secs(4);

/// The daemon.
pub struct App {
    config: RwLock<Arc<Config>>,
    /// The file to reload from; `None` for the embedded demo config.
    source: Option<PathBuf>,
    store: Store,
    metrics: Metrics,
    admission: Admission,
    live: live::LiveRuns,
    writes: PendingWrites,
    /// Cancelled on shutdown: schedulers stop, runs stop gracefully.
    root: CancellationToken,
    /// Cancelled on reload: the schedulers of the old config stop.
    schedulers: Mutex<CancellationToken>,
    tracker: TaskTracker,
    housekeeping_started: AtomicBool,
    /// Held while segments are checked, kept and merged: two arriving at once must not both
    /// (or neither) complete their run.
    segments: Mutex<()>,
}

impl App {
    /// Opens the store and adopts the config; call [`App::start`] to begin scheduling.
    pub fn new(cfg: Config, source: Option<PathBuf>) -> Result<Arc<App>, StoreError> {
        release_freed_memory();
        let (store, report) = Store::open(&cfg.store.path)?;
        if let Some((aside, why)) = &report.quarantined {
            warn!(path = %aside.display(), reason = %why, "run store was damaged; moved aside with its -wal and -shm and started a new one");
        }
        if report.orphans_aborted > 0 {
            warn!(
                runs = report.orphans_aborted,
                "runs left running by a previous process were marked aborted"
            );
        }
        let metrics = Metrics::default();
        metrics.set_plans(&cfg.plans);
        metrics.set_reload(true);
        let root = CancellationToken::new();
        Ok(Arc::new(App {
            admission: Admission::new(cfg.limits.max_concurrent_runs as usize),
            live: live::LiveRuns::default(),
            config: RwLock::new(Arc::new(cfg)),
            source,
            store,
            metrics,
            writes: PendingWrites::default(),
            schedulers: Mutex::new(root.child_token()),
            root,
            tracker: TaskTracker::new(),
            housekeeping_started: AtomicBool::new(false),
            segments: Mutex::new(()),
        }))
    }

    /// The run history, for reading (the API and pages).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The live figures (`/metrics`).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The `/metrics` text, with the store's own figures brought up to date.
    pub fn render_metrics(&self) -> String {
        self.metrics
            .set_store_unreadable(self.store.unreadable_rows());
        self.metrics.render()
    }

    /// Cancelled when the daemon shuts down (the API server stops with it).
    pub fn shutdown_signal(&self) -> CancellationToken {
        self.root.clone()
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.read_locked().clone()
    }

    /// True while a run of `plan` is going on.
    pub fn is_running(&self, plan: &str) -> bool {
        self.admission.is_running(plan)
    }

    /// Watches run `id` as it goes (one snapshot a second, then its stored status); `None`
    /// when no run with this id is in progress.
    pub fn watch_run(&self, id: &str) -> Option<tokio::sync::watch::Receiver<Arc<Snapshot>>> {
        self.live.watch(id)
    }

    /// The ids of `plan`'s runs in progress that can be watched.
    pub fn live_runs(&self, plan: &str) -> Vec<String> {
        self.live.of_plan(plan)
    }

    /// Starts one scheduler task per scheduled plan (and the housekeeping task, once).
    pub fn start(self: &Arc<Self>) {
        if !self.housekeeping_started.swap(true, Ordering::Relaxed) {
            let app = self.clone();
            self.tracker.spawn(async move { app.housekeeping().await });
        }
        let token = self.root.child_token();
        *self.schedulers.locked() = token.clone();
        for plan in self.config().plans.iter().filter(|p| p.schedule.is_some()) {
            let app = self.clone();
            let plan = plan.clone();
            let token = token.clone();
            self.tracker
                .spawn(async move { app.schedule(plan, token).await });
        }
    }

    /// Drives one plan's schedule until reload or shutdown.
    async fn schedule(self: Arc<Self>, plan: Arc<PlanSpec>, stop: CancellationToken) {
        let Some(schedule) = &plan.schedule else {
            return;
        };
        let events = PlanEvents {
            metrics: &self.metrics,
            plan: &plan.name,
        };
        let trigger = || match self.trigger(&plan.name, Trigger::Schedule) {
            Ok(_) => Ok(()),
            Err(StartError::Overlap(_)) => Err(Refused::Overlap),
            Err(StartError::Busy | StartError::RateCap { .. }) => Err(Refused::Concurrency),
            Err(e) => Err(Refused::Other(e.to_string())),
        };
        schedule::drive(schedule, &WallClock, &events, trigger, stop).await;
    }

    /// Writes runs that could not be stored before; returns how many are still waiting.
    pub fn retry_pending(&self) -> usize {
        self.writes.retry(&self.store, &self.metrics)
    }

    /// Reloads the file. A broken file keeps the old config and reports every error; a
    /// valid one swaps the plans at once. Runs in progress finish under their old plan.
    pub fn reload(self: &Arc<Self>) -> Result<usize, String> {
        let Some(path) = &self.source else {
            return Err("the embedded demo config cannot be reloaded".into());
        };
        match config::load_file(path) {
            Ok(cfg) => {
                for w in &cfg.warnings {
                    warn!(warning = %w, "configuration warning");
                }
                let n = cfg.plans.len();
                self.metrics.set_plans(&cfg.plans);
                self.metrics.set_reload(true);
                *self.config.write_locked() = Arc::new(cfg);
                release_freed_memory();
                self.schedulers.locked().cancel();
                self.start();
                info!(plans = n, "configuration reloaded");
                Ok(n)
            }
            Err(e) => {
                self.metrics.set_reload(false);
                warn!(errors = %e, "reload rejected; the previous configuration stays active");
                Err(e.to_string())
            }
        }
    }

    /// Starts a run of `name` now, applying the plan's overlap policy and the global
    /// limits. Returns the run id.
    pub fn trigger(self: &Arc<Self>, name: &str, trigger: Trigger) -> Result<String, StartError> {
        self.trigger_scaled(name, trigger, None)
    }

    /// [`App::trigger`] with every rate and VU count of the plan multiplied by `scale`
    /// (within the configured limits; never another target). A scaled run is stored under
    /// its own config hash (`HASH-xF`), so it is neither compared with nor a baseline for the
    /// plan's regular runs.
    pub fn trigger_scaled(
        self: &Arc<Self>,
        name: &str,
        trigger: Trigger,
        scale: Option<f64>,
    ) -> Result<String, StartError> {
        if self.root.is_cancelled() {
            return Err(StartError::ShuttingDown);
        }
        let mut cfg = self.config();
        let mut plan = cfg
            .plan(name)
            .cloned()
            .ok_or_else(|| StartError::UnknownPlan(name.to_string()))?;
        let scale = scale
            .map(crate::config::check_scale)
            .transpose()
            .map_err(StartError::Scale)?;
        if let Some(f) = scale.filter(|f| *f != 1.0) {
            plan = Arc::new(plan.scaled(f, &cfg.limits).map_err(StartError::Scale)?);
            let mut scaled = (*cfg).clone();
            scaled.hash = cfg.scaled_hash(f);
            cfg = Arc::new(scaled);
        }
        let admitted = self
            .admission
            .admit(&plan, cfg.limits.max_rps, &self.root)?;
        if let Err(e) = self
            .store
            .insert_running(&admitted.id, name, trigger, &cfg.hash)
        {
            self.admission.release(name, &admitted.id);
            return Err(e.into());
        }
        self.metrics.run_started(name);
        // Watchable from the moment its id is known, so a live view opened right after the
        // trigger finds it.
        let live = self.live.begin(&admitted.id, name);
        info!(plan = %name, run = %admitted.id, %trigger, "run started");
        let app = self.clone();
        let id = admitted.id.clone();
        self.tracker.spawn(async move {
            app.run_one(plan, &admitted.id, &cfg, admitted.cancel, live)
                .await;
            drop(admitted.permit);
        });
        Ok(id)
    }

    /// Cancels a run in progress (it stops gracefully and is stored as interrupted).
    pub fn cancel(&self, id: &str) -> bool {
        self.admission.cancel(id)
    }

    /// Stops scheduling and every run (in-flight requests get [`DRAIN_ON_SHUTDOWN`]), and
    /// waits for them to be stored, at most [`SHUTDOWN_BUDGET`].
    pub async fn shutdown(&self) {
        self.root.cancel();
        self.tracker.close();
        if tokio::time::timeout(SHUTDOWN_BUDGET, self.tracker.wait())
            .await
            .is_err()
        {
            warn!("shutdown budget exceeded; exiting with runs still finishing");
        }
        let lost = self.retry_pending();
        if lost > 0 {
            warn!(
                runs = lost,
                "finished runs could not be written to the store before exit"
            );
        }
    }
}

/// A plan's scheduler reporting into `/metrics`.
struct PlanEvents<'a> {
    metrics: &'a Metrics,
    plan: &'a str,
}

impl schedule::Events for PlanEvents<'_> {
    fn next_fire(&self, at: DateTime<Utc>) {
        self.metrics
            .set_next_run(self.plan, Some(at.timestamp_millis() as f64 / 1000.0));
    }
    fn late(&self, by: Duration) {
        self.metrics.lateness(self.plan, by.as_secs_f64());
    }
    fn skipped(&self, why: &Refused) {
        match why {
            Refused::Overlap => self.metrics.skipped(self.plan, "overlap"),
            Refused::Concurrency => self.metrics.skipped(self.plan, "concurrency"),
            Refused::Other(e) => {
                warn!(plan = %self.plan, error = %e, "scheduled run not started")
            }
        }
    }
    fn missed(&self, n: u64) {
        warn!(plan = %self.plan, missed = n, "scheduled runs missed (suspend, downtime or clock jump)");
        self.metrics.missed(self.plan, n);
    }
}

/// Gives back to the system the memory that reading a config freed: parsing a fleet of plans
/// peaks far above what the plans keep (10,000 plans: 231 MiB resident idle without this),
/// and glibc's allocator would otherwise hold the difference. Only after a config load:
/// trimming walks the heap under the allocator's lock, which a run in progress would feel
/// as latency.
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the heap; no live allocation is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}
