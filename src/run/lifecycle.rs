//! The run's edges, before and after its load: a script's VUs initialised and its
//! `setup()`, the setup steps, the teardown (steps or `teardown(data)`), and what a run whose
//! setup failed reports. `execute` calls them in order.

use super::observe::LastView;
use super::plan::Segment;
use super::scenario::Runtime;
use super::vu::VuState;
use super::{executor, script, vu, Ending, Load, Observer, RunOptions, RunOutput, TeardownOutput};
use crate::config::{Limits, LoadShape, PlanSpec};
use crate::measure::{Recorder, WindowSeries};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Interrupts a script's JavaScript once the load's graceful stop is over (at the schedule's
/// end, or at a stop, plus the grace): a worker runs beside its VUs, so a VU that never waits
/// would otherwise hold up its own worker's deadline.
pub(super) fn halt_after_grace(
    scripts: Arc<script::Scripts>,
    load: &Load,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let parts = load.parts.clone();
    let stop = load.stop.clone();
    let end = parts
        .iter()
        .map(|p| p.start + p.schedule.duration())
        .max()
        .unwrap_or(load.start);
    async move {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => {}
            _ = stop.cancelled() => {}
        }
        let grace = parts.iter().map(|p| p.grace()).max().unwrap_or_default();
        tokio::time::sleep(grace + Duration::from_millis(100)).await;
        scripts.halt();
    }
}

/// What runs before the load: a script's VUs are initialised (as k6 does), then the setup
/// steps or `setup()`; what they measured, and why the load must not start.
pub(super) async fn before_load(
    rt: &mut Runtime,
    limits: &Limits,
    opts: RunOptions,
) -> (Recorder, Result<(), String>) {
    let prepared = match &rt.scripts {
        Some(s) => prepare_vus(s, rt, limits, opts).await,
        None => Ok(()),
    };
    match prepared {
        Ok(()) => setup(rt).await,
        Err(e) => (empty_recorder(&rt.plan), Err(e)),
    }
}

/// A run whose setup failed: the observers see what it measured, and the load never started.
pub(super) async fn not_started(
    rt: &Runtime,
    observer: &mut dyn Observer,
    setup_rec: &Recorder,
    mut total: Recorder,
    reason: String,
) -> RunOutput {
    let plan = rt.plan.clone();
    let mut series = WindowSeries::new(2);
    let last_view = LastView {
        elapsed: Duration::ZERO,
        scheduled: plan.duration(),
        open_model: plan
            .workloads
            .iter()
            .any(|w| matches!(w.load.shape, LoadShape::Open { .. })),
        window_secs: 1.0,
        workloads: Vec::new(),
        named: rt
            .scripts
            .as_ref()
            .map(|s| s.named_rows())
            .unwrap_or_default(),
    };
    last_view.show(observer, &mut series, setup_rec, &total);
    RunOutput {
        plan: finish_scripts(rt, plan.clone(), &mut total).await,
        segment: Segment::WHOLE,
        started_at: SystemTime::now(),
        elapsed: Duration::ZERO,
        scheduled: plan.duration(),
        ending: Ending::Aborted(reason),
        total,
        series,
        paced_requests: 0,
        teardown: None,
    }
}

/// What runs after the load: a script that never waits is interrupted, then the teardown,
/// within its timeout (shortened by an interrupt that must fit a shutdown budget: a finished
/// run that is never stored would be lost).
pub(super) async fn after_load(
    rt: &Runtime,
    ending: &Ending,
    opts: RunOptions,
) -> Option<TeardownOutput> {
    let plan = &rt.plan;
    let timeout = match (ending, opts.interrupt_grace) {
        (Ending::Interrupted, Some(g)) => plan.teardown_timeout.min(g),
        _ => plan.teardown_timeout,
    };
    if let Some(s) = &rt.scripts {
        // Iterations that outlived the graceful stop were dropped; a script that never
        // waits is interrupted here.
        s.halt();
    }
    teardown(rt, timeout).await
}

/// The plan a script run is judged with: its own, with the request and check rows the
/// script named as it ran (`total` gets room for each); the engine threads are ended.
pub(super) async fn finish_scripts(
    rt: &Runtime,
    plan: Arc<PlanSpec>,
    total: &mut Recorder,
) -> Arc<PlanSpec> {
    match &rt.scripts {
        Some(s) => {
            s.finish().await;
            let plan = s.plan_with_names(&plan);
            total.fit(plan.requests.len(), plan.checks.len());
            Arc::new(plan)
        }
        None => plan,
    }
}

/// Initialises the VUs a script's load starts with (the numbers its workers will give them);
/// the first init error, which fails the run before the load.
async fn prepare_vus(
    scripts: &script::Scripts,
    rt: &Runtime,
    limits: &Limits,
    opts: RunOptions,
) -> Result<(), String> {
    let probe = Load::new(rt, limits, opts).map_err(|e| e.to_string())?;
    let ids: Vec<u64> = probe
        .parts
        .iter()
        .flat_map(|p| {
            let first = &rt.plan.scenarios[p.scenarios.start].name;
            executor::initial_vus(p, scripts.preallocated(first))
        })
        .collect();
    scripts
        .prepare(&ids)
        .await
        .map_err(|e| format!("a VU's init context failed: {e}; the load was not started"))
}

/// A script's `setup()`: run once, its data kept for every iteration; its requests booked
/// like setup steps'.
async fn script_setup(
    scripts: &script::Scripts,
    plan: &PlanSpec,
) -> (Recorder, Result<(), String>) {
    let sink = Arc::new(vu::Sink::new(empty_recorder(plan)));
    let result = scripts.setup(sink.clone()).await;
    let rec = std::mem::replace(&mut *vu::lock(&sink), Recorder::new(0, 0, 0));
    (
        rec,
        result.map_err(|e| format!("{e}; the load was not started")),
    )
}

/// Runs the setup steps once; their captures become every VU's starting variables. Returns
/// what the setup requests measured, and why the load must not start if they failed.
async fn setup(rt: &mut Runtime) -> (Recorder, Result<(), String>) {
    let plan = rt.plan.clone();
    if let Some(s) = &rt.scripts {
        return script_setup(s, &plan).await;
    }
    if plan.setup.is_empty() {
        return (empty_recorder(&plan), Ok(()));
    }
    let sink = vu::Sink::new(empty_recorder(&plan));
    let mut vu = VuState::default();
    for (name, values) in &plan.variables {
        let value = match &values[0] {
            crate::config::VariableValue::Fixed(v) => v.clone(),
            crate::config::VariableValue::Drawn(t) => serde_json::Value::String(t.render(&vu)),
        };
        vu.set_value(name, &value);
    }
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
    if let Some(s) = rt.scripts.as_ref().filter(|s| s.has_teardown()) {
        let sink = Arc::new(vu::Sink::new(empty_recorder(plan)));
        let started = std::time::Instant::now();
        let finished = tokio::time::timeout(timeout, s.teardown(sink.clone())).await;
        if finished.is_err() {
            s.halt_edges();
        }
        let recorder = std::mem::replace(&mut *vu::lock(&sink), Recorder::new(0, 0, 0));
        let failure = match finished {
            Err(_) => Some(format!(
                "teardown() did not finish within {}",
                humantime::format_duration(timeout)
            )),
            Ok(r) => r.err(),
        };
        return Some(TeardownOutput {
            elapsed: started.elapsed(),
            failure,
            recorder,
        });
    }
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

pub(super) fn empty_recorder(plan: &PlanSpec) -> Recorder {
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
