//! Prometheus exposition. Runs publish into [`MetricsState`] once a second (never per
//! request); a scrape builds every family from one consistent snapshot of that state, so
//! series follow the current config (a removed plan's series disappear) and a scrape during
//! a reload never sees half of it.

pub mod names;

use crate::config::{CheckKey, PlanSpec, RequestKey};
use crate::judge::Verdict;
use crate::measure::{ErrorKind, Histo, Recorder};
use crate::report::Summary;
use names::{help, LAST_RUN_QUANTILES, LATENCY_BUCKETS, PREFIX};
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType, Quantile,
    Summary as ProtoSummary,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Cumulative bucket counts of one latency series.
#[derive(Debug, Clone, Default)]
struct Buckets {
    counts: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Buckets {
    fn observe(&mut self, secs: f64) {
        let i = LATENCY_BUCKETS.partition_point(|b| *b < secs);
        if i < self.counts.len() {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += secs;
    }

    fn add(&mut self, h: &Histo) {
        for v in h.iter_recorded() {
            let secs = v.value_iterated_to() as f64 / 1e6;
            let n = v.count_at_value();
            let i = LATENCY_BUCKETS.partition_point(|b| *b < secs);
            if i < self.counts.len() {
                self.counts[i] += n;
            }
            self.count += n;
            self.sum += secs * n as f64;
        }
    }
}

/// Everything exported about one plan.
#[derive(Debug, Clone, Default)]
pub struct PlanMetrics {
    requests: Vec<RequestKey>,
    checks: Vec<CheckKey>,
    scenarios: Vec<String>,
    thresholds: Vec<String>,
    latency: Vec<Buckets>,
    statuses: BTreeMap<(usize, String), u64>,
    errors: BTreeMap<(usize, &'static str), u64>,
    check_counts: Vec<(u64, u64)>,
    iterations: Vec<u64>,
    dropped: u64,
    stale_retries: u64,
    lag: Buckets,
    target_rate: f64,
    vus: f64,
    in_flight: f64,
    run_active: bool,
    last_run: Option<LastRun>,
    runs_total: BTreeMap<&'static str, u64>,
    next_run: Option<f64>,
    lateness: Buckets,
    skipped: BTreeMap<&'static str, u64>,
    missed: u64,
}

#[derive(Debug, Clone)]
struct LastRun {
    end_ts: f64,
    duration: f64,
    success: bool,
    saturated: bool,
    quantiles: Vec<f64>,
    count: u64,
    sum: f64,
    thresholds: Vec<bool>,
    drift: Option<f64>,
    /// (metric, regressed, delta ratio) of the baseline comparison.
    regression: Vec<(String, bool, f64)>,
    /// (capacity req/s, headroom ratio, instances needed), only when the run found a limit.
    capacity: Option<(f64, f64, f64)>,
    /// Without a limit: the rate the SLO held at, a lower bound of the capacity.
    capacity_at_least: Option<f64>,
}

/// The daemon's exported state.
#[derive(Debug, Default)]
pub struct MetricsState {
    plans: BTreeMap<String, PlanMetrics>,
    reload_ok: bool,
    reload_ts: f64,
    store_errors: u64,
    store_unreadable: u64,
    unauthorized: u64,
    process: Option<crate::host::ProcessSample>,
    host: Option<crate::host::HostSample>,
}

/// Shared handle to the exported state.
#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<Mutex<MetricsState>>);

fn now_ts() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut MetricsState) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// An observer that publishes a plan's windows here.
    pub fn publisher(&self, plan: &str) -> Publisher {
        Publisher {
            metrics: self.clone(),
            plan: plan.to_string(),
        }
    }

    /// Adopts a (re)loaded config: plans keep their counters when their tables did not
    /// change; removed plans are dropped with their series.
    pub fn set_plans(&self, plans: &[Arc<PlanSpec>]) {
        self.with(|s| {
            let mut next = BTreeMap::new();
            for p in plans {
                let thresholds: Vec<String> = p.thresholds.iter().map(|t| t.to_string()).collect();
                let scenarios: Vec<String> = p.scenarios.iter().map(|s| s.name.clone()).collect();
                let keep = s.plans.remove(&p.name).filter(|m| {
                    m.requests == p.requests
                        && m.checks == p.checks
                        && m.thresholds == thresholds
                        && m.scenarios == scenarios
                });
                next.insert(
                    p.name.clone(),
                    keep.unwrap_or_else(|| PlanMetrics {
                        requests: p.requests.clone(),
                        checks: p.checks.clone(),
                        latency: vec![Buckets::default(); p.requests.len()],
                        check_counts: vec![(0, 0); p.checks.len()],
                        iterations: vec![0; scenarios.len()],
                        scenarios,
                        thresholds,
                        ..Default::default()
                    }),
                );
            }
            s.plans = next;
        });
    }

    /// Records a reading of loadpacer's own process.
    pub fn set_process(&self, sample: crate::host::ProcessSample) {
        self.with(|s| s.process = Some(sample));
    }

    /// Records a reading of the host and the watched processes.
    pub fn set_host(&self, sample: crate::host::HostSample) {
        self.with(|s| s.host = Some(sample));
    }

    /// Counts a failed write to the run store.
    /// G1: an API request without the right bearer token.
    pub fn unauthorized(&self) {
        self.with(|s| s.unauthorized += 1);
    }

    /// Rows of the run store skipped so far because they could not be read.
    pub fn set_store_unreadable(&self, rows: u64) {
        self.with(|s| s.store_unreadable = rows);
    }

    pub fn store_error(&self) {
        self.with(|s| s.store_errors += 1);
    }

    /// Records the outcome of a (re)load.
    pub fn set_reload(&self, ok: bool) {
        self.with(|s| {
            s.reload_ok = ok;
            if ok {
                s.reload_ts = now_ts();
            }
        });
    }

    /// Adds one window of a running plan and sets its live gauges.
    pub fn add_window(
        &self,
        plan: &str,
        window: &Recorder,
        target: f64,
        open_model: bool,
        in_flight: u64,
    ) {
        self.with(|s| {
            let Some(m) = s.plans.get_mut(plan) else {
                return;
            };
            if m.latency.len() != window.requests.len() {
                return;
            }
            for (i, r) in window.requests.iter().enumerate() {
                m.latency[i].add(&r.latency);
                for (code, n) in &r.statuses {
                    *m.statuses.entry((i, code.to_string())).or_default() += n;
                }
                let responses: u64 = r.statuses.iter().map(|(_, n)| n).sum();
                if r.count() > responses {
                    *m.statuses.entry((i, "none".into())).or_default() += r.count() - responses;
                }
                for k in ErrorKind::ALL {
                    let n = r.errors_of(k);
                    if n > 0 {
                        *m.errors.entry((i, k.as_str())).or_default() += n;
                    }
                }
            }
            for (a, b) in m.check_counts.iter_mut().zip(&window.checks) {
                a.0 += b.0;
                a.1 += b.1;
            }
            for (a, b) in m.iterations.iter_mut().zip(&window.iterations) {
                *a += b;
            }
            m.dropped += window.dropped;
            m.stale_retries += window.stale_retries;
            m.lag.add(&window.lag);
            m.run_active = true;
            (m.target_rate, m.vus) = if open_model {
                (target, 0.0)
            } else {
                (0.0, target)
            };
            m.in_flight = in_flight as f64;
        });
    }

    /// Marks a run as started (before its first window).
    pub fn run_started(&self, plan: &str) {
        self.with(|s| {
            if let Some(m) = s.plans.get_mut(plan) {
                m.run_active = true;
            }
        });
    }

    /// Records a finished run: last-run gauges, exact quantiles, threshold results.
    pub fn run_finished(&self, plan: &str, summary: &Summary, latency: &Histo) {
        self.with(|s| {
            let Some(m) = s.plans.get_mut(plan) else {
                return;
            };
            m.run_active = false;
            (m.target_rate, m.vus, m.in_flight) = (0.0, 0.0, 0.0);
            *m.runs_total.entry(summary.result.as_str()).or_default() += 1;
            m.last_run = Some(LastRun {
                end_ts: now_ts(),
                duration: summary.duration_s,
                success: summary.result == crate::report::Outcome::Passed,
                saturated: !summary.validity.is_valid(),
                quantiles: LAST_RUN_QUANTILES
                    .iter()
                    .map(|q| {
                        if latency.is_empty() {
                            f64::NAN
                        } else {
                            latency.value_at_quantile(*q) as f64 / 1e6
                        }
                    })
                    .collect(),
                capacity: summary
                    .capacity
                    .as_ref()
                    .and_then(|c| {
                        Some((
                            c.capacity_rps?,
                            c.headroom_ratio?,
                            c.instances_needed? as f64,
                        ))
                    })
                    .filter(|_| summary.validity.is_valid()),
                capacity_at_least: summary
                    .capacity
                    .as_ref()
                    .and_then(|c| c.capacity_at_least_rps),
                // A slope that cannot be told from noise is no drift (0); a run too short to
                // estimate one exports nothing.
                drift: summary.soak.as_ref().map(|s| {
                    if s.significant {
                        s.latency_drift_per_hour
                    } else {
                        0.0
                    }
                }),
                regression: summary
                    .regression
                    .iter()
                    .flat_map(|r| r.deltas.iter())
                    .map(|d| (d.metric.clone(), d.regressed, d.delta_ratio))
                    .collect(),
                count: latency.len(),
                sum: latency.mean() * latency.len() as f64 / 1e6,
                thresholds: summary
                    .thresholds
                    .iter()
                    .map(|t| t.verdict == Verdict::Pass)
                    .collect(),
            });
        });
    }

    /// Sets when a plan is due next.
    pub fn set_next_run(&self, plan: &str, at: Option<f64>) {
        self.with(|s| {
            if let Some(m) = s.plans.get_mut(plan) {
                m.next_run = at;
            }
        });
    }

    /// Records how late the scheduler woke for a fire time.
    pub fn lateness(&self, plan: &str, seconds: f64) {
        self.with(|s| {
            if let Some(m) = s.plans.get_mut(plan) {
                m.lateness.observe(seconds);
            }
        });
    }

    /// Counts a due run that was not started.
    pub fn skipped(&self, plan: &str, reason: &'static str) {
        self.with(|s| {
            if let Some(m) = s.plans.get_mut(plan) {
                *m.skipped.entry(reason).or_default() += 1;
            }
        });
    }

    /// Counts due runs missed by more than the starting deadline.
    pub fn missed(&self, plan: &str, n: u64) {
        self.with(|s| {
            if let Some(m) = s.plans.get_mut(plan) {
                m.missed += n;
            }
        });
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let families = self.with(|s| families(s));
        let mut out = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&families, &mut out)
            .expect("text encoding to a String cannot fail");
        out
    }
}

