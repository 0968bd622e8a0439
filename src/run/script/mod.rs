//! Script VUs (k6): a few engine threads, each with its own current-thread runtime, run the
//! VUs given to them. A VU is a [`crate::script::Vu`] coroutine; when it yields an HTTP
//! request, the engine thread sends it with `run::http` on its own runtime and resumes the
//! VU with the reply, so a waiting VU costs its coroutine, never a thread, and a request
//! never leaves the thread its VU runs on. The executor's iteration future only hands the
//! iteration over and waits for its end: pacing, the open and closed models and the stop
//! logic are the executor's, as for step plans.

mod names;
mod thread;

pub use names::{Names, MAX_NAMES, OTHER};

use super::vu::{Sink, VuState};
use crate::config::{Limits, PlanSpec, ScriptPlan};
use crate::sync::LockExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// What an engine thread is told.
enum Msg {
    Job(Box<Job>),
    /// Initialise these VUs now (before the load), answering the first failure.
    Init(Vec<u64>, oneshot::Sender<Result<(), String>>),
    /// Run an executor's worker here, beside its VUs, answering how it ended.
    Worker(Worker, oneshot::Sender<std::thread::Result<()>>),
    /// The run is over: free every VU and end.
    Exit,
}

/// An executor's worker, run on the engine thread of its VUs.
type Worker = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// One iteration handed to an engine thread.
struct Job {
    vu: VuState,
    scenario: usize,
    function: String,
    /// When the iteration should have started: its first request is timed from here.
    intended: Option<Instant>,
    sink: Arc<Sink>,
    done: oneshot::Sender<(VuState, Result<Option<String>, String>)>,
}

/// What every engine thread of a run shares.
struct Shared {
    plan: Arc<PlanSpec>,
    script: Arc<ScriptPlan>,
    names: Arc<Names>,
    allow: Vec<String>,
    /// Interrupts every load VU's JavaScript (the load is over).
    halt: Arc<AtomicBool>,
    /// Interrupts the `setup()`/`teardown()` VU (its timeout ran out).
    halt_edges: Arc<AtomicBool>,
    /// `exec.test.abort(reason)`: the first reason.
    abort: Mutex<Option<String>>,
    /// `setup()`'s result, as JSON, for every iteration and `teardown(data)`.
    data: Mutex<Option<Arc<str>>>,
    /// Iterations started in the whole run (`scenario.iterationInTest`).
    iterations: AtomicU64,
    /// Iterations that ended with an exception, and when the last one was logged.
    failed: AtomicU64,
    logged: Mutex<Option<Instant>>,
}

