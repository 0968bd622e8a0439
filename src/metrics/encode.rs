//! One snapshot of [`MetricsState`] as Prometheus metric families. A family with no series
//! is left out; every name is listed in [`super::names`] with its help text.

use super::family::Family;
use super::names::LAST_RUN_QUANTILES;
use super::state::MetricsState;
use prometheus::proto::{MetricFamily, MetricType};

/// Every family, in the order a reader of `/metrics` meets them: the live figures of runs,
/// the last run's judgement, the schedules, then the daemon itself.
pub(super) fn families(s: &MetricsState) -> Vec<MetricFamily> {
    let mut all = live(s);
    all.extend(super::custom::families(s));
    all.extend(streams(s));
    all.extend(last_run(s));
    all.extend(schedules(s));
    all.extend(daemon(s));
    all.into_iter().filter_map(Family::finish).collect()
}

fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// Requests, errors, checks, iterations and the generator's state, updated every window.
fn live(s: &MetricsState) -> Vec<Family> {
    use MetricType::{COUNTER, GAUGE, HISTOGRAM};
    let mut all = request_families(s);
    let mut checks = Family::new("checks_total", COUNTER);
    let mut iterations = Family::new("iterations_total", COUNTER);
    let mut dropped = Family::new("iterations_dropped_total", COUNTER);
    let mut stale = Family::new("http_stale_connection_retries_total", COUNTER);
    let mut lag = Family::new("dispatch_lag_seconds", HISTOGRAM);
    let mut gauges: Vec<Family> = ["target_rate", "vus", "in_flight_requests", "run_active"]
        .into_iter()
        .map(|n| Family::new(n, GAUGE))
        .collect();
    for (plan, m) in s.ran() {
        let plan = plan.as_str();
        for (k, counts) in m.checks.iter().zip(&m.check_counts) {
            // A script's check belongs to no request: its name (with its group path) alone.
            let check = if k.request.is_empty() {
                k.name.clone()
            } else {
                format!("{}: {}", k.request, k.name)
            };
            for (result, n) in [("pass", counts.0), ("fail", counts.1)] {
                checks.value(
                    &[
                        ("plan", plan),
                        ("scenario", &k.scenario),
                        ("check", &check),
                        ("result", result),
                    ],
                    n as f64,
                );
            }
        }
        for (sc, n) in m.scenarios.iter().zip(&m.iterations) {
            iterations.value(&[("plan", plan), ("scenario", sc)], *n as f64);
        }
        dropped.value(&[("plan", plan)], m.dropped as f64);
        stale.value(&[("plan", plan)], m.stale_retries as f64);
        lag.histogram(&[("plan", plan)], &m.lag);
        for (g, v) in gauges
            .iter_mut()
            .zip([m.target_rate, m.vus, m.in_flight, flag(m.run_active)])
        {
            g.value(&[("plan", plan)], v);
        }
    }
    all.extend([checks, iterations, dropped, stale, lag]);
    all.extend(gauges);
    all.extend(workloads(s));
    all.extend(monitors(s));
    all
}

/// Request durations, requests by status and errors by kind, per request of every plan that
/// ran.
fn request_families(s: &MetricsState) -> Vec<Family> {
    use MetricType::{COUNTER, HISTOGRAM};
    let mut duration = Family::new("http_request_duration_seconds", HISTOGRAM);
    let mut requests = Family::new("http_requests_total", COUNTER);
    let mut errors = Family::new("http_errors_total", COUNTER);
    for (plan, m) in s.ran() {
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
    }
    vec![duration, requests, errors]
}

/// Monitor values as polled during runs: a value only while the last poll succeeded.
fn monitors(s: &MetricsState) -> Vec<Family> {
    let mut value = Family::new("monitor_value", MetricType::GAUGE);
    let mut errors = Family::new("monitor_errors_total", MetricType::COUNTER);
    for (plan, m) in s.ran() {
        for (name, (last, failed)) in &m.monitors {
            let labels = [("plan", plan.as_str()), ("monitor", name.as_str())];
            if let Some(v) = last {
                value.value(&labels, *v);
            }
            errors.value(&labels, *failed as f64);
        }
    }
    vec![value, errors]
}

/// Per workload of plans with several: their gauges and request counters.
fn workloads(s: &MetricsState) -> Vec<Family> {
    use MetricType::{COUNTER, GAUGE};
    let mut families = [
        Family::new("workload_target_rate", GAUGE),
        Family::new("workload_vus", GAUGE),
        Family::new("workload_in_flight_requests", GAUGE),
        Family::new("workload_requests_total", COUNTER),
        Family::new("workload_errors_total", COUNTER),
    ];
    for (plan, m) in s.ran() {
        for w in &m.workloads {
            let labels = [("plan", plan.as_str()), ("workload", w.name.as_str())];
            let values = [
                w.target_rate,
                w.vus,
                w.in_flight,
                w.requests as f64,
                w.errors as f64,
            ];
            for (f, v) in families.iter_mut().zip(values) {
                f.value(&labels, v);
            }
        }
    }
    families.into()
}

