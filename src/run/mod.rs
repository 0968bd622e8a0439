//! Running a plan: setup, workers, the once-a-second aggregation, the stop logic, teardown.
//!
//! The run does not know how its windows are judged or shown: it hands each window to an
//! [`Observer`], which may ask it to abort.

mod alarm;
mod content;
pub mod executor;
mod hooks;
pub mod http;
mod lifecycle;
mod observe;
mod pacer;
pub mod plan;
pub mod scenario;
pub mod script;
mod stream;
pub mod vu;

pub use observe::*;

use crate::config::{Limits, LoadShape, PlanSpec};
use crate::measure::{LatencyStats, Recorder, WindowPoint, WindowSeries, WorkloadPoint};
use crate::sync::LockExt;
use executor::Shared;
use lifecycle::{
    after_load, before_load, empty_recorder, finish_scripts, halt_after_grace, not_started,
};
use plan::{LoadSchedule, Segment};
use scenario::Runtime;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How a run is carried out.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub segment: Segment,
    /// Worker tasks; defaults to the number of cores.
    pub workers: usize,
    /// How long in-flight requests may finish after an interrupt, at most (the plan's
    /// `graceful_stop` applies when it is shorter). The daemon sets it so that the drain fits
    /// its shutdown budget; requests still in flight then are cancelled, unmeasured.
    pub interrupt_grace: Option<Duration>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            segment: Segment::WHOLE,
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            interrupt_grace: None,
        }
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "reason", rename_all = "snake_case")]
pub enum Ending {
    /// The schedule (or the iteration limit) was completed.
    Completed,
    /// Stopped from outside (Ctrl-C, SIGTERM, cancel).
    Interrupted,
    /// Stopped by a threshold or a failed setup; the reason says which.
    Aborted(String),
    /// Stopped early because it had done its job (a breakpoint found); judged normally.
    Stopped(String),
    /// loadpacer itself failed during the run (a panic); never judged as passed.
    Error(String),
}

/// Waits for every worker; the first panic stops the others and is returned as its message.
async fn join_workers(
    handles: Vec<tokio::task::JoinHandle<()>>,
    stop: CancellationToken,
) -> Option<String> {
    use futures_util::stream::{FuturesUnordered, StreamExt};
    let mut pending: FuturesUnordered<_> = handles.into_iter().collect();
    let mut first = None;
    while let Some(joined) = pending.next().await {
        if let Err(e) = joined {
            if e.is_panic() && first.is_none() {
                first = Some(panic_message(e.into_panic()));
                stop.cancel();
            }
        }
    }
    first
}

/// The text of a panic payload.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Everything a run measured.
pub struct RunOutput {
    pub plan: Arc<PlanSpec>,
    pub segment: Segment,
    pub started_at: SystemTime,
    pub elapsed: Duration,
    pub scheduled: Duration,
    pub ending: Ending,
    pub total: Recorder,
    pub series: WindowSeries,
    /// Requests that waited for the `limits.max_rps` cap (closed model).
    pub paced_requests: u64,
    /// What the teardown steps did; `None` when the plan has none or the load never started.
    pub teardown: Option<TeardownOutput>,
}

/// What the teardown steps did. Their requests are booked here, not in the run's totals:
/// cleanup is reported, never judged.
pub struct TeardownOutput {
    pub elapsed: Duration,
    /// Why the teardown failed (errors, a failed check, its timeout); `None`: it passed.
    pub failure: Option<String>,
    pub recorder: Recorder,
}

/// The run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Client(#[from] http::ClientError),
    /// The plan's processor did not load when the run started (it was edited since the
    /// config was read).
    #[error("the processor does not load: {0}")]
    Processor(#[from] crate::script::ScriptError),
    /// loadpacer panicked outside the workers (caught by the daemon).
    #[error("the run panicked: {0}")]
    Panicked(String),
}

/// Points kept in a run's time series (downsampled beyond that).
const SERIES_POINTS: usize = 720;