/// The engine threads of one run.
pub struct Scripts {
    shared: Arc<Shared>,
    jobs: Vec<mpsc::UnboundedSender<Msg>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Scripts {
    /// Starts `threads` engine threads for `plan`'s script.
    pub fn start(
        plan: &Arc<PlanSpec>,
        script: &Arc<ScriptPlan>,
        limits: &Limits,
        threads: usize,
    ) -> Scripts {
        let shared = Arc::new(Shared {
            plan: plan.clone(),
            script: script.clone(),
            names: Arc::new(Names::new(plan)),
            allow: limits.allow_targets.clone(),
            halt: Arc::new(AtomicBool::new(false)),
            halt_edges: Arc::new(AtomicBool::new(false)),
            abort: Mutex::new(None),
            data: Mutex::new(None),
            iterations: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            logged: Mutex::new(None),
        });
        let mut jobs = Vec::new();
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            let (tx, rx) = mpsc::unbounded_channel();
            let s = shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("loadpacer-js-{i}"))
                .spawn(move || thread::main(rx, s))
                .expect("an engine thread starts");
            jobs.push(tx);
            handles.push(h);
        }
        Scripts {
            shared,
            jobs,
            threads: Mutex::new(handles),
        }
    }

    /// Runs one iteration of `function` for `vu` on its engine thread; the VU back, and the
    /// function's result as JSON or the script error that ended it. Dropping the future
    /// stops the iteration at its next wait.
    pub async fn iterate(
        &self,
        vu: VuState,
        scenario: usize,
        function: &str,
        intended: Option<Instant>,
        sink: Arc<Sink>,
    ) -> (VuState, Result<Option<String>, String>) {
        let (done, wait) = oneshot::channel();
        let fallback = vu.clone();
        let tx = &self.jobs[(vu.vu as usize) % self.jobs.len()];
        let job = Job {
            vu,
            scenario,
            function: function.to_string(),
            intended,
            sink,
            done,
        };
        if tx.send(Msg::Job(Box::new(job))).is_err() {
            return (
                fallback,
                Err("the script's engine thread has stopped".into()),
            );
        }
        wait.await.unwrap_or_else(|_| {
            (
                fallback,
                Err("the script's engine thread has stopped".into()),
            )
        })
    }

    /// Runs an executor's worker on the engine thread of VU `vu` (a worker's VUs all live on
    /// one thread), so that handing it an iteration and getting it back never wakes another
    /// thread. The handle ends as the worker does, panicking if it panicked.
    pub fn spawn_worker(&self, vu: u64, worker: Worker) -> tokio::task::JoinHandle<()> {
        let (done, ended) = oneshot::channel();
        let tx = &self.jobs[(vu as usize) % self.jobs.len()];
        let sent = tx.send(Msg::Worker(worker, done)).is_ok();
        tokio::spawn(async move {
            match ended.await {
                Ok(Ok(())) => {}
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(_) if sent => panic!("the script's engine thread stopped under a worker"),
                Err(_) => panic!("the script's engine thread has stopped"),
            }
        })
    }

    /// Initialises VUs `ids` on their threads before the load starts (k6 does too), so that
    /// evaluating init contexts never delays an iteration; the first init error otherwise.
    pub async fn prepare(&self, ids: &[u64]) -> Result<(), String> {
        let n = self.jobs.len();
        let mut waits = Vec::new();
        for (t, tx) in self.jobs.iter().enumerate() {
            let mine: Vec<u64> = ids
                .iter()
                .copied()
                .filter(|id| (*id as usize) % n == t)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let (done, wait) = oneshot::channel();
            if tx.send(Msg::Init(mine, done)).is_err() {
                return Err("the script's engine thread has stopped".into());
            }
            waits.push(wait);
        }
        for w in waits {
            w.await
                .unwrap_or_else(|_| Err("the script's engine thread has stopped".into()))?;
        }
        Ok(())
    }

    /// The VUs initialised before the load of an arrival-rate workload whose first scenario
    /// is `scenario` (`preAllocatedVUs`, 1 when the script does not say).
    pub fn preallocated(&self, scenario: &str) -> u64 {
        self.shared
            .script
            .preallocated
            .iter()
            .find(|(s, _)| s == scenario)
            .map_or(1, |(_, n)| *n)
    }

    /// Runs `setup()` if the script has it, keeping its data for every iteration; the error
    /// that fails the run otherwise.
    pub async fn setup(&self, sink: Arc<Sink>) -> Result<(), String> {
        if !self.shared.script.setup {
            return Ok(());
        }
        let vu = VuState {
            vu: 0,
            ..VuState::default()
        };
        let limit = self.shared.script.setup_timeout;
        let Ok((_, r)) =
            tokio::time::timeout(limit, self.iterate(vu, 0, "setup", None, sink)).await
        else {
            self.halt_edges();
            return Err(format!(
                "setup() did not finish within {} (setupTimeout)",
                humantime::format_duration(limit)
            ));
        };
        let data = r.map_err(|e| format!("setup() failed: {e}"))?;
        *self.shared.data.locked() = data.map(Arc::from);
        Ok(())
    }

    /// Whether the script exports `teardown`.
    pub fn has_teardown(&self) -> bool {
        self.shared.script.teardown
    }

    /// Runs `teardown(data)` if the script has it; its error, if any.
    pub async fn teardown(&self, sink: Arc<Sink>) -> Result<(), String> {
        if !self.shared.script.teardown {
            return Ok(());
        }
        let vu = VuState {
            vu: 0,
            ..VuState::default()
        };
        let (_, r) = self.iterate(vu, 0, "teardown", None, sink).await;
        r.map(|_| ()).map_err(|e| format!("teardown() failed: {e}"))
    }

    /// Interrupts every running load iteration (the run's graceful stop is over).
    pub fn halt(&self) {
        self.shared.halt.store(true, Ordering::Relaxed);
    }

    /// Interrupts `setup()` or `teardown()` (its timeout ran out).
    pub fn halt_edges(&self) {
        self.shared.halt_edges.store(true, Ordering::Relaxed);
    }

    /// Why the script aborted the test (`exec.test.abort()`), once it has.
    pub fn aborted(&self) -> Option<String> {
        self.shared.abort.locked().clone()
    }

    /// Iterations that ended with an exception.
    pub fn failed_iterations(&self) -> u64 {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// The request rows the script named so far, after the plan's own.
    pub fn named_rows(&self) -> crate::run::observe::NamedRows {
        self.shared.names.rows()
    }

    /// `plan` with the request and check rows the script used.
    pub fn plan_with_names(&self, plan: &PlanSpec) -> PlanSpec {
        self.shared.names.extend(plan)
    }

    /// Ends the engine threads, freeing every VU, and waits for them.
    pub async fn finish(&self) {
        self.halt();
        self.halt_edges();
        for j in &self.jobs {
            let _ = j.send(Msg::Exit);
        }
        let handles = std::mem::take(&mut *self.threads.locked());
        let _ = tokio::task::spawn_blocking(move || {
            for h in handles {
                let _ = h.join();
            }
        })
        .await;
    }
}