/// Streaming steps (WebSocket, SSE): connect, round-trip, first-message and gap histograms,
/// sessions, messages and bytes each way, and how sessions ended.
fn streams(s: &MetricsState) -> Vec<Family> {
    use MetricType::{COUNTER, GAUGE, HISTOGRAM};
    let mut round_trips = Family::new("stream_round_trip_seconds", HISTOGRAM);
    let mut hists: Vec<Family> = [
        "stream_connect_duration_seconds",
        "stream_first_message_seconds",
        "stream_message_gap_seconds",
    ]
    .into_iter()
    .map(|n| Family::new(n, HISTOGRAM))
    .collect();
    let mut sessions = Family::new("stream_sessions_total", COUNTER);
    let mut open = Family::new("stream_sessions_open", GAUGE);
    let mut messages = Family::new("stream_messages_total", COUNTER);
    let mut bytes = Family::new("stream_bytes_total", COUNTER);
    let mut ends = Family::new("stream_session_ends_total", COUNTER);
    for (plan, m) in s.ran() {
        for (k, f) in m.streams.iter().zip(&m.stream_figures) {
            let labels = [
                ("plan", plan.as_str()),
                ("scenario", k.scenario.as_str()),
                ("step", k.name.as_str()),
                ("protocol", k.protocol),
            ];
            for (fam, b) in hists.iter_mut().zip([&f.connect, &f.first_message, &f.gap]) {
                fam.histogram(&labels, b);
            }
            // Replies to sent messages and pongs to pings are two things (kind).
            for (kind, b) in [("reply", &f.rtt), ("ping", &f.ping)] {
                let mut l = labels.to_vec();
                l.push(("kind", kind));
                round_trips.histogram(&l, b);
            }
            sessions.value(&labels, f.sessions as f64);
            open.value(&labels, f.sessions.saturating_sub(f.ended) as f64);
            let with = |extra: (&'static str, &'static str)| {
                let mut l = labels.to_vec();
                l.push(extra);
                l
            };
            for (dir, n) in [("sent", f.messages_sent), ("received", f.messages_received)] {
                messages.value(&with(("direction", dir)), n as f64);
            }
            for (dir, n) in [("sent", f.bytes_sent), ("received", f.bytes_received)] {
                bytes.value(&with(("direction", dir)), n as f64);
            }
            for (kind, n) in &f.ends {
                ends.value(&with(("kind", kind)), *n as f64);
            }
        }
    }
    let mut all = hists;
    all.insert(1, round_trips);
    all.extend([sessions, open, messages, bytes, ends]);
    all
}

/// The last finished run of each plan: its verdict, latency quantiles, thresholds,
/// capacity, drift and regression; and the count of runs by result.
fn last_run(s: &MetricsState) -> Vec<Family> {
    use MetricType::{COUNTER, GAUGE};
    let mut last_ts = Family::new("last_run_timestamp_seconds", GAUGE);
    let mut last_dur = Family::new("last_run_duration_seconds", GAUGE);
    let mut last_ok = Family::new("last_run_success", GAUGE);
    let mut saturated = Family::new("generator_saturated", GAUGE);
    let mut runs = Family::new("runs_total", COUNTER);
    // A summary (not a gauge) so that the `quantile` label is legal; its count and sum
    // describe the last run only and are not meant for rate().
    let mut quantiles = Family::new("last_run_latency_seconds", MetricType::SUMMARY);
    let mut thresholds = Family::new("threshold_passed", GAUGE);
    for (plan, m) in &s.plans {
        let plan = plan.as_str();
        for result in crate::judge::verdict::Outcome::ALL
            .map(crate::judge::verdict::Outcome::as_str)
            .into_iter()
            .filter(|_| m.started)
        {
            runs.value(
                &[("plan", plan), ("result", result)],
                *m.runs_total.get(result).unwrap_or(&0) as f64,
            );
        }
        let Some(l) = &m.last_run else { continue };
        last_ts.value(&[("plan", plan)], l.end_ts);
        last_dur.value(&[("plan", plan)], l.duration);
        last_ok.value(&[("plan", plan)], flag(l.success));
        saturated.value(&[("plan", plan)], flag(l.saturated));
        if l.count > 0 {
            let qs: Vec<(f64, f64)> = LAST_RUN_QUANTILES
                .iter()
                .copied()
                .zip(l.quantiles.iter().copied())
                .collect();
            quantiles.summary(&[("plan", plan)], &qs, l.count, l.sum);
        }
        for (t, ok) in m.thresholds.iter().zip(&l.thresholds) {
            thresholds.value(&[("plan", plan), ("threshold", t)], flag(*ok));
        }
    }
    let mut all = judged(s);
    all.extend([
        last_ts, last_dur, last_ok, saturated, runs, quantiles, thresholds,
    ]);
    all
}

