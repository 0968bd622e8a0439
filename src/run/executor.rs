//! Workers. Each worker is one task that owns a recorder and a set of in-flight iterations
//! (a `FuturesUnordered`, not a task per request) and sleeps until its next intended start.
//! Open and closed models differ only in what starts an iteration (an arrival time or a free
//! VU slot); the loop, the recording and the stop logic are shared.

use super::alarm::Alarm;
use super::plan::{share_of, LoadSchedule, Segment};
use super::scenario::Runtime;
use super::vu::{lock, Sink, VuState};
use crate::config::{DataOrder, Dispatch, VariableValue};
use crate::measure::Recorder;
use crate::sync::LockExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use rand::Rng;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Completed iterations after which a worker lets the other tasks of its thread run (it is
/// spawned outside tokio's budget, see `run::execute`).
pub const YIELD_EVERY: u64 = 256;

/// Late arrivals a worker keeps waiting for a free slot before it drops them.
pub const BACKLOG_MAX: usize = 10_000;

type Iteration = Pin<Box<dyn Future<Output = (usize, VuState, usize)> + Send>>;

/// What every worker of a run shares.
pub struct Shared {
    pub rt: Arc<Runtime>,
    pub schedule: LoadSchedule,
    pub start: Instant,
    pub workers: u64,
    pub segment: Segment,
    /// Stop starting iterations; in-flight ones get `graceful_stop` to finish.
    pub stop: CancellationToken,
    /// Iterations that may still start, when the plan has an iteration limit.
    pub iterations_left: Option<AtomicI64>,
    /// In-flight iterations per worker, published once per batch.
    pub in_flight: Vec<AtomicU64>,
    /// How long in-flight iterations get after `stop`: the workload's `graceful_stop`,
    /// shortened by an interrupt that must fit a shutdown budget. Set before `stop` is
    /// cancelled.
    pub grace: std::sync::Mutex<Duration>,
    /// The workload's scenarios (a range of the plan's).
    pub scenarios: std::ops::Range<usize>,
    /// VU numbers of this workload start after this (the `vu` variable is unique in a run).
    pub vu_base: u64,
    /// How open-model arrivals wake their worker (`load.dispatch`).
    pub dispatch: Dispatch,
}

impl Shared {
    /// How long in-flight iterations get after the stop, as it stands now.
    pub fn grace(&self) -> Duration {
        *self.grace.locked()
    }

    /// This process's share of the intended arrival rate or VUs at `now`.
    pub fn target_at(&self, now: Instant) -> f64 {
        match now.checked_duration_since(self.start) {
            Some(t) => self.schedule.target_at(t),
            None => 0.0,
        }
    }

    /// Iterations in flight over this workload's workers.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum()
    }
}

