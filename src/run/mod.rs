//! Running a plan: setup, workers, the once-a-second aggregation, the stop logic, teardown.
//!
//! The run does not know how its windows are judged or shown: it hands each window to an
//! [`Observer`], which may ask it to abort.

mod content;
pub mod executor;
pub mod http;
pub mod plan;
pub mod scenario;
mod sse;
mod stream;
pub mod vu;
mod ws;

use crate::config::{Limits, PlanSpec};
use crate::measure::{LatencyStats, Recorder, WindowPoint, WindowSeries};
use crate::sync::LockExt;
use executor::Shared;
use plan::{Schedule, Segment};
use scenario::Runtime;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vu::VuState;

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

/// What an observer is shown once a second.
pub struct WindowView<'a> {
    pub elapsed: Duration,
    pub scheduled: Duration,
    /// Intended arrivals per second (open model) or VUs (closed model) right now.
    pub target: f64,
    pub open_model: bool,
    pub phase: Option<&'a str>,
    /// What happened since the previous view.
    pub window: &'a Recorder,
    pub window_secs: f64,
    /// Everything so far.
    pub total: &'a Recorder,
    pub in_flight: u64,
}

/// The observer's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    Continue,
    /// Stop now: the run failed its purpose (e.g. an `abort_on_fail` threshold).
    Abort(String),
    /// Stop now: the run reached its purpose early (e.g. a breakpoint run found the limit).
    Stop(String),
}

