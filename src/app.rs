//! The daemon's wiring: the only module that knows every part. It owns the current config,
//! the run store, the exported metrics, one scheduler task per scheduled plan, and the runs
//! in progress; it reloads and shuts down.

use crate::config::{self, next_fire, Config, Overlap, PlanSpec};
use crate::metrics::Metrics;
use crate::report::Summary;
use crate::run::{self, RunOptions};
use crate::schedule::Wake;
use crate::store::{Store, StoreError};
use chrono::Utc;
use rand::Rng;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Running {
    id: String,
    cancel: CancellationToken,
    /// Peak arrival rate of the run (0 for the closed model).
    peak: f64,
}

fn peak_rate(plan: &PlanSpec) -> f64 {
    match &plan.load.shape {
        config::LoadShape::Open { phases, .. } => phases
            .iter()
            .map(|p| p.rate.max(p.ramp_to))
            .fold(0.0, f64::max),
        config::LoadShape::Closed { .. } => 0.0,
    }
}

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
    running: Mutex<HashMap<String, Vec<Running>>>,
    slots: Arc<Semaphore>,
    /// Cancelled on shutdown: schedulers stop, runs stop gracefully.
    root: CancellationToken,
    schedulers: Mutex<CancellationToken>,
    tracker: TaskTracker,
    /// Finished runs whose write failed, retried every 10 s and at shutdown.
    pending: Mutex<Vec<(String, &'static str, String)>>,
    housekeeping: std::sync::atomic::AtomicBool,
}

impl App {
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