/// Publishes each window of a run to [`Metrics`] (once a second, never per request).
pub struct Publisher {
    metrics: Metrics,
    plan: String,
}

impl crate::run::Observer for Publisher {
    fn on_window(&mut self, v: &crate::run::WindowView<'_>) -> crate::run::Control {
        self.metrics
            .add_window(&self.plan, v.window, v.target, v.open_model, v.in_flight);
        crate::run::Control::Continue
    }
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_string());
    l.set_value(value.to_string());
    l
}

struct Family {
    name: &'static str,
    kind: MetricType,
    metrics: Vec<Metric>,
}

impl Family {
    fn new(name: &'static str, kind: MetricType) -> Self {
        Self {
            name,
            kind,
            metrics: Vec::new(),
        }
    }

    fn value(&mut self, labels: &[(&str, &str)], v: f64) {
        let mut m = Metric::default();
        m.set_label(labels.iter().map(|(k, v)| label(k, v)).collect());
        match self.kind {
            MetricType::COUNTER => {
                let mut c = Counter::default();
                c.set_value(v);
                m.set_counter(c);
            }
            _ => {
                let mut g = Gauge::default();
                g.set_value(v);
                m.set_gauge(g);
            }
        }
        self.metrics.push(m);
    }

    fn histogram(&mut self, labels: &[(&str, &str)], b: &Buckets) {
        let mut h = Histogram::default();
        let mut cumulative = 0;
        h.set_bucket(
            LATENCY_BUCKETS
                .iter()
                .zip(b.counts)
                .map(|(le, n)| {
                    cumulative += n;
                    let mut bucket = Bucket::default();
                    bucket.set_upper_bound(*le);
                    bucket.set_cumulative_count(cumulative);
                    bucket
                })
                .collect(),
        );
        h.set_sample_count(b.count);
        h.set_sample_sum(b.sum);
        let mut m = Metric::default();
        m.set_label(labels.iter().map(|(k, v)| label(k, v)).collect());
        m.set_histogram(h);
        self.metrics.push(m);
    }