/// What the last run of each plan was judged to: capacity (or its lower bound), drift and
/// regressions; only the figures the run measured.
fn judged(s: &MetricsState) -> Vec<Family> {
    let mut capacity: Vec<Family> = [
        "capacity_max_rps",
        "capacity_headroom_ratio",
        "capacity_required_instances",
    ]
    .into_iter()
    .map(|n| Family::new(n, MetricType::GAUGE))
    .collect();
    let [mut capacity_bound, mut drift, mut regressed, mut regression_delta] = [
        "capacity_lower_bound_rps",
        "soak_latency_drift_ratio",
        "regression_detected",
        "regression_delta_ratio",
    ]
    .map(|n| Family::new(n, MetricType::GAUGE));
    for (plan, m) in &s.plans {
        let plan = plan.as_str();
        let Some(l) = &m.last_run else { continue };
        for (metric, r, delta) in &l.regression {
            regressed.value(&[("plan", plan), ("metric", metric)], flag(*r));
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
    }
    capacity.extend([capacity_bound, drift, regressed, regression_delta]);
    capacity
}

/// The next fire, lateness, skipped and missed runs of each scheduled plan.
fn schedules(s: &MetricsState) -> Vec<Family> {
    use MetricType::{COUNTER, GAUGE, HISTOGRAM};
    let mut next = Family::new("schedule_next_run_timestamp_seconds", GAUGE);
    let mut lateness = Family::new("schedule_lateness_seconds", HISTOGRAM);
    let mut skipped = Family::new("schedule_runs_skipped_total", COUNTER);
    let mut missed = Family::new("schedule_runs_missed_total", COUNTER);
    for (plan, m) in &s.plans {
        let plan = plan.as_str();
        if let Some(t) = m.next_run {
            next.value(&[("plan", plan)], t);
        }
        if m.lateness.count > 0 {
            lateness.histogram(&[("plan", plan)], &m.lateness);
        }
        if !m.scheduled {
            continue;
        }
        for reason in ["overlap", "concurrency"] {
            skipped.value(
                &[("plan", plan), ("reason", reason)],
                *m.skipped.get(reason).unwrap_or(&0) as f64,
            );
        }
        missed.value(&[("plan", plan), ("reason", "deadline")], m.missed as f64);
    }
    vec![next, lateness, skipped, missed]
}

/// The daemon itself: reloads, store, API, its own process, the host and watched
/// processes, and the build.
fn daemon(s: &MetricsState) -> Vec<Family> {
    use MetricType::{COUNTER, GAUGE};
    let mut reload = Family::new("config_last_reload_successful", GAUGE);
    reload.value(&[], flag(s.reload_ok));
    let mut reload_ts = Family::new("config_last_reload_success_timestamp_seconds", GAUGE);
    reload_ts.value(&[], s.reload_ts);
    let mut store_errors = Family::new("store_write_errors_total", COUNTER);
    store_errors.value(&[], s.store_errors as f64);
    let mut store_unreadable = Family::new("store_unreadable_rows_total", COUNTER);
    store_unreadable.value(&[], s.store_unreadable as f64);
    let mut unauthorized = Family::new("api_unauthorized_requests_total", COUNTER);
    unauthorized.value(&[], s.unauthorized as f64);
    let mut segments_refused = Family::new("segments_refused_total", COUNTER);
    for reason in ["too_large", "invalid", "duplicate"] {
        let n = s.segments_refused.get(reason).copied().unwrap_or_default();
        segments_refused.value(&[("reason", reason)], n as f64);
    }
    // Watched processes; loadpacer's own are the standard process_* families.
    let mut cpu = Family::new("process_cpu_seconds_total", COUNTER);
    let mut rss = Family::new("process_resident_memory_bytes", GAUGE);
    let mut host_cpu = Family::new("host_cpu_seconds_total", COUNTER);
    let mut host: Vec<Family> = [
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
    let mut rx = Family::new("host_network_receive_bytes_total", COUNTER);
    let mut tx = Family::new("host_network_transmit_bytes_total", COUNTER);
    if let Some(h) = &s.host {
        if let Some((busy, idle)) = h.cpu_seconds {
            host_cpu.value(&[("mode", "busy")], busy);
            host_cpu.value(&[("mode", "idle")], idle);
        }
        for (f, v) in host.iter_mut().zip([
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
        for (iface, r, t) in &h.networks {
            rx.value(&[("interface", iface)], *r as f64);
            tx.value(&[("interface", iface)], *t as f64);
        }
        for (name, _, bytes, secs) in &h.processes {
            cpu.value(&[("process", name)], *secs);
            rss.value(&[("process", name)], *bytes as f64);
        }
    }
    let mut build = Family::new("build_info", GAUGE);
    build.value(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    vec![
        reload,
        reload_ts,
        store_errors,
        store_unreadable,
        unauthorized,
        segments_refused,
        cpu,
        rss,
        host_cpu,
    ]
    .into_iter()
    .chain(host)
    .chain([disk_used, disk_total, rx, tx, build])
    .collect()
}
