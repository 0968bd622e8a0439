//! Prometheus exposition. Runs publish into [`MetricsState`] once a second (never per
//! request); a scrape builds every family from one consistent snapshot of that state, so
//! series follow the current config (a removed plan's series disappear) and a scrape during
//! a reload never sees half of it.

mod custom;
mod encode;
mod family;
pub mod names;
pub mod remote_write;
mod state;

use crate::config::PlanSpec;
use crate::judge::Verdict;
use crate::measure::{ErrorKind, Histo, StreamEnd};
use crate::report::Summary;
use crate::sync::LockExt;
use encode::families;
use names::LAST_RUN_QUANTILES;
use state::LastRun;
pub use state::{MetricsState, PlanMetrics};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

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
        let mut guard = self.0.locked();
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
                let fresh = PlanMetrics::for_plan(p);
                let keep = s.plans.remove(&p.name).filter(|m| m.fits(&fresh, p));
                next.insert(p.name.clone(), keep.unwrap_or(fresh));
            }
            for p in plans {
                if let Some(m) = next.get_mut(&p.name) {
                    m.scheduled = p.schedule.is_some();
                }
            }
            s.plans = next;
        });
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

    /// H3/H6: a segment summary the daemon refused, by reason.
    pub fn segment_refused(&self, reason: &'static str) {
        self.with(|s| *s.segments_refused.entry(reason).or_default() += 1);
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
    pub fn add_window(&self, plan: &str, view: &crate::run::WindowView<'_>) {
        let (window, target, open_model, in_flight) =
            (view.window, view.target, view.open_model, view.in_flight);
        self.with(|s| {
            let Some(m) = s.plans.get_mut(plan) else {
                return;
            };
            m.add_named(window.requests.len(), &view.named.requests);
            m.add_named_checks(window.checks.len(), &view.named.checks);
            if m.latency.len() != window.requests.len() {
                return;
            }
            add_requests(m, window);
            add_streams(m, window);
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
            m.started = true;
            (m.target_rate, m.vus) = if !view.workloads.is_empty() {
                // Several workloads: rates and VUs are summed each on their own.
                view.workloads.iter().fold((0.0, 0.0), |(r, v), w| {
                    if w.open_model {
                        (r + w.target, v)
                    } else {
                        (r, v + w.target)
                    }
                })
            } else if open_model {
                (target, 0.0)
            } else {
                (0.0, target)
            };
            m.in_flight = in_flight as f64;
            for (live, w) in m.custom.iter_mut().zip(&window.custom) {
                live.stats.merge(w);
            }
            for (live, now) in m.workloads.iter_mut().zip(view.workloads) {
                (live.target_rate, live.vus) = if now.open_model {
                    (now.target, 0.0)
                } else {
                    (0.0, now.target)
                };
                live.in_flight = now.in_flight as f64;
                live.requests += now.requests;
                live.errors += now.errors;
            }
        });
    }

    /// Where a plan's monitor polls go: the `monitor_value` gauge (absent while the last poll
    /// failed, never 0) and the `monitor_errors_total` counter.
    pub fn monitor_sink(&self, plan: &str) -> Arc<dyn crate::judge::resources::MonitorSink> {
        Arc::new(MonitorPublisher {
            metrics: self.clone(),
            plan: plan.to_string(),
        })
    }

    /// Marks a run as started (before its first window).
    pub fn run_started(&self, plan: &str) {
        self.with(|s| {
            if let Some(m) = s.plans.get_mut(plan) {
                m.run_active = true;
                m.started = true;
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
            m.started = true;
            (m.target_rate, m.vus, m.in_flight) = (0.0, 0.0, 0.0);
            for w in &mut m.workloads {
                (w.target_rate, w.vus, w.in_flight) = (0.0, 0.0, 0.0);
            }
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

    /// Every family as it is now (what `/metrics` shows), e.g. for remote write.
    pub fn families(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut all = self.with(|s| families(s));
        all.extend(own_process());
        all
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let families = self.families();
        let mut out = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&families, &mut out)
            .expect("text encoding to a String cannot fail");
        out
    }
}

/// The standard `process_*` families of this process (CPU seconds, resident and virtual
/// memory, open and maximum file descriptors, threads, start time), as every exporter has,
/// and the async runtime's live task count.
fn own_process() -> Vec<prometheus::proto::MetricFamily> {
    use prometheus::core::Collector;
    let mut all = prometheus::process_collector::ProcessCollector::for_self().collect();
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let mut tasks =
            family::Family::new("runtime_alive_tasks", prometheus::proto::MetricType::GAUGE);
        tasks.value(&[], rt.metrics().num_alive_tasks() as f64);
        all.extend(tasks.finish());
    }
    all
}

/// Publishes each window of a run to [`Metrics`] (once a second, never per request).
pub struct Publisher {
    metrics: Metrics,
    plan: String,
}

impl crate::run::Observer for Publisher {
    fn on_window(&mut self, v: &crate::run::WindowView<'_>) -> crate::run::Control {
        self.metrics.add_window(&self.plan, v);
        crate::run::Control::Continue
    }
}

/// Publishes one plan's monitor polls.
struct MonitorPublisher {
    metrics: Metrics,
    plan: String,
}

impl crate::judge::resources::MonitorSink for MonitorPublisher {
    fn monitor(&self, name: &str, value: Result<f64, &str>) {
        self.metrics.with(|s| {
            let Some(m) = s.plans.get_mut(&self.plan) else {
                return;
            };
            if let Some(live) = m.monitors.get_mut(name) {
                live.0 = value.ok();
                live.1 += u64::from(value.is_err());
            }
            let fed = m.monitor_feeds.get(name).copied();
            if let (Some(i), Ok(v)) = (fed, value) {
                if let Some(live) = m.custom.get_mut(i) {
                    let trend = live.spec.kind == crate::config::custom::CustomKind::Trend;
                    live.stats.value(v, trend.then(|| live.spec.unit.scale()));
                }
            }
        });
    }
}

/// A window's requests: latency buckets, statuses (`none` for requests without a response)
/// and errors by kind.
fn add_requests(m: &mut PlanMetrics, window: &crate::measure::Recorder) {
    for (i, r) in window.requests.iter().enumerate() {
        let buckets = &mut m.latency[i];
        r.each_latency(|us, n| buckets.add_micros(us, n));
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
}

/// A window's stream sessions, messages and ends.
fn add_streams(m: &mut PlanMetrics, window: &crate::measure::Recorder) {
    for (f, w) in m.stream_figures.iter_mut().zip(&window.streams) {
        f.connect.add(&w.connect);
        f.rtt.add(&w.rtt);
        f.ping.add(&w.ping);
        f.first_message.add(&w.first_message);
        f.gap.add(&w.gap);
        f.sessions += w.sessions;
        f.ended += w.duration.len();
        f.messages_sent += w.messages_sent;
        f.messages_received += w.messages_received;
        f.bytes_sent += w.bytes_sent;
        f.bytes_received += w.bytes_received;
        for e in StreamEnd::ALL {
            let n = w.ends_of(e);
            if n > 0 {
                *f.ends.entry(e.as_str()).or_default() += n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use names::{help, PREFIX};

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
        // A plan that has never run exports its schedule, not run figures of zeros.
        let before = m.render();
        assert!(
            !before.contains("loadpacer_checks_total")
                && !before.contains("loadpacer_http_request_duration_seconds")
                && !before.contains("loadpacer_runs_total")
                && before.contains(
                    r#"loadpacer_schedule_runs_skipped_total{plan="p",reason="overlap"} 0"#
                ),
            "{before}"
        );
        m.run_started("p");
        let text = m.render();
        // loadpacer's own process: the standard families, not a `process="self"` label.
        assert!(
            text.contains("\nprocess_resident_memory_bytes ")
                && text.contains("\nprocess_cpu_seconds_total ")
                && text.contains("\nprocess_start_time_seconds ")
                && !text.contains("process=\"self\""),
            "{text}"
        );
        for line in text.lines().filter(|l| l.starts_with("# HELP loadpacer_")) {
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

    #[test]
    fn a_plan_chooses_the_bounds_of_its_request_histograms() {
        let yaml = |b: &str| {
            format!("targets: {{ t: {{ base_url: \"http://127.0.0.1:9\" }} }}\nplans:\n  p:\n    target: t\n    request_buckets: {b}\n    load: {{ phases: [{{ duration: 1s, rate: 1 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}]\n")
        };
        let cfg = crate::config::load_str(&yaml("[0.1, 0.5]"), "t.yaml", None, &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        let m = Metrics::default();
        m.set_plans(&cfg.plans);
        m.run_started("p");
        let text = m.render();
        let les: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("loadpacer_http_request_duration_seconds_bucket"))
            .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(les, ["0.1", "0.5", "+Inf"], "{text}");
        let err = crate::config::load_str(&yaml("[1, 0.5]"), "t.yaml", None, &|_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.yaml:5:23: plans.p.request_buckets: [1.0, 0.5] must be 1 to 30 bounds"),
            "{err}"
        );
    }
}