/// Runs one plan to its end, or until `interrupt` is cancelled.
pub async fn execute(
    plan: Arc<PlanSpec>,
    limits: &Limits,
    opts: RunOptions,
    observer: &mut dyn Observer,
    interrupt: CancellationToken,
) -> Result<RunOutput, RunError> {
    let mut rt = runtime(&plan, limits, opts)?;
    let mut total = empty_recorder(&plan);
    let started_at = SystemTime::now();
    // Setup requests are booked like any other: in the first window the observers see (so
    // they reach /metrics) and in the run's totals.
    let (setup_rec, setup_result) = before_load(&mut rt, limits, opts).await;
    total.merge(&setup_rec);
    if let Err(reason) = setup_result {
        let out = not_started(&rt, observer, &setup_rec, total, reason).await;
        return Ok(RunOutput {
            started_at,
            segment: opts.segment,
            ..out
        });
    }
    let load = Load::new(&rt, limits, opts)?;
    let (tx, rx) = mpsc::channel(4 * load.workers());
    let handles = spawn_workers(&rt, &load, &tx);
    drop(tx);
    // A worker that panics ends the run as an error: the others are stopped, and the verdict
    // can never be "passed" on what the survivors measured.
    let joined = tokio::spawn(join_workers(handles, load.stop.clone()));
    let watchdog = rt
        .scripts
        .as_ref()
        .map(|s| tokio::spawn(halt_after_grace(s.clone(), &load)));
    let (mut ending, series) = aggregate(
        &load,
        rx,
        setup_rec,
        &mut total,
        observer,
        interrupt,
        opts.interrupt_grace,
    )
    .await;
    if let Ok(Some(why)) = joined.await {
        ending = Ending::Error(format!(
            "a worker panicked ({why}); the figures are incomplete. Please report this"
        ));
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    let elapsed = load.start.elapsed();
    let teardown = after_load(&rt, &ending, opts).await;
    Ok(RunOutput {
        plan: finish_scripts(&rt, plan.clone(), &mut total).await,
        segment: opts.segment,
        started_at,
        elapsed,
        scheduled: plan.duration(),
        ending,
        total,
        series,
        teardown,
        paced_requests: load
            .pacer
            .as_ref()
            .map_or(0, |p| p.paced.load(Ordering::Relaxed)),
    })
}

/// Starts every worker of every workload: on tokio's workers, or, for a script plan, on the
/// engine thread of its VUs (an iteration then never crosses threads).
fn spawn_workers(
    rt: &Runtime,
    load: &Load,
    tx: &mpsc::Sender<Recorder>,
) -> Vec<tokio::task::JoinHandle<()>> {
    load.parts
        .iter()
        .flat_map(|part| (0..part.workers).map(move |w| (part.clone(), w)))
        // Unconstrained: tokio's per-poll budget (128 socket operations) made a worker with
        // thousands of ready connections re-poll most of them in vain each round; the
        // worker yields by itself instead (executor::YIELD_EVERY).
        .map(|(part, w)| {
            let first_vu = executor::first_vu(&part, w);
            let worker = tokio::task::unconstrained(executor::worker(part, w, tx.clone()));
            match &rt.scripts {
                Some(s) => s.spawn_worker(first_vu, Box::pin(worker)),
                None => tokio::spawn(worker),
            }
        })
        .collect()
}

/// The run's runtime: its client, allowlist, and a script's engine threads.
fn runtime(plan: &Arc<PlanSpec>, limits: &Limits, opts: RunOptions) -> Result<Runtime, RunError> {
    let client = http::Client::new(&plan.target, &limits.allow_targets)?;
    let mut rt = Runtime::new(plan.clone(), client);
    rt.allow = limits.allow_targets.clone();
    rt.scripts = plan
        .script
        .as_ref()
        .map(|s| Arc::new(script::Scripts::start(plan, s, limits, opts.workers.max(1))));
    rt.processor = match &plan.processor {
        Some(p) => Some(Arc::new(hooks::Processor::start(p)?)),
        None => None,
    };
    Ok(rt)
}

/// The load phase of a run: one part per workload, all started together, stopped together.
struct Load {
    parts: Vec<Arc<Shared>>,
    /// When the load started (a workload with a start offset begins later).
    start: Instant,
    stop: CancellationToken,
    pacer: Option<Arc<pacer::Pacer>>,
    /// The workload of each request (by request index); `None` for lifecycle steps.
    request_workload: Vec<Option<usize>>,
}

impl Load {
    /// The request and check rows a script named so far (none for step plans).
    fn named(&self) -> observe::NamedRows {
        self.parts
            .first()
            .and_then(|p| p.rt.scripts.as_ref())
            .map(|s| s.named_rows())
            .unwrap_or_default()
    }

    /// What an observer said of a window: an abort or a stop ends the load (the first one
    /// counts).
    fn obey(&self, control: Control, ending: &mut Ending) {
        if *ending != Ending::Completed {
            return;
        }
        match control {
            Control::Abort(reason) => *ending = Ending::Aborted(reason),
            Control::Stop(reason) => *ending = Ending::Stopped(reason),
            Control::Continue => return,
        }
        self.stop.cancel();
    }

    /// Ends the run as aborted, and stops the load, once the script aborted the test
    /// (`exec.test.abort()`).
    fn script_ending(&self, ending: &mut Ending) {
        let reason = self
            .parts
            .first()
            .and_then(|p| p.rt.scripts.as_ref())
            .and_then(|s| s.aborted());
        if let (Some(reason), Ending::Completed) = (reason, &*ending) {
            *ending = Ending::Aborted(format!("the script aborted the test: {reason}"));
            self.stop.cancel();
        }
    }

    /// Prepares every workload: its runtime (its own target's client when it has one), its
    /// schedule and its share of the workers.
    fn new(rt: &Runtime, limits: &Limits, opts: RunOptions) -> Result<Load, RunError> {
        let plan = &rt.plan;
        let start = Instant::now() + Duration::from_millis(5);
        let stop = CancellationToken::new();
        // VUs have no rate of their own: pace their requests so the cap holds for them too.
        let pacer = plan
            .workloads
            .iter()
            .any(|w| matches!(w.load.shape, LoadShape::Closed { .. }))
            .then(|| {
                Arc::new(pacer::Pacer::new(
                    limits.max_rps / opts.segment.count.max(1) as f64,
                ))
            });
        let workers = opts.workers.max(1) as u64;
        let mut vu_base = 0;
        let mut parts = Vec::with_capacity(plan.workloads.len());
        for w in &plan.workloads {
            // Each workload has its own runtime: its own client and connection pool (its
            // own target's, when it has one), the setup captures, and the pacer if it is a
            // closed-model one.
            let own_plan = match &w.target {
                None => plan.clone(),
                Some(target) => Arc::new(PlanSpec {
                    target: target.clone(),
                    ..(**plan).clone()
                }),
            };
            let client = http::Client::new(&own_plan.target, &limits.allow_targets)?;
            let mut part_rt = Runtime::new(own_plan, client);
            part_rt.base_vars = rt.base_vars.clone();
            part_rt.scripts = rt.scripts.clone();
            part_rt.processor = rt.processor.clone();
            part_rt.allow = rt.allow.clone();
            if matches!(w.load.shape, LoadShape::Closed { .. }) {
                part_rt.pacer = pacer.clone();
            }
            let schedule = LoadSchedule::of(&w.load.shape);
            let vus = match &schedule {
                LoadSchedule::Open { max_in_flight, .. } => *max_in_flight,
                LoadSchedule::Closed(v) => v.peak(),
            };
            parts.push(Arc::new(Shared {
                rt: Arc::new(part_rt),
                schedule,
                start: start + w.start,
                workers,
                segment: opts.segment,
                stop: stop.clone(),
                iterations_left: w.load.iterations.map(|n| {
                    AtomicI64::new(plan::share_of(n, opts.segment.index, opts.segment.count) as i64)
                }),
                in_flight: (0..workers).map(|_| AtomicU64::new(0)).collect(),
                grace: std::sync::Mutex::new(w.load.graceful_stop),
                scenarios: w.scenarios.clone(),
                vu_base,
                dispatch: w.load.dispatch,
            }));
            vu_base += vus * opts.segment.count;
        }
        let request_workload = plan
            .requests
            .iter()
            .map(|k| {
                let s = plan.scenarios.iter().position(|s| s.name == k.scenario)?;
                plan.workloads.iter().position(|w| w.scenarios.contains(&s))
            })
            .collect();
        Ok(Load {
            parts,
            start,
            stop,
            pacer,
            request_workload,
        })
    }

    fn workers(&self) -> usize {
        self.parts.iter().map(|p| p.workers as usize).sum()
    }

    /// Shortens every workload's grace to `g` and stops them all.
    fn interrupt(&self, grace: Option<Duration>) {
        if let Some(g) = grace {
            for part in &self.parts {
                let mut mine = part.grace.locked();
                *mine = (*mine).min(g);
            }
        }
        self.stop.cancel();
    }

    /// Each workload right now, with its share of `window`.
    fn now<'a>(&'a self, elapsed: Duration, window: &Recorder) -> Vec<WorkloadNow<'a>> {
        if self.parts.len() < 2 {
            return Vec::new();
        }
        let plan = &self.parts[0].rt.plan;
        let mut out: Vec<WorkloadNow<'a>> = self
            .parts
            .iter()
            .zip(&plan.workloads)
            .map(|(part, w)| WorkloadNow {
                name: &w.name,
                target: part.target_at(self.start + elapsed),
                open_model: matches!(part.schedule, LoadSchedule::Open { .. }),
                in_flight: part.in_flight(),
                requests: 0,
                errors: 0,
            })
            .collect();
        for (i, r) in window.requests.iter().enumerate() {
            if let Some(w) = self.request_workload.get(i).copied().flatten() {
                out[w].requests += r.count();
                out[w].errors += r.error_count();
            }
        }
        out
    }

    /// The phase shown in progress lines: the phase name of a single open-model workload, or
    /// the workloads running now.
    fn phase(&self, elapsed: Duration) -> Option<String> {
        let plan = &self.parts.first()?.rt.plan;
        if let [part] = self.parts.as_slice() {
            let (LoadSchedule::Open { arrivals, .. }, LoadShape::Open { phases, .. }) =
                (&part.schedule, &plan.workloads[0].load.shape)
            else {
                return None;
            };
            return arrivals.phase_at(elapsed).map(|i| phases[i].name.clone());
        }
        let running: Vec<&str> = plan
            .workloads
            .iter()
            .filter(|w| elapsed >= w.start && elapsed < w.end())
            .map(|w| w.name.as_str())
            .collect();
        (!running.is_empty()).then(|| running.join("+"))
    }

    /// The summed target: arrivals per second of the open-model workloads, or VUs when every
    /// workload is closed-model (each workload's own target is in [`WorkloadNow`]).
    fn target_at(&self, now: Instant) -> f64 {
        let open = self.open_model();
        self.parts
            .iter()
            .filter(|p| matches!(p.schedule, LoadSchedule::Open { .. }) == open)
            .map(|p| p.target_at(now))
            .sum()
    }

    fn in_flight(&self) -> u64 {
        self.parts.iter().map(|p| p.in_flight()).sum()
    }

    /// True when a workload is open-model (then the summed target is a rate).
    fn open_model(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p.schedule, LoadSchedule::Open { .. }))
    }
}