    fn summary(&mut self, labels: &[(&str, &str)], quantiles: &[(f64, f64)], count: u64, sum: f64) {
        let mut sm = ProtoSummary::default();
        sm.set_quantile(
            quantiles
                .iter()
                .map(|(q, v)| {
                    let mut x = Quantile::default();
                    x.set_quantile(*q);
                    x.set_value(*v);
                    x
                })
                .collect(),
        );
        sm.set_sample_count(count);
        sm.set_sample_sum(sum);
        let mut m = Metric::default();
        m.set_label(labels.iter().map(|(k, v)| label(k, v)).collect());
        m.set_summary(sm);
        self.metrics.push(m);
    }

    fn finish(self) -> Option<MetricFamily> {
        if self.metrics.is_empty() {
            return None;
        }
        let mut f = MetricFamily::default();
        f.set_name(format!("{PREFIX}{}", self.name));
        f.set_help(help(self.name).to_string());
        f.set_field_type(self.kind);
        f.set_metric(self.metrics);
        Some(f)
    }
}

fn families(s: &MetricsState) -> Vec<MetricFamily> {
    use MetricType::{COUNTER, GAUGE, HISTOGRAM};
    let mut duration = Family::new("http_request_duration_seconds", HISTOGRAM);
    let mut requests = Family::new("http_requests_total", COUNTER);
    let mut errors = Family::new("http_errors_total", COUNTER);
    let mut checks = Family::new("checks_total", COUNTER);
    let mut iterations = Family::new("iterations_total", COUNTER);
    let mut dropped = Family::new("iterations_dropped_total", COUNTER);
    let mut stale = Family::new("http_stale_connection_retries_total", COUNTER);
    let mut lag = Family::new("dispatch_lag_seconds", HISTOGRAM);
    let mut gauges: Vec<Family> = ["target_rate", "vus", "in_flight_requests", "run_active"]
        .into_iter()
        .map(|n| Family::new(n, GAUGE))
        .collect();
    let mut last_ts = Family::new("last_run_timestamp_seconds", GAUGE);
    let mut last_dur = Family::new("last_run_duration_seconds", GAUGE);
    let mut last_ok = Family::new("last_run_success", GAUGE);
    let mut saturated = Family::new("generator_saturated", GAUGE);
    let mut runs = Family::new("runs_total", COUNTER);
    // A summary (not a gauge) so that the `quantile` label is legal; its count and sum
    // describe the last run only and are not meant for rate().
    let mut quantiles = Family::new("last_run_latency_seconds", MetricType::SUMMARY);
    let mut thresholds = Family::new("threshold_passed", GAUGE);
    let mut next = Family::new("schedule_next_run_timestamp_seconds", GAUGE);
    let mut capacity: Vec<Family> = [
        "capacity_max_rps",
        "capacity_headroom_ratio",
        "capacity_required_instances",
    ]
    .into_iter()
    .map(|n| Family::new(n, GAUGE))
    .collect();
    let mut capacity_bound = Family::new("capacity_lower_bound_rps", GAUGE);
    let mut drift = Family::new("soak_latency_drift_ratio", GAUGE);
    let mut regressed = Family::new("regression_detected", GAUGE);
    let mut regression_delta = Family::new("regression_delta_ratio", GAUGE);
    let mut lateness = Family::new("schedule_lateness_seconds", HISTOGRAM);
    let mut skipped = Family::new("schedule_runs_skipped_total", COUNTER);
    let mut missed = Family::new("schedule_runs_missed_total", COUNTER);
    for (plan, m) in &s.plans {
        let plan = plan.as_str();
        for (i, k) in m.requests.iter().enumerate() {
            duration.histogram(
                &[
                    ("plan", plan),
                    ("scenario", &k.scenario),
                    ("request", &k.name),
                    ("method", &k.method),
                ],
                &m.latency[i],
            );
        }
        for ((i, status), n) in &m.statuses {
            let k = &m.requests[*i];
            requests.value(
                &[
                    ("plan", plan),
                    ("scenario", &k.scenario),
                    ("request", &k.name),
                    ("method", &k.method),
                    ("status", status),
                ],
                *n as f64,
            );
        }
        for ((i, kind), n) in &m.errors {
            let k = &m.requests[*i];
            errors.value(
                &[
                    ("plan", plan),
                    ("scenario", &k.scenario),
                    ("request", &k.name),
                    ("kind", kind),
                ],
                *n as f64,
            );
        }
        for (k, (pass, fail)) in m.checks.iter().zip(&m.check_counts) {
            let check = format!("{}: {}", k.request, k.name);
            checks.value(
                &[
                    ("plan", plan),
                    ("scenario", &k.scenario),
                    ("check", &check),
                    ("result", "pass"),
                ],
                *pass as f64,
            );
            checks.value(
                &[
                    ("plan", plan),
                    ("scenario", &k.scenario),
                    ("check", &check),
                    ("result", "fail"),
                ],
                *fail as f64,
            );
        }
        for (sc, n) in m.scenarios.iter().zip(&m.iterations) {
            iterations.value(&[("plan", plan), ("scenario", sc)], *n as f64);
        }
        dropped.value(&[("plan", plan)], m.dropped as f64);
        stale.value(&[("plan", plan)], m.stale_retries as f64);
        lag.histogram(&[("plan", plan)], &m.lag);
        for (g, v) in gauges.iter_mut().zip([
            m.target_rate,
            m.vus,
            m.in_flight,
            f64::from(u8::from(m.run_active)),
        ]) {
            g.value(&[("plan", plan)], v);
        }
        for result in [
            "passed",
            "failed",
            "aborted",
            "interrupted",
            "invalid",
            "error",
        ] {
            runs.value(
                &[("plan", plan), ("result", result)],
                *m.runs_total.get(result).unwrap_or(&0) as f64,
            );
        }
        if let Some(l) = &m.last_run {
            last_ts.value(&[("plan", plan)], l.end_ts);
            last_dur.value(&[("plan", plan)], l.duration);
            last_ok.value(&[("plan", plan)], f64::from(u8::from(l.success)));
            saturated.value(&[("plan", plan)], f64::from(u8::from(l.saturated)));
            if l.count > 0 {
                let qs: Vec<(f64, f64)> = LAST_RUN_QUANTILES
                    .iter()
                    .copied()
                    .zip(l.quantiles.iter().copied())
                    .collect();
                quantiles.summary(&[("plan", plan)], &qs, l.count, l.sum);
            }
            for (metric, r, delta) in &l.regression {
                regressed.value(
                    &[("plan", plan), ("metric", metric)],
                    f64::from(u8::from(*r)),
                );
                regression_delta.value(&[("plan", plan), ("metric", metric)], *delta);
            }
            if let Some(d) = l.drift {
                drift.value(&[("plan", plan)], d);
            }
            if let Some(x) = l.capacity_at_least {
                capacity_bound.value(&[("plan", plan)], x);
            }
            if let Some((cap, head, inst)) = l.capacity {
                for (f, v) in capacity.iter_mut().zip([cap, head, inst]) {
                    f.value(&[("plan", plan)], v);
                }
            }
            for (t, ok) in m.thresholds.iter().zip(&l.thresholds) {
                thresholds.value(
                    &[("plan", plan), ("threshold", t)],
                    f64::from(u8::from(*ok)),
                );
            }
        }
        if let Some(t) = m.next_run {
            next.value(&[("plan", plan)], t);
        }
        if m.lateness.count > 0 {
            lateness.histogram(&[("plan", plan)], &m.lateness);
        }
        for reason in ["overlap", "concurrency"] {
            skipped.value(
                &[("plan", plan), ("reason", reason)],
                *m.skipped.get(reason).unwrap_or(&0) as f64,
            );
        }
        missed.value(&[("plan", plan), ("reason", "deadline")], m.missed as f64);
    }
    let mut reload = Family::new("config_last_reload_successful", GAUGE);
    reload.value(&[], f64::from(u8::from(s.reload_ok)));
    let mut reload_ts = Family::new("config_last_reload_success_timestamp_seconds", GAUGE);
    reload_ts.value(&[], s.reload_ts);
    let mut store_errors = Family::new("store_write_errors_total", COUNTER);
    store_errors.value(&[], s.store_errors as f64);
    let mut store_unreadable = Family::new("store_unreadable_rows_total", COUNTER);
    store_unreadable.value(&[], s.store_unreadable as f64);
    let mut unauthorized = Family::new("api_unauthorized_requests_total", COUNTER);
    unauthorized.value(&[], s.unauthorized as f64);
    let mut cpu = Family::new("process_cpu_usage_ratio", GAUGE);
    let mut rss = Family::new("process_resident_memory_bytes", GAUGE);
    if let Some(p) = &s.process {
        cpu.value(&[("process", "self")], p.cpu_ratio);
        rss.value(&[("process", "self")], p.rss_bytes as f64);
    }
    let mut host: Vec<Family> = [
        "host_cpu_usage_ratio",
        "host_memory_used_bytes",
        "host_memory_total_bytes",
        "host_load1",
        "host_load5",
        "host_load15",
    ]
    .into_iter()
    .map(|n| Family::new(n, GAUGE))
    .collect();
    let mut disk_used = Family::new("host_disk_used_bytes", GAUGE);
    let mut disk_total = Family::new("host_disk_total_bytes", GAUGE);
    let mut fds = Family::new("process_open_fds", GAUGE);
    let mut rx = Family::new("host_network_receive_bytes_total", COUNTER);
    let mut tx = Family::new("host_network_transmit_bytes_total", COUNTER);
    if let Some(h) = &s.host {
        for (f, v) in host.iter_mut().zip([
            h.cpu_ratio,
            h.memory_used_bytes as f64,
            h.memory_total_bytes as f64,
            h.load1,
            h.load5,
            h.load15,
        ]) {
            f.value(&[], v);
        }
        for (mount, used, total) in &h.disks {
            disk_used.value(&[("mount", mount)], *used as f64);
            disk_total.value(&[("mount", mount)], *total as f64);
        }
        if let Some(n) = h.own_open_fds {
            fds.value(&[("process", "self")], n as f64);
        }
        for (iface, r, t) in &h.networks {
            rx.value(&[("interface", iface)], *r as f64);
            tx.value(&[("interface", iface)], *t as f64);
        }
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as f64;
        for (name, cores_used, bytes) in &h.processes {
            cpu.value(&[("process", name)], cores_used / cores);
            rss.value(&[("process", name)], *bytes as f64);
        }
    }
    let mut build = Family::new("build_info", GAUGE);
    build.value(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    let mut all = vec![
        duration, requests, errors, checks, iterations, dropped, stale, lag,
    ];
    all.extend(gauges);
    all.extend(capacity);
    all.push(capacity_bound);
    all.push(drift);
    all.extend(host);
    all.extend([disk_used, disk_total, fds]);
    all.push(regressed);
    all.push(regression_delta);
    all.extend([
        last_ts,
        last_dur,
        last_ok,
        saturated,
        runs,
        quantiles,
        thresholds,
        next,
        lateness,
        skipped,
        missed,
        reload,
        reload_ts,
        store_errors,
        store_unreadable,
        unauthorized,
        cpu,
        rss,
        rx,
        tx,
        build,
    ]);
    all.into_iter().filter_map(Family::finish).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exported_family_has_help_and_is_listed() {
        let cfg = crate::config::load_str(
            "targets: { t: { base_url: \"http://127.0.0.1:9\" } }\nplans:\n  p:\n    target: t\n    schedule: { every: 1m }\n    load: { phases: [{ duration: 1s, rate: 1 }] }\n    scenarios: [{ name: s, steps: [{ request: { name: r, url: / }, check: { status: 200, body_contains: \"a\\\"b\\\\c\" } }] }]\n    thresholds: [{ metric: latency, expr: \"p(95) < 1s\" }]\n",
            "t.yaml",
            None,
            &|_| None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let m = Metrics::default();
        m.set_plans(&cfg.plans);
        m.lateness("p", 0.002);
        m.set_next_run("p", Some(1.0));
        m.set_process(crate::host::ProcessSample {
            cpu_cores: 0.5,
            cpu_ratio: 0.25,
            rss_bytes: 1 << 20,
        });
        let text = m.render();
        assert!(
            text.contains(r#"loadpacer_process_resident_memory_bytes{process="self"} 1048576"#),
            "{text}"
        );
        for line in text.lines().filter(|l| l.starts_with("# HELP ")) {
            let name = line
                .split_whitespace()
                .nth(2)
                .unwrap()
                .trim_start_matches(PREFIX);
            assert!(!help(name).is_empty(), "{name} has no help text");
        }
        assert!(
            text.contains(r#"check="r: body contains \"a\\\"b\\\\c\"""#),
            "F1: label values are escaped: {text}"
        );
    }
}