    /// Opens the store and adopts the config; call [`App::start`] to begin scheduling.
    pub fn new(cfg: Config, source: Option<PathBuf>) -> Result<Arc<App>, StoreError> {
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
            slots: Arc::new(Semaphore::new(cfg.limits.max_concurrent_runs as usize)),
            config: RwLock::new(Arc::new(cfg)),
            source,
            store,
            metrics,
            running: Mutex::new(HashMap::new()),
            schedulers: Mutex::new(root.child_token()),
            root,
            tracker: TaskTracker::new(),
            pending: Mutex::new(Vec::new()),
            housekeeping: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// True while a run of `plan` is going on.
    pub fn is_running(&self, plan: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(plan)
            .is_some_and(|v| !v.is_empty())
    }

    /// Every `host.interval`: samples loadpacer, the host and the watched processes; every
    /// 10 s: retries store writes that failed. (A reload's new `host` block applies at the
    /// next start.)
    async fn housekeeping(&self) {
        let host = self.config().host.clone();
        let mut sampler = crate::host::ProcessSampler::this_process();
        let mut host_sampler = crate::host::HostSampler::new(host.processes.clone());
        let mut every = tokio::time::interval(host.interval);
        let mut last_retry = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = self.root.cancelled() => break,
                _ = every.tick() => {}
            }
            if let Some(sample) = sampler.sample() {
                self.metrics.set_process(sample);
            }
            if let Some(sample) = host_sampler.sample() {
                self.metrics.set_host(sample);
            }
            if last_retry.elapsed() >= Duration::from_secs(10) {
                self.retry_pending();
                last_retry = tokio::time::Instant::now();
            }
        }
    }

    /// Starts one scheduler task per scheduled plan (and the housekeeping task, once).
    pub fn start(self: &Arc<Self>) {
        if !self
            .housekeeping
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            let app = self.clone();
            self.tracker.spawn(async move { app.housekeeping().await });
        }
        let token = self.root.child_token();
        *self.schedulers.lock().unwrap_or_else(|p| p.into_inner()) = token.clone();
        for plan in self.config().plans.iter().filter(|p| p.schedule.is_some()) {
            let app = self.clone();
            let plan = plan.clone();
            let token = token.clone();
            self.tracker
                .spawn(async move { app.schedule_loop(plan, token).await });
        }
    }

    /// Stores a finished run. On failure (disk full, I/O error) the result is kept in memory,
    /// counted, and written again by [`App::retry_pending`]; nothing finished is dropped.
    fn persist(&self, id: String, status: &'static str, json: String) {
        if let Err(e) = self.store.finish(&id, status, &json) {
            warn!(run = %id, error = %e, "could not store the finished run; keeping it in memory and retrying");
            self.metrics.store_error();
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((id, status, json));
        }
    }

    /// Writes runs that could not be stored before; returns how many are still waiting.
    pub fn retry_pending(&self) -> usize {
        let waiting = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for (id, status, json) in waiting {
            self.persist(id, status, json);
        }
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Reloads the file. A broken file keeps the old config and reports every error; a
    /// valid one swaps the plans at once. Runs in progress finish under their old plan.
    pub fn reload(self: &Arc<Self>) -> Result<usize, String> {
        let Some(path) = &self.source else {
            return Err("the embedded demo config cannot be reloaded".into());
        };
        match config::load_file(path) {
            Ok(cfg) => {
                let n = cfg.plans.len();
                self.metrics.set_plans(&cfg.plans);
                self.metrics.set_reload(true);
                *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(cfg);
                self.schedulers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .cancel();
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
    /// concurrency limit. Returns the run id.
    pub fn trigger(
        self: &Arc<Self>,
        name: &str,
        trigger: &'static str,
    ) -> Result<String, StartError> {
        if self.root.is_cancelled() {
            return Err(StartError::ShuttingDown);
        }
        let cfg = self.config();
        let plan = cfg
            .plan(name)
            .cloned()
            .ok_or_else(|| StartError::UnknownPlan(name.to_string()))?;
        let overlap = plan
            .schedule
            .as_ref()
            .map(|s| s.overlap)
            .unwrap_or(Overlap::Forbid);
        let asked = peak_rate(&plan);
        {
            let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            let current = running.get(name).map(Vec::as_slice).unwrap_or_default();
            match overlap {
                _ if current.is_empty() => {}
                Overlap::Forbid => return Err(StartError::Overlap(name.to_string())),
                Overlap::Replace => current.iter().for_each(|r| r.cancel.cancel()),
                Overlap::Allow => {}
            }
            // The global cap holds across plans; a replaced run counts until it has ended.
            let in_use: f64 = running.values().flatten().map(|r| r.peak).sum();
            if in_use + asked > cfg.limits.max_rps {
                return Err(StartError::RateCap {
                    limit: cfg.limits.max_rps,
                    running: in_use,
                    asked,
                });
            }
        }
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| StartError::Busy)?;
        let id = uuid::Uuid::now_v7().to_string();
        self.store.insert_running(&id, name, trigger, &cfg.hash)?;
        let cancel = self.root.child_token();
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_string())
            .or_default()
            .push(Running {
                id: id.clone(),
                cancel: cancel.clone(),
                peak: asked,
            });
        self.metrics.run_started(name);
        info!(plan = %name, run = %id, trigger, "run started");
        let app = self.clone();
        let run_id = id.clone();
        self.tracker.spawn(async move {
            app.run_one(plan, &run_id, &cfg, cancel).await;
            drop(permit);
        });
        Ok(id)
    }

    /// Cancels a run in progress (it stops gracefully and is stored as interrupted).
    pub fn cancel(&self, id: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running
            .values()
            .flatten()
            .find(|r| r.id == id)
            .map(|r| r.cancel.cancel())
            .is_some()
    }

    async fn run_one(
        &self,
        plan: Arc<PlanSpec>,
        id: &str,
        cfg: &Config,
        cancel: CancellationToken,
    ) {
        let opts = crate::session::Options {
            run: RunOptions {
                interrupt_grace: Some(DRAIN_ON_SHUTDOWN),
                ..Default::default()
            },
            processes: cfg.host.processes.clone(),
        };
        let mut publisher = self.metrics.publisher(&plan.name);
        let result = crate::session::run(
            plan.clone(),
            &cfg.limits,
            &cfg.hash,
            &opts,
            &mut publisher,
            cancel,
        )
        .await;
        let (status, json) = match result {
            // A panic anywhere in the run is stored as an `error` run, never left `running`.
            Err(run::RunError::Panicked(why)) => {
                error!(plan = %plan.name, run = %id, reason = %why, "the run panicked");
                (
                    "error",
                    serde_json::json!({ "error": format!("the run panicked: {why}") }).to_string(),
                )
            }
            Ok(crate::session::Judged {
                output,
                mut summary,
            }) => {
                self.compare_with_history(&plan, &cfg.hash, &mut summary);
                self.metrics
                    .run_finished(&plan.name, &summary, &output.total.merged_latency());
                (summary.result.as_str(), summary.to_json(&plan))
            }
            Err(e) => {
                warn!(plan = %plan.name, error = %e, "run could not start");
                (
                    "aborted",
                    serde_json::json!({ "error": e.to_string() }).to_string(),
                )
            }
        };
        self.persist(id.to_string(), status, json);
        let _ = self.store.prune(cfg.store.keep_runs, cfg.store.max_age);
        if let Some(v) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&plan.name)
        {
            v.retain(|r| r.id != id);
        }
        info!(plan = %plan.name, run = %id, status, "run finished");
    }

    /// Compares a run with the median of the plan's last passing runs of the same config.
    fn compare_with_history(&self, plan: &PlanSpec, hash: &str, summary: &mut Summary) {
        let Some(spec) = &plan.regression else { return };
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
                return;
            }
        };
        let figures: Vec<_> = history
            .into_iter()
            .filter_map(|v| serde_json::from_value::<Summary>(v).ok())
            .map(|s| s.figures())
            .collect();
        let tolerance = crate::judge::analysis::Tolerance {
            latency: spec.latency,
            error_rate: spec.error_rate,
            throughput: spec.throughput,
            ..Default::default()
        };
        summary.compare_with_tolerance(
            &match &spec.baseline_run {
                Some(id) => format!("pinned run {id}"),
                None => format!("median of the last {} passing runs", figures.len()),
            },
            &figures,
            tolerance,
        );
    }

    /// Sleeps until each fire time and triggers the plan. Wall-clock time decides when a run
    /// is due; tokio's monotonic clock does the sleeping. After a suspend or a forward clock
    /// jump, at most one catch-up run starts (when within `starting_deadline`) and the other
    /// fires are counted as missed; a backward jump recomputes the next fire, never a burst.
    async fn schedule_loop(self: Arc<Self>, plan: Arc<PlanSpec>, stop: CancellationToken) {
        let Some(schedule) = plan.schedule.clone() else {
            return;
        };
        let mut after = Utc::now();
        loop {
            let Some(due) = next_fire(&schedule, after) else {
                return;
            };
            self.metrics
                .set_next_run(&plan.name, Some(due.timestamp_millis() as f64 / 1000.0));
            let jitter = if schedule.jitter.is_zero() {
                Duration::ZERO
            } else {
                rand::rng().random_range(Duration::ZERO..=schedule.jitter)
            };
            let wait = (due - Utc::now()).to_std().unwrap_or_default() + jitter;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            let woke = Utc::now();
            let late = (woke - due)
                .to_std()
                .unwrap_or_default()
                .saturating_sub(jitter);
            self.metrics.lateness(&plan.name, late.as_secs_f64());
            let (missed, latest) = match crate::schedule::on_wake(&schedule, due, woke, jitter) {
                Wake::ClockWentBack => {
                    after = Utc::now();
                    continue;
                }
                Wake::Due {
                    fire,
                    missed,
                    latest,
                } => {
                    if fire {
                        match self.trigger(&plan.name, "schedule") {
                            Ok(_) => {}
                            Err(StartError::Overlap(_)) => {
                                self.metrics.skipped(&plan.name, "overlap")
                            }
                            Err(StartError::Busy | StartError::RateCap { .. }) => {
                                self.metrics.skipped(&plan.name, "concurrency")
                            }
                            Err(e) => {
                                warn!(plan = %plan.name, error = %e, "scheduled run not started")
                            }
                        }
                    }
                    (missed, latest)
                }
            };
            if missed > 0 {
                warn!(plan = %plan.name, missed, "scheduled runs missed (suspend, downtime or clock jump)");
                self.metrics.missed(&plan.name, missed);
            }
            after = latest;
        }
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