async fn aggregate(
    load: &Load,
    mut rx: mpsc::Receiver<Recorder>,
    mut window: Recorder,
    total: &mut Recorder,
    observer: &mut dyn Observer,
    interrupt: CancellationToken,
    interrupt_grace: Option<Duration>,
) -> (Ending, WindowSeries) {
    let mut series = WindowSeries::new(SERIES_POINTS);
    let mut tick = tokio::time::interval_at(
        load.start + Duration::from_millis(1100),
        Duration::from_secs(1),
    );
    let mut last = load.start;
    let mut ending = Ending::Completed;
    let scheduled = load.parts[0].rt.plan.duration();
    let segments = load.parts[0].segment.count as f64;
    loop {
        tokio::select! {
            batch = rx.recv() => match batch {
                Some(b) => { window.merge(&b); total.merge(&b); }
                None => break,
            },
            _ = interrupt.cancelled(), if ending == Ending::Completed => {
                ending = Ending::Interrupted;
                load.interrupt(interrupt_grace);
            }
            _ = tick.tick() => {
                load.script_ending(&mut ending);
                let now = Instant::now();
                let elapsed = now.saturating_duration_since(load.start);
                let phase = load.phase(elapsed);
                let workloads = load.now(elapsed, &window);
                let named = load.named();
                let view = WindowView {
                    elapsed,
                    scheduled,
                    target: load.target_at(now) / segments,
                    open_model: load.open_model(),
                    phase: phase.as_deref(),
                    window: &window,
                    window_secs: (now - last).as_secs_f64(),
                    total,
                    in_flight: load.in_flight(),
                    workloads: &workloads,
                    named: &named,
                };
                load.obey(observer.on_window(&view), &mut ending);
                series.push(window_point(&view));
                window.reset();
                last = now;
            }
        }
    }
    // What arrived after the last tick (final batches, drops counted at the end) is shown
    // to the observer once more, so live counters add up to the summary.
    if !window.is_empty() {
        let elapsed = load.start.elapsed();
        // Each workload's share of the final batches too, with nothing running any more.
        let mut workloads = load.now(elapsed, &window);
        for w in &mut workloads {
            w.target = 0.0;
            w.in_flight = 0;
        }
        let last_view = LastView {
            elapsed,
            scheduled,
            open_model: load.open_model(),
            window_secs: (Instant::now() - last).as_secs_f64(),
            workloads,
            named: load.named(),
        };
        last_view.show(observer, &mut series, &window, total);
    }
    (ending, series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_worker_stops_the_others_and_is_reported() {
        let stop = CancellationToken::new();
        let s = stop.clone();
        let survivor = tokio::spawn(async move { s.cancelled().await });
        let broken = tokio::spawn(async { panic!("overflow when adding duration to instant") });
        let why = tokio::time::timeout(
            Duration::from_secs(5),
            join_workers(vec![survivor, broken], stop.clone()),
        )
        .await
        .expect("the surviving worker was stopped");
        assert_eq!(
            why.as_deref(),
            Some("overflow when adding duration to instant")
        );
        assert!(stop.is_cancelled());
    }

    #[tokio::test]
    async fn workers_that_end_normally_report_nothing() {
        let handles = vec![tokio::spawn(async {}), tokio::spawn(async {})];
        assert_eq!(join_workers(handles, CancellationToken::new()).await, None);
    }
}