/// Runs worker `w` until its schedule ends or the run is stopped, sending a batch every second.
pub async fn worker(shared: Arc<Shared>, w: u64, batches: mpsc::Sender<Recorder>) {
    let plan = &shared.rt.plan;
    let rec = Arc::new(Sink::new(Recorder::new(
        plan.requests.len(),
        plan.checks.len(),
        plan.scenarios.len(),
    )));
    let mut inflight: FuturesUnordered<Iteration> = FuturesUnordered::new();
    let mut driver = Driver::new(&shared, w);
    let end = shared.start + shared.schedule.duration();
    let mut flush = tokio::time::interval_at(
        shared.start + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let mut alarm = Alarm::new(shared.start);
    let mut stopping = false;
    let mut stop_seen = false;
    let mut completions = 0u64;
    let mut deadline = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    loop {
        let wake = if stopping {
            None
        } else {
            driver.next_wake(&shared, inflight.len())
        };
        if let Some(at) = wake {
            alarm.set(at, || driver.exact(&shared, at));
        }
        tokio::select! {
            biased;
            // Also while already draining: an interrupt may shorten the grace.
            _ = shared.stop.cancelled(), if !stop_seen => {
                stop_seen = true;
                stopping = true;
                deadline = deadline.min(Instant::now() + shared.grace());
            }
            _ = tokio::time::sleep_until(deadline), if stopping => break,
            Some((slot, vu, scenario)) = inflight.next(), if !inflight.is_empty() => {
                lock(&rec).record_iteration(scenario);
                driver.done(slot, vu);
                driver.refill(&shared, slot, stopping, &mut inflight, &rec);
                completions += 1;
                if completions.is_multiple_of(YIELD_EVERY) {
                    tokio::task::yield_now().await;
                }
            }
            _ = alarm.ring(), if wake.is_some() => {
                if let Some(d) = driver.on_alarm(&shared, end, &mut inflight, &rec) {
                    stopping = true;
                    deadline = d;
                }
            }
            _ = flush.tick() => {
                shared.in_flight[w as usize].store(inflight.len() as u64, Ordering::Relaxed);
                hand_over(&batches, &mut lock(&rec));
            }
        }
        if stopping && inflight.is_empty() {
            break;
        }
        if !stopping && wake.is_none() && inflight.is_empty() && driver.finished {
            break;
        }
    }
    // Iterations still running at the deadline are dropped (their connections closed): the
    // requests they completed are already booked; the one in flight was never measured, and
    // the iteration does not count as completed.
    drop(inflight);
    let mut last = std::mem::replace(&mut *lock(&rec), Recorder::new(0, 0, 0));
    last.dropped += driver.abandoned();
    shared.in_flight[w as usize].store(0, Ordering::Relaxed);
    let _ = batches.send(last).await;
}

impl Driver {
    /// The alarm rang: launches what is due; returns the drain deadline when the worker's
    /// schedule is over (or its iterations are spent).
    fn on_alarm(
        &mut self,
        shared: &Shared,
        end: Instant,
        inflight: &mut FuturesUnordered<Iteration>,
        rec: &Arc<Sink>,
    ) -> Option<Instant> {
        let now = Instant::now();
        // `iterations:` taken by the other workers ends this one too (a worker without VUs
        // never asks for one itself).
        if shared.iterations_spent() {
            self.finished = true;
        }
        // Arrivals that were due before the end start even when the worker wakes after it
        // (they count their lag); none is lost unnoticed.
        if !self.finished && (now < end || !shared.schedule.is_closed()) {
            self.launch(shared, now, inflight, rec);
        }
        (now >= end || self.finished).then(|| now.max(end) + shared.grace())
    }
}

/// Hands the batch over without ever waiting: if the aggregator is behind, the batch stays
/// here and is merged into the next one.
fn hand_over(batches: &mpsc::Sender<Recorder>, rec: &mut Recorder) {
    if rec.is_empty() {
        return;
    }
    let batch = rec.clone();
    rec.reset();
    if let Err(mpsc::error::TrySendError::Full(back) | mpsc::error::TrySendError::Closed(back)) =
        batches.try_send(batch)
    {
        rec.merge(&back);
    }
}

/// What starts iterations in one worker.
struct Driver {
    mode: Mode,
    /// Worker-local VU states, by slot.
    slots: Vec<Option<VuState>>,
    seq: u64,
    finished: bool,
    w: u64,
    total_weight: u32,
}

enum Mode {
    /// Arrival `m` of this worker is global arrival `seg + N·(w + W·m)`. Arrivals that find
    /// no free slot wait in `backlog` (their latency still counts from the intended time) and
    /// are dropped, and counted, only beyond [`BACKLOG_MAX`].
    Open {
        m: u64,
        free: Vec<usize>,
        backlog: VecDeque<Instant>,
    },
    /// Slots below the current VU target loop their scenario. A finished VU restarts at once
    /// (O(1)); `target` is the target last seen, so a ramp starts only its new slots; the
    /// whole target is re-checked on a fixed 100-ms grid (`next_check`), which completions
    /// never push back.
    Closed {
        idle: Vec<bool>,
        target: usize,
        next_check: Instant,
    },
}

/// How often the closed model re-checks the VU target when no VU finishes.
const VU_CHECK: Duration = Duration::from_millis(100);

impl Driver {
    fn new(shared: &Shared, w: u64) -> Self {
        let seg = shared.segment;
        let total_weight = shared.rt.plan.scenarios[shared.scenarios.clone()]
            .iter()
            .map(|s| s.weight)
            .sum();
        let (mode, slots) = match &shared.schedule {
            LoadSchedule::Open { max_in_flight, .. } => {
                let cap = share_of(
                    share_of(*max_in_flight, seg.index, seg.count),
                    w,
                    shared.workers,
                )
                .max(1) as usize;
                (
                    Mode::Open {
                        m: 0,
                        free: (0..cap).rev().collect(),
                        backlog: VecDeque::new(),
                    },
                    vec![None; cap],
                )
            }
            LoadSchedule::Closed(v) => {
                let n =
                    share_of(share_of(v.peak(), seg.index, seg.count), w, shared.workers) as usize;
                (
                    Mode::Closed {
                        idle: vec![true; n],
                        target: 0,
                        next_check: shared.start,
                    },
                    vec![None; n],
                )
            }
        };
        let mut d = Self {
            mode,
            slots,
            seq: 0,
            finished: false,
            w,
            total_weight,
        };
        for (i, s) in d.slots.iter_mut().enumerate() {
            *s = Some(VuState {
                vars: shared.rt.base_vars.clone(),
                vu: vu_id(shared, w, i as u64),
                ..Default::default()
            });
        }
        d
    }

    fn next_wake(&mut self, shared: &Shared, _inflight: usize) -> Option<Instant> {
        match &self.mode {
            Mode::Open { m, .. } => match shared.schedule_arrival(self.w, *m) {
                Some(t) => Some(shared.start + t),
                None => {
                    self.finished = true;
                    None
                }
            },
            Mode::Closed { next_check, .. } => Some(*next_check),
        }
    }

    /// Whether the wake-up at `at` should be exact: open-model arrivals, as `load.dispatch`
    /// says for this worker's rate then; the closed model's checks never need it.
    fn exact(&self, shared: &Shared, at: Instant) -> bool {
        matches!(self.mode, Mode::Open { .. })
            && shared
                .dispatch
                .exact_at(shared.target_at(at) / shared.workers as f64)
    }

    fn launch(
        &mut self,
        shared: &Shared,
        now: Instant,
        inflight: &mut FuturesUnordered<Iteration>,
        sink: &Arc<Sink>,
    ) {
        if matches!(self.mode, Mode::Closed { .. }) {
            return self.fill_vus(shared, now, inflight, sink);
        }
        let mut rec = lock(sink);
        // Start every arrival that is due. The lag (how late the worker got to it) measures
        // the generator; waiting for a free slot measures the target and shows in latency.
        while let Mode::Open { m, free, backlog } = &mut self.mode {
            let Some(t) = shared.schedule_arrival(self.w, *m) else {
                self.finished = true;
                return;
            };
            let intended = shared.start + t;
            if intended > now {
                return;
            }
            *m += 1;
            if !take_iteration(shared) {
                self.finished = true;
                return;
            }
            rec.record_lag(now - intended);
            match free.pop() {
                Some(slot) => self.start(shared, slot, intended, inflight, sink),
                None if backlog.len() < BACKLOG_MAX => backlog.push_back(intended),
                None => rec.dropped += 1,
            }
        }
    }

    /// The timer's check: starts every idle slot below the VU target (O(VUs), ten times a
    /// second at most).
    fn fill_vus(
        &mut self,
        shared: &Shared,
        now: Instant,
        inflight: &mut FuturesUnordered<Iteration>,
        sink: &Arc<Sink>,
    ) {
        let target = self.vu_target(shared, now);
        if let Mode::Closed {
            target: seen,
            next_check,
            ..
        } = &mut self.mode
        {
            *seen = target;
            *next_check = now.max(*next_check) + VU_CHECK;
        }
        self.start_idle(shared, 0..target, now, inflight, sink);
    }

    /// A VU finished: it restarts at once if still below the target, and slots a ramp added
    /// since the last look start too. O(1) per completion outside ramps.
    fn restart(
        &mut self,
        shared: &Shared,
        slot: usize,
        inflight: &mut FuturesUnordered<Iteration>,
        sink: &Arc<Sink>,
    ) {
        let now = Instant::now();
        let target = self.vu_target(shared, now);
        let Mode::Closed { target: seen, .. } = &mut self.mode else {
            return;
        };
        let grown = *seen..target.max(*seen);
        *seen = target;
        if slot < target {
            self.start_idle(shared, slot..slot + 1, now, inflight, sink);
        }
        self.start_idle(shared, grown, now, inflight, sink);
    }

    fn start_idle(
        &mut self,
        shared: &Shared,
        slots: std::ops::Range<usize>,
        now: Instant,
        inflight: &mut FuturesUnordered<Iteration>,
        sink: &Arc<Sink>,
    ) {
        for slot in slots {
            let Mode::Closed { idle, .. } = &mut self.mode else {
                return;
            };
            if idle[slot] {
                if !take_iteration(shared) {
                    self.finished = true;
                    return;
                }
                idle[slot] = false;
                self.start(shared, slot, now, inflight, sink);
            }
        }
    }

    fn vu_target(&self, shared: &Shared, now: Instant) -> usize {
        let LoadSchedule::Closed(v) = &shared.schedule else {
            return 0;
        };
        let total = v.vus_at(now.saturating_duration_since(shared.start));
        let seg = shared.segment;
        (share_of(
            share_of(total, seg.index, seg.count),
            self.w,
            shared.workers,
        ) as usize)
            .min(self.slots.len())
    }

    fn done(&mut self, slot: usize, vu: VuState) {
        self.slots[slot] = Some(vu);
        match &mut self.mode {
            Mode::Open { free, .. } => free.push(slot),
            Mode::Closed { idle, .. } => idle[slot] = true,
        }
    }

    /// Starts waiting arrivals on freed slots (open model, also while stopping: they were due
    /// before the stop) and restarts finished VUs at once (closed model).
    fn refill(
        &mut self,
        shared: &Shared,
        slot: usize,
        stopping: bool,
        inflight: &mut FuturesUnordered<Iteration>,
        sink: &Arc<Sink>,
    ) {
        match &mut self.mode {
            Mode::Open { .. } => {
                while let Mode::Open { free, backlog, .. } = &mut self.mode {
                    if free.is_empty() || backlog.is_empty() {
                        break;
                    }
                    let (slot, intended) = (free.pop().unwrap(), backlog.pop_front().unwrap());
                    self.start(shared, slot, intended, inflight, sink);
                }
            }
            Mode::Closed { .. } if !stopping && !self.finished => {
                self.restart(shared, slot, inflight, sink)
            }
            Mode::Closed { .. } => {}
        }
    }

    /// Arrivals still waiting when the run ends; they never ran.
    fn abandoned(&self) -> u64 {
        match &self.mode {
            Mode::Open { backlog, .. } => backlog.len() as u64,
            Mode::Closed { .. } => 0,
        }
    }

    fn start(
        &mut self,
        shared: &Shared,
        slot: usize,
        intended: Instant,
        inflight: &mut FuturesUnordered<Iteration>,
        sink: &Arc<Sink>,
    ) {
        let Some(mut vu) = self.slots[slot].take() else {
            return;
        };
        let plan = &shared.rt.plan;
        let scenario = pick_scenario(plan, shared.scenarios.clone(), self.total_weight);
        if plan.fresh_vus {
            // A new virtual user per iteration, as in Artillery: only the connection stays.
            vu.vars.clone_from(&shared.rt.base_vars);
            vu.json_typed.clear();
            vu.ready = false;
            vu.last_status = None;
        }
        // Plan variables: a list draws one of its values per iteration; templates are drawn
        // after the data row, so that they can read its columns.
        let drawn: Vec<(&String, &VariableValue)> = plan
            .variables
            .iter()
            .map(|(name, values)| match values.as_slice() {
                [one] => (name, one),
                many => (name, &many[rand::rng().random_range(0..many.len())]),
            })
            .collect();
        for (name, v) in &drawn {
            if let VariableValue::Fixed(v) = v {
                vu.set_value(name, v);
            }
        }
        for data in &plan.data {
            let i = match data.order {
                DataOrder::Sequential => (self.seq * shared.workers + self.w) as usize,
                DataOrder::Random => rand::rng().random_range(0..data.rows.len()),
            } % data.rows.len();
            for (col, val) in data.columns.iter().zip(&data.rows[i]) {
                vu.vars.insert(col.clone(), val.to_string());
            }
        }
        for (name, v) in drawn {
            if let VariableValue::Drawn(t) = v {
                let text = t.render(&vu);
                vu.set_value(name, &serde_json::Value::String(text));
            }
        }
        self.seq += 1;
        let (rt, sink) = (shared.rt.clone(), sink.clone());
        inflight.push(
            async move {
                let plan = &rt.plan;
                let mut intended = intended.into_std();
                let mut vu = match script_iteration(&rt, vu, scenario, intended, &sink).await {
                    Ok(vu) => return (slot, vu, scenario),
                    Err(vu) => vu,
                };
                if !vu.ready && !plan.vu_setup.is_empty() {
                    // A VU that cannot log in runs nothing else; it tries again next time.
                    let before = vu.failures;
                    let setup = rt.iterate(&plan.vu_setup, &mut vu, intended, &sink).await;
                    vu.ready = !setup.failed && vu.failures == before;
                    intended = std::time::Instant::now();
                }
                if vu.ready || plan.vu_setup.is_empty() {
                    rt.iterate(&plan.scenarios[scenario].steps, &mut vu, intended, &sink)
                        .await;
                }
                vu.iteration += 1;
                (slot, vu, scenario)
            }
            .boxed(),
        );
    }
}

/// One iteration of a script scenario: the VU back, its iteration counted (and counted as
/// failed when the script threw). `Err` gives the VU back untouched for a step scenario.
async fn script_iteration(
    rt: &Runtime,
    vu: VuState,
    scenario: usize,
    intended: std::time::Instant,
    sink: &Arc<Sink>,
) -> Result<VuState, VuState> {
    let (Some(function), Some(scripts)) = (&rt.plan.scenarios[scenario].script, &rt.scripts) else {
        return Err(vu);
    };
    let (mut vu, result) = scripts
        .iterate(vu, scenario, function, Some(intended), sink.clone())
        .await;
    if result.is_err() {
        lock(sink).failed_iterations += 1;
    }
    vu.iteration += 1;
    Ok(vu)
}

impl Shared {
    /// Offset of this worker's `m`-th arrival.
    fn schedule_arrival(&self, w: u64, m: u64) -> Option<Duration> {
        let LoadSchedule::Open { arrivals, .. } = &self.schedule else {
            return None;
        };
        let k = self.segment.index + self.segment.count * (w + self.workers * m);
        arrivals.nth(k)
    }
}

/// The VUs a workload starts with, as its workers number them: every VU of a closed model,
/// each worker's share of `open_slots` of an open model's (within its slots).
pub fn initial_vus(shared: &Shared, open_slots: u64) -> Vec<u64> {
    let seg = shared.segment;
    let share = |n: u64, w: u64| share_of(share_of(n, seg.index, seg.count), w, shared.workers);
    (0..shared.workers)
        .flat_map(|w| {
            let n = match &shared.schedule {
                LoadSchedule::Open { max_in_flight, .. } => share(*max_in_flight, w)
                    .max(1)
                    .min(share(open_slots, w).max(1)),
                LoadSchedule::Closed(v) => share(v.peak(), w),
            };
            (0..n).map(move |slot| vu_id(shared, w, slot))
        })
        .collect()
}

/// The number of worker `w`'s first VU (its VUs all share its remainder by the worker count).
pub fn first_vu(shared: &Shared, w: u64) -> u64 {
    vu_id(shared, w, 0)
}

fn vu_id(shared: &Shared, w: u64, slot: u64) -> u64 {
    shared.vu_base + shared.segment.index + shared.segment.count * (w + shared.workers * slot) + 1
}

impl Shared {
    /// True when the workload's `iterations:` have all been taken.
    fn iterations_spent(&self) -> bool {
        self.iterations_left
            .as_ref()
            .is_some_and(|left| left.load(Ordering::Relaxed) <= 0)
    }
}

fn take_iteration(shared: &Shared) -> bool {
    match &shared.iterations_left {
        Some(left) => left.fetch_sub(1, Ordering::Relaxed) > 0,
        None => true,
    }
}

/// A scenario of the workload's `range`, by weight.
fn pick_scenario(
    plan: &crate::config::PlanSpec,
    range: std::ops::Range<usize>,
    total_weight: u32,
) -> usize {
    if range.len() == 1 {
        return range.start;
    }
    let mut x = rand::rng().random_range(0..total_weight.max(1));
    for i in range.clone() {
        let w = plan.scenarios[i].weight;
        if x < w {
            return i;
        }
        x -= w;
    }
    range.start
}