/// Watches a run once a second (progress display, thresholds with `abort_on_fail`).
pub trait Observer: Send {
    fn on_window(&mut self, view: &WindowView<'_>) -> Control;
}

/// Two observers in one: both see every window; the first abort wins.
pub struct Both<A, B>(pub A, pub B);

impl<A: Observer, B: Observer> Observer for Both<A, B> {
    fn on_window(&mut self, view: &WindowView<'_>) -> Control {
        match (self.0.on_window(view), self.1.on_window(view)) {
            (Control::Abort(r), _) | (_, Control::Abort(r)) => Control::Abort(r),
            (Control::Stop(r), _) | (_, Control::Stop(r)) => Control::Stop(r),
            _ => Control::Continue,
        }
    }
}

/// A borrowed observer: the caller keeps its own (a progress display, a publisher).
impl<T: Observer + ?Sized> Observer for &mut T {
    fn on_window(&mut self, view: &WindowView<'_>) -> Control {
        (**self).on_window(view)
    }
}

/// An optional observer (e.g. metrics only when a listener was asked for).
impl<T: Observer> Observer for Option<T> {
    fn on_window(&mut self, view: &WindowView<'_>) -> Control {
        self.as_mut()
            .map_or(Control::Continue, |o| o.on_window(view))
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq)]
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
    let client = http::Client::new(&plan.target, &limits.allow_targets)?;
    let mut rt = Runtime::new(plan.clone(), client);
    rt.allow = limits.allow_targets.clone();
    if matches!(plan.load.shape, crate::config::LoadShape::Closed { .. }) {
        // VUs have no rate of their own: pace their requests so the cap holds for them too.
        rt.pacer = Some(scenario::Pacer::new(
            limits.max_rps / opts.segment.count.max(1) as f64,
        ));
    }
    let mut total = empty_recorder(&plan);
    let started_at = SystemTime::now();
    let schedule = Schedule::of(&plan.load.shape);
    let scheduled = schedule.duration();
    // Setup requests are booked like any other: in the first window the observers see (so
    // they reach /metrics) and in the run's totals.
    let (setup_rec, setup_result) = setup(&mut rt).await;
    total.merge(&setup_rec);
    if let Err(reason) = setup_result {
        let mut series = WindowSeries::new(2);
        let last_view = LastView {
            elapsed: Duration::ZERO,
            scheduled,
            open_model: matches!(schedule, Schedule::Open { .. }),
            window_secs: 1.0,
        };
        last_view.show(observer, &mut series, &setup_rec, &total);
        return Ok(RunOutput {
            plan,
            segment: opts.segment,
            started_at,
            elapsed: Duration::ZERO,
            scheduled,
            ending: Ending::Aborted(reason),
            total,
            series,
            paced_requests: 0,
            teardown: None,
        });
    }
    let workers = opts.workers.max(1) as u64;
    let shared = Arc::new(Shared {
        rt: Arc::new(rt),
        schedule,
        start: Instant::now() + Duration::from_millis(5),
        workers,
        segment: opts.segment,
        stop: CancellationToken::new(),
        iterations_left: plan.load.iterations.map(|n| {
            AtomicI64::new(plan::share_of(n, opts.segment.index, opts.segment.count) as i64)
        }),
        in_flight: (0..workers).map(|_| AtomicU64::new(0)).collect(),
        grace: std::sync::Mutex::new(plan.load.graceful_stop),
    });
    let (tx, rx) = mpsc::channel(4 * workers as usize);
    let handles: Vec<_> = (0..workers)
        .map(|w| tokio::spawn(executor::worker(shared.clone(), w, tx.clone())))
        .collect();
    drop(tx);
    // A worker that panics ends the run as an error: the others are stopped, and the verdict
    // can never be "passed" on what the survivors measured.
    let joined = tokio::spawn(join_workers(handles, shared.stop.clone()));
    let (mut ending, series) = aggregate(
        &shared,
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
    let elapsed = shared.start.elapsed();
    // An interrupt that must fit a shutdown budget shortens the teardown too: a finished run
    // that is never stored would be lost.
    let teardown_timeout = match (&ending, opts.interrupt_grace) {
        (Ending::Interrupted, Some(g)) => plan.teardown_timeout.min(g),
        _ => plan.teardown_timeout,
    };
    let teardown = teardown(&shared.rt, teardown_timeout).await;
    Ok(RunOutput {
        plan,
        segment: opts.segment,
        started_at,
        elapsed,
        scheduled,
        ending,
        total,
        series,
        teardown,
        paced_requests: shared
            .rt
            .pacer
            .as_ref()
            .map_or(0, |p| p.paced.load(Ordering::Relaxed)),
    })
}

/// Runs the setup steps once; their captures become every VU's starting variables. Returns
/// what the setup requests measured, and why the load must not start if they failed.
async fn setup(rt: &mut Runtime) -> (Recorder, Result<(), String>) {
    let plan = rt.plan.clone();
    if plan.setup.is_empty() {
        return (empty_recorder(&plan), Ok(()));
    }
    let sink = vu::Sink::new(empty_recorder(&plan));
    let mut vu = VuState::default();
    let result = rt
        .iterate(&plan.setup, &mut vu, std::time::Instant::now(), &sink)
        .await;
    let rec = sink.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(what) = failures(&rec, result.failed) {
        return (
            rec,
            Err(format!("setup failed ({what}); the load was not started")),
        );
    }
    rt.base_vars = vu.vars;
    (rec, Ok(()))
}

/// Runs the teardown steps once, after the load, within `timeout`; what they measured is
/// kept even when the timeout cuts them short.
async fn teardown(rt: &Runtime, timeout: Duration) -> Option<TeardownOutput> {
    let plan = &rt.plan;
    if plan.teardown.is_empty() {
        return None;
    }
    let sink = vu::Sink::new(empty_recorder(plan));
    let mut vu = VuState {
        vars: rt.base_vars.clone(),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let steps = rt.iterate(&plan.teardown, &mut vu, started, &sink);
    let finished = tokio::time::timeout(timeout, steps).await;
    let recorder = sink.into_inner().unwrap_or_else(|p| p.into_inner());
    let failure = match finished {
        Err(_) => Some(format!(
            "teardown did not finish within {}",
            humantime::format_duration(timeout)
        )),
        Ok(result) => {
            failures(&recorder, result.failed).map(|what| format!("teardown failed ({what})"))
        }
    };
    Some(TeardownOutput {
        elapsed: started.elapsed(),
        failure,
        recorder,
    })
}

fn empty_recorder(plan: &PlanSpec) -> Recorder {
    Recorder::new(plan.requests.len(), plan.checks.len(), plan.scenarios.len())
}

/// What went wrong in a run of lifecycle steps, in words (`timeout, failed check`), or
/// `None` when every request answered and every check passed.
fn failures(rec: &Recorder, transport_failed: bool) -> Option<String> {
    let failed_check = rec.checks.iter().any(|&(_, failed)| failed > 0);
    if !(transport_failed || failed_check || rec.total_errors() > 0) {
        return None;
    }
    let kinds: Vec<&str> = crate::measure::ErrorKind::ALL
        .iter()
        .filter(|k| rec.requests.iter().any(|r| r.errors_of(**k) > 0))
        .map(|k| k.as_str())
        .chain(failed_check.then_some("failed check"))
        .collect();
    Some(if kinds.is_empty() {
        "a step could not run".to_string()
    } else {
        kinds.join(", ")
    })
}

async fn aggregate(
    shared: &Shared,
    mut rx: mpsc::Receiver<Recorder>,
    mut window: Recorder,
    total: &mut Recorder,
    observer: &mut dyn Observer,
    interrupt: CancellationToken,
    interrupt_grace: Option<Duration>,
) -> (Ending, WindowSeries) {
    let mut series = WindowSeries::new(SERIES_POINTS);
    let mut tick = tokio::time::interval_at(
        shared.start + Duration::from_millis(1100),
        Duration::from_secs(1),
    );
    let mut last = shared.start;
    let mut ending = Ending::Completed;
    let scheduled = shared.schedule.duration();
    loop {
        tokio::select! {
            batch = rx.recv() => match batch {
                Some(b) => { window.merge(&b); total.merge(&b); }
                None => break,
            },
            _ = interrupt.cancelled(), if ending == Ending::Completed => {
                ending = Ending::Interrupted;
                if let Some(g) = interrupt_grace {
                    let mut grace = shared.grace.locked();
                    *grace = (*grace).min(g);
                }
                shared.stop.cancel();
            }
            _ = tick.tick() => {
                let now = Instant::now();
                let elapsed = now.saturating_duration_since(shared.start);
                let phase = phase_name(shared, elapsed);
                let view = WindowView {
                    elapsed,
                    scheduled,
                    target: shared.schedule.target_at(elapsed) / shared.segment.count as f64,
                    open_model: matches!(shared.schedule, Schedule::Open { .. }),
                    phase,
                    window: &window,
                    window_secs: (now - last).as_secs_f64(),
                    total,
                    in_flight: shared.in_flight.iter().map(|a| a.load(Ordering::Relaxed)).sum(),
                };
                match observer.on_window(&view) {
                    Control::Abort(reason) if ending == Ending::Completed => {
                        ending = Ending::Aborted(reason);
                        shared.stop.cancel();
                    }
                    Control::Stop(reason) if ending == Ending::Completed => {
                        ending = Ending::Stopped(reason);
                        shared.stop.cancel();
                    }
                    _ => {}
                }
                series.push(point(&view));
                window.reset();
                last = now;
            }
        }
    }
    // What arrived after the last tick (final batches, drops counted at the end) is shown
    // to the observer once more, so live counters add up to the summary.
    if !window.is_empty() {
        let last_view = LastView {
            elapsed: shared.start.elapsed(),
            scheduled,
            open_model: matches!(shared.schedule, Schedule::Open { .. }),
            window_secs: (Instant::now() - last).as_secs_f64(),
        };
        last_view.show(observer, &mut series, &window, total);
    }
    (ending, series)
}

/// A window shown to the observer after the load has stopped (nothing in flight, no target):
/// the final batches of a run, or the setup requests of a run whose setup failed.
struct LastView {
    elapsed: Duration,
    scheduled: Duration,
    open_model: bool,
    window_secs: f64,
}

impl LastView {
    fn show(
        &self,
        observer: &mut dyn Observer,
        series: &mut WindowSeries,
        window: &Recorder,
        total: &Recorder,
    ) {
        let view = WindowView {
            elapsed: self.elapsed,
            scheduled: self.scheduled,
            target: 0.0,
            open_model: self.open_model,
            phase: None,
            window,
            window_secs: self.window_secs,
            total,
            in_flight: 0,
        };
        let _ = observer.on_window(&view);
        series.push(point(&view));
    }
}

fn phase_name(shared: &Shared, elapsed: Duration) -> Option<&str> {
    let (Schedule::Open { arrivals, .. }, crate::config::LoadShape::Open { phases, .. }) =
        (&shared.schedule, &shared.rt.plan.load.shape)
    else {
        return None;
    };
    arrivals.phase_at(elapsed).map(|i| phases[i].name.as_str())
}

fn point(v: &WindowView<'_>) -> WindowPoint {
    let lat = LatencyStats::of(&v.window.merged_latency());
    WindowPoint {
        t_s: v.elapsed.as_secs_f64(),
        width_s: v.window_secs,
        requests: v.window.total_requests(),
        errors: v.window.total_errors(),
        p50_ms: lat.p50_ms,
        p95_ms: lat.p95_ms,
        p99_ms: lat.p99_ms,
        target: v.target,
        stream_messages: v.window.streams.iter().map(|s| s.messages_received).sum(),
        stream_sessions: v.window.streams.iter().map(|s| s.sessions).sum(),
    }
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
