//! What `/metrics` exports, as plain data: per-plan series fed by runs and schedulers, and
//! the daemon's own figures. [`super::Metrics`] updates it; [`super::encode`] turns one
//! snapshot of it into metric families.

use super::names::LATENCY_BUCKETS;
use crate::config::{CheckKey, RequestKey, StreamKey};
use crate::measure::Histo;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Per-bucket counts of one latency series, with its upper bounds (seconds).
#[derive(Debug, Clone)]
pub(super) struct Buckets {
    pub bounds: Arc<[f64]>,
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

impl Default for Buckets {
    /// The default layout: [`LATENCY_BUCKETS`].
    fn default() -> Self {
        Self::with_bounds(LATENCY_BUCKETS.as_slice().into())
    }
}

impl Buckets {
    pub fn with_bounds(bounds: Arc<[f64]>) -> Self {
        Self {
            counts: vec![0; bounds.len()],
            bounds,
            count: 0,
            sum: 0.0,
        }
    }

    pub fn observe(&mut self, secs: f64) {
        let i = self.bounds.partition_point(|b| *b < secs);
        if i < self.counts.len() {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += secs;
    }

    pub fn add(&mut self, h: &Histo) {
        for v in h.iter_recorded() {
            self.add_micros(v.value_iterated_to(), v.count_at_value());
        }
    }

    /// `n` observations of `us` microseconds.
    pub fn add_micros(&mut self, us: u64, n: u64) {
        let secs = us as f64 / 1e6;
        let i = self.bounds.partition_point(|b| *b < secs);
        if i < self.counts.len() {
            self.counts[i] += n;
        }
        self.count += n;
        self.sum += secs * n as f64;
    }
}

/// Everything exported about one plan.
#[derive(Debug, Clone, Default)]
pub struct PlanMetrics {
    pub(super) requests: Vec<RequestKey>,
    /// The plan's own request rows; a script's named rows follow them.
    pub(super) own_requests: usize,
    /// The plan's own check rows; a script's named checks follow them.
    pub(super) own_checks: usize,
    /// The plan's request-duration bucket bounds (`None`: the default layout).
    pub(super) request_buckets: Option<Arc<[f64]>>,
    pub(super) streams: Vec<StreamKey>,
    /// Per streaming step: connect, rtt, first-message and gap buckets, and the counters.
    pub(super) stream_figures: Vec<StreamFigures>,
    pub(super) checks: Vec<CheckKey>,
    pub(super) scenarios: Vec<String>,
    pub(super) thresholds: Vec<String>,
    pub(super) latency: Vec<Buckets>,
    pub(super) statuses: BTreeMap<(usize, String), u64>,
    pub(super) errors: BTreeMap<(usize, &'static str), u64>,
    pub(super) check_counts: Vec<(u64, u64)>,
    pub(super) iterations: Vec<u64>,
    pub(super) dropped: u64,
    pub(super) stale_retries: u64,
    pub(super) lag: Buckets,
    pub(super) target_rate: f64,
    pub(super) vus: f64,
    pub(super) in_flight: f64,
    pub(super) run_active: bool,
    pub(super) last_run: Option<LastRun>,
    pub(super) runs_total: BTreeMap<&'static str, u64>,
    pub(super) next_run: Option<f64>,
    pub(super) lateness: Buckets,
    pub(super) skipped: BTreeMap<&'static str, u64>,
    pub(super) missed: u64,
    /// Per workload, when the plan has more than one.
    pub(super) workloads: Vec<WorkloadLive>,
    /// User-defined metrics, by their index in the plan's `metrics`.
    pub(super) custom: Vec<CustomLive>,
    /// Monitors by name: the last polled value (`None` while the last poll failed) and the
    /// failed polls.
    pub(super) monitors: BTreeMap<String, (Option<f64>, u64)>,
    /// Monitors that feed a user-defined metric: its index in `custom`.
    pub(super) monitor_feeds: BTreeMap<String, usize>,
    /// A run of the plan has started since the daemon started (or the plan's tables last
    /// changed): until then its run figures carry no information and are not exported.
    pub(super) started: bool,
    /// The plan has a schedule (its skipped and missed counters are exported from the start,
    /// so that the first skip shows in `increase()`).
    pub(super) scheduled: bool,
}

impl PlanMetrics {
    /// The live figures of a plan that has not run yet.
    pub(super) fn for_plan(p: &crate::config::PlanSpec) -> Self {
        let scenarios: Vec<String> = p.scenarios.iter().map(|s| s.name.clone()).collect();
        let workloads = match p.workloads.as_slice() {
            [_] => Vec::new(),
            all => all
                .iter()
                .map(|w| WorkloadLive {
                    name: w.name.clone(),
                    ..Default::default()
                })
                .collect(),
        };
        let buckets = p
            .request_buckets
            .clone()
            .map(Buckets::with_bounds)
            .unwrap_or_default();
        PlanMetrics {
            requests: p.requests.clone(),
            own_requests: p.requests.len(),
            own_checks: p.checks.len(),
            request_buckets: p.request_buckets.clone(),
            streams: p.streams.clone(),
            stream_figures: vec![Default::default(); p.streams.len()],
            checks: p.checks.clone(),
            latency: vec![buckets; p.requests.len()],
            check_counts: vec![(0, 0); p.checks.len()],
            iterations: vec![0; scenarios.len()],
            scenarios,
            thresholds: p.thresholds.iter().map(|t| t.to_string()).collect(),
            workloads,
            monitors: p
                .monitors
                .iter()
                .map(|m| (m.name.clone(), (None, 0)))
                .collect(),
            monitor_feeds: p
                .monitors
                .iter()
                .filter_map(|m| Some((m.name.clone(), m.feeds?)))
                .collect(),
            custom: p
                .metrics
                .iter()
                .map(|spec| CustomLive {
                    spec: spec.clone(),
                    stats: Default::default(),
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Whether these figures (of the plan before a reload) can go on counting for `p`,
    /// whose fresh figures are `fresh`: the same tables, in the same order.
    pub(super) fn fits(&self, fresh: &PlanMetrics, p: &crate::config::PlanSpec) -> bool {
        self.workloads.len() == fresh.workloads.len()
            && self
                .workloads
                .iter()
                .zip(&fresh.workloads)
                .all(|(a, b)| a.name == b.name)
            && self.monitors.keys().eq(fresh.monitors.keys())
            && self.monitor_feeds.len() == fresh.monitor_feeds.len()
            && self.custom.len() == p.metrics.len()
            && self
                .custom
                .iter()
                .zip(&p.metrics)
                .all(|(a, b)| &a.spec == b)
            && self.same_requests(p)
            && self.streams == p.streams
            && self.own_checks == p.checks.len()
            && self.checks[..self.own_checks] == p.checks[..]
            && self.thresholds == fresh.thresholds
            && self.scenarios == fresh.scenarios
    }

    /// Whether `plan` has the request rows and bucket layout these figures were kept for
    /// (a script plan's named rows, after its own, stay across a reload).
    pub(super) fn same_requests(&self, plan: &crate::config::PlanSpec) -> bool {
        self.own_requests == plan.requests.len()
            && self.requests[..self.own_requests] == plan.requests[..]
            && self.latency.first().is_none_or(|b| {
                plan.request_buckets
                    .as_deref()
                    .unwrap_or(super::names::LATENCY_BUCKETS.as_slice())
                    == &*b.bounds
            })
    }

    /// A script names its requests as it runs: rows beyond the plan's own are added as they
    /// appear (with the plan's bucket layout), up to `rows`.
    /// Check rows a script named (after the plan's own), as far as the window has rows.
    pub(super) fn add_named_checks(&mut self, rows: usize, named: &[CheckKey]) {
        while self.checks.len() < rows {
            let Some(k) = named.get(self.checks.len() - self.own_checks) else {
                break;
            };
            self.checks.push(k.clone());
            self.check_counts.push((0, 0));
        }
    }

    pub(super) fn add_named(&mut self, rows: usize, named: &[RequestKey]) {
        while self.requests.len() < rows {
            let Some(k) = named.get(self.requests.len() - self.own_requests) else {
                break;
            };
            self.requests.push(k.clone());
            self.latency.push(
                self.request_buckets
                    .clone()
                    .map(Buckets::with_bounds)
                    .unwrap_or_default(),
            );
        }
    }
}

/// One declared metric of a plan and everything recorded into it since the daemon started
/// (or the plan's metrics last changed).
#[derive(Debug, Clone)]
pub(super) struct CustomLive {
    pub spec: crate::config::custom::CustomMetricSpec,
    pub stats: crate::measure::CustomStats,
}

/// One workload of a plan with several: its live gauges and counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct WorkloadLive {
    pub name: String,
    pub target_rate: f64,
    pub vus: f64,
    pub in_flight: f64,
    pub requests: u64,
    pub errors: u64,
}

#[derive(Debug, Clone)]
pub(super) struct LastRun {
    pub(super) end_ts: f64,
    pub(super) duration: f64,
    pub(super) success: bool,
    pub(super) saturated: bool,
    pub(super) quantiles: Vec<f64>,
    pub(super) count: u64,
    pub(super) sum: f64,
    pub(super) thresholds: Vec<bool>,
    pub(super) drift: Option<f64>,
    /// (metric, regressed, delta ratio) of the baseline comparison.
    pub(super) regression: Vec<(String, bool, f64)>,
    /// (capacity req/s, headroom ratio, instances needed), only when the run found a limit.
    pub(super) capacity: Option<(f64, f64, f64)>,
    /// Without a limit: the rate the SLO held at, a lower bound of the capacity.
    pub(super) capacity_at_least: Option<f64>,
}

/// What `/metrics` keeps of one streaming step (buckets, not HDR histograms).
#[derive(Debug, Clone, Default)]
pub(super) struct StreamFigures {
    pub connect: Buckets,
    pub rtt: Buckets,
    pub ping: Buckets,
    pub first_message: Buckets,
    pub gap: Buckets,
    pub sessions: u64,
    pub ended: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub ends: BTreeMap<&'static str, u64>,
}

/// The daemon's exported state.
#[derive(Debug, Default)]
pub struct MetricsState {
    pub(super) plans: BTreeMap<String, PlanMetrics>,
    pub(super) reload_ok: bool,
    pub(super) reload_ts: f64,
    pub(super) store_errors: u64,
    pub(super) store_unreadable: u64,
    pub(super) unauthorized: u64,
    pub(super) segments_refused: BTreeMap<&'static str, u64>,
    pub(super) host: Option<crate::host::HostSample>,
}

impl MetricsState {
    /// The plans that have run (or are running): the ones with run figures to export.
    pub(super) fn ran(&self) -> impl Iterator<Item = (&String, &PlanMetrics)> {
        self.plans.iter().filter(|(_, m)| m.started)
    }
}
