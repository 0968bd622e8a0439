//! Runs in progress as they go: each run's recent windows, published once a second for the
//! live page and its event stream. Bounded: the last [`KEPT_WINDOWS`] windows per run, and a
//! run is forgotten once it is stored (its final state is the last value its watchers see).

use crate::measure::WindowPoint;
use crate::run::{window_point, Control, Observer, WindowView};
use crate::sync::LockExt;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Windows a live view keeps: two minutes of one-second windows.
pub const KEPT_WINDOWS: usize = 120;

/// A run in progress, as the live view shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub id: String,
    pub plan: String,
    /// Seconds since the run started and how long its load is scheduled to take.
    pub elapsed_s: f64,
    pub scheduled_s: f64,
    pub phase: Option<String>,
    /// `open` (target is arrivals per second) or `closed` (target is VUs).
    pub model: crate::config::LoadModel,
    pub target: f64,
    /// Requests per second in the last window.
    pub achieved_rps: f64,
    pub in_flight: u64,
    /// Since the start.
    pub requests: u64,
    pub errors: u64,
    /// The last windows, oldest first.
    pub windows: VecDeque<WindowPoint>,
    /// The stored status once the run is over (`passed`, `failed`, …).
    pub finished: Option<String>,
}

/// A run in progress: its plan and where its snapshots are published.
type Published = (String, watch::Sender<Arc<Snapshot>>);

/// The runs in progress, by id.
#[derive(Default)]
pub struct LiveRuns {
    runs: Mutex<HashMap<String, Published>>,
}

impl LiveRuns {
    /// Starts publishing run `id` of `plan`; the observer feeds it.
    pub fn begin(&self, id: &str, plan: &str) -> LiveObserver {
        let snapshot = Snapshot {
            id: id.to_string(),
            plan: plan.to_string(),
            elapsed_s: 0.0,
            scheduled_s: 0.0,
            phase: None,
            model: crate::config::LoadModel::Open,
            target: 0.0,
            achieved_rps: 0.0,
            in_flight: 0,
            requests: 0,
            errors: 0,
            windows: VecDeque::new(),
            finished: None,
        };
        let (tx, _) = watch::channel(Arc::new(snapshot.clone()));
        self.runs
            .locked()
            .insert(id.to_string(), (plan.to_string(), tx.clone()));
        LiveObserver { tx, snapshot }
    }

    /// The run is stored with `status`: its watchers get that, and it is forgotten.
    pub fn end(&self, id: &str, status: &str) {
        if let Some((_, tx)) = self.runs.locked().remove(id) {
            tx.send_modify(|s| Arc::make_mut(s).finished = Some(status.to_string()));
        }
    }

    /// Watches run `id`; `None` when it is not in progress.
    pub fn watch(&self, id: &str) -> Option<watch::Receiver<Arc<Snapshot>>> {
        self.runs.locked().get(id).map(|(_, tx)| tx.subscribe())
    }

    /// The ids of `plan`'s runs in progress.
    pub fn of_plan(&self, plan: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .runs
            .locked()
            .iter()
            .filter(|(_, (p, _))| p == plan)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }
}

/// Feeds one run's snapshot from its windows.
pub struct LiveObserver {
    tx: watch::Sender<Arc<Snapshot>>,
    snapshot: Snapshot,
}

impl Observer for LiveObserver {
    fn on_window(&mut self, v: &WindowView<'_>) -> Control {
        let point = window_point(v);
        let s = &mut self.snapshot;
        s.elapsed_s = v.elapsed.as_secs_f64();
        s.scheduled_s = v.scheduled.as_secs_f64();
        s.phase = v.phase.map(str::to_string);
        s.model = if v.open_model {
            crate::config::LoadModel::Open
        } else {
            crate::config::LoadModel::Closed
        };
        s.target = v.target;
        s.achieved_rps = point.requests as f64 / point.width_s.max(1e-9);
        s.in_flight = v.in_flight;
        s.requests = v.total.total_requests();
        s.errors = v.total.total_errors();
        if s.windows.len() == KEPT_WINDOWS {
            s.windows.pop_front();
        }
        s.windows.push_back(point);
        self.tx.send_replace(Arc::new(s.clone()));
        Control::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watchers_see_the_end_and_the_run_is_forgotten() {
        let live = LiveRuns::default();
        let _obs = live.begin("r1", "shop");
        assert_eq!(live.of_plan("shop"), vec!["r1".to_string()]);
        let mut rx = live.watch("r1").unwrap();
        live.end("r1", "passed");
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow().finished.as_deref(), Some("passed"));
        assert!(live.watch("r1").is_none() && live.of_plan("shop").is_empty());
    }
}
