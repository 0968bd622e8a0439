//! The observer API of a run: what a run shows once a second (`WindowView`), what an
//! observer may answer (`Control`), and how observers combine; apart from the orchestration
//! in `run/mod.rs`, which calls them.

use super::*;

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
    /// Each workload, in the plan's order, when the plan has more than one.
    pub workloads: &'a [WorkloadNow<'a>],
    /// Request and check rows a script named so far, after the plan's own (empty for step
    /// plans): what the recorders' extra rows are.
    pub named: &'a NamedRows,
}

/// The rows a script named as it ran, after the plan's own.
#[derive(Debug, Clone, Default)]
pub struct NamedRows {
    pub requests: Vec<crate::config::RequestKey>,
    pub checks: Vec<crate::config::CheckKey>,
}

/// One workload right now (plans with several).
#[derive(Debug, Clone, Copy)]
pub struct WorkloadNow<'a> {
    pub name: &'a str,
    /// Intended arrivals per second (open model) or VUs (closed model), this process's share.
    pub target: f64,
    pub open_model: bool,
    pub in_flight: u64,
    /// Its requests and errors in this window.
    pub requests: u64,
    pub errors: u64,
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

/// A window shown to the observer after the load has stopped (nothing in flight, no target):
/// the final batches of a run, or the setup requests of a run whose setup failed.
pub(super) struct LastView<'a> {
    pub elapsed: Duration,
    pub scheduled: Duration,
    pub open_model: bool,
    pub window_secs: f64,
    pub workloads: Vec<WorkloadNow<'a>>,
    pub named: NamedRows,
}

impl LastView<'_> {
    pub(super) fn show(
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
            workloads: &self.workloads,
            named: &self.named,
        };
        let _ = observer.on_window(&view);
        series.push(window_point(&view));
    }
}

/// The window a view shows, as a point of the run's series.
pub fn window_point(v: &WindowView<'_>) -> WindowPoint {
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
        workloads: v
            .workloads
            .iter()
            .map(|w| WorkloadPoint {
                requests: w.requests,
                errors: w.errors,
                target: w.target,
                in_flight: w.in_flight,
            })
            .collect(),
    }
}
