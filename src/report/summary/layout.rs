//! The figures of a finished run laid out per request, stream, workload, custom metric and
//! teardown step: what `Summary::build_with` puts beside the judgement.

use super::*;

pub(super) fn error_kinds(requests: &[RequestSummary]) -> Vec<(String, u64)> {
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for r in requests {
        for (k, n) in &r.errors {
            *kinds.entry(k).or_default() += n;
        }
    }
    judge::judgement::most_frequent_first(kinds)
}

pub(super) fn totals(out: &RunOutput, total: &Recorder, secs: f64) -> Totals {
    let (checks_passed, checks_failed) = total
        .checks
        .iter()
        .fold((0, 0), |(p, f), c| (p + c.0, f + c.1));
    let requests = total.total_requests();
    let errors = total.total_errors();
    Totals {
        requests,
        errors,
        error_rate: ratio(errors, requests),
        rps: requests as f64 / secs,
        iterations: total.total_iterations(),
        dropped_iterations: total.dropped,
        failed_iterations: total.failed_iterations,
        paced_requests: out.paced_requests,
        stale_connection_retries: total.stale_retries,
        checks_passed,
        checks_failed,
        latency: LatencyStats::of(&total.merged_latency()),
    }
}

pub(super) fn figures_of(t: &Totals) -> Figures {
    let l = &t.latency;
    Figures {
        p50_ms: l.p50_ms,
        p95_ms: l.p95_ms,
        p99_ms: l.p99_ms,
        error_rate: t.error_rate,
        rps: t.rps,
        samples: t.requests,
    }
}

pub(super) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

pub(super) fn stream_grade(plan: &PlanSpec, i: usize, s: &StreamStats, secs: f64) -> Option<Grade> {
    let bands = plan
        .stream_grades
        .get(i)
        .filter(|b| !b.is_empty())
        .unwrap_or(&plan.grades);
    // Replies, else pings, else the first message: what the step measured of the server.
    let latency = [&s.rtt, &s.ping, &s.first_message]
        .into_iter()
        .find(|h| !h.is_empty())
        .unwrap_or(&s.first_message);
    let attempts = s.sessions + s.attempts_failed();
    judge::grade_of(
        bands,
        (attempts > 0).then(|| judge::GradeFigures {
            p95: std::time::Duration::from_micros(latency.value_at_quantile(0.95)),
            error_rate: s.disconnect_rate(),
            throughput: Some(s.messages_received as f64 / secs),
        }),
    )
}

pub(super) fn stream_summaries(plan: &PlanSpec, total: &Recorder, secs: f64) -> Vec<StreamSummary> {
    plan.streams
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let empty = StreamStats::default();
            let s = total.streams.get(i).unwrap_or(&empty);
            StreamSummary {
                scenario: k.scenario.clone(),
                name: k.name.clone(),
                protocol: k.protocol.to_string(),
                sessions: s.sessions,
                failed_to_open: s.attempts_failed(),
                connect: LatencyStats::of(&s.connect),
                rtt: LatencyStats::of(&s.rtt),
                ping_rtt: LatencyStats::of(&s.ping),
                first_message: LatencyStats::of(&s.first_message),
                gap: LatencyStats::of(&s.gap),
                duration: LatencyStats::of(&s.duration),
                messages_sent: s.messages_sent,
                messages_received: s.messages_received,
                messages_per_s: s.messages_received as f64 / secs,
                bytes_sent: s.bytes_sent,
                bytes_received: s.bytes_received,
                disconnect_rate: s.disconnect_rate(),
                reconnects: s.reconnects,
                close_codes: s
                    .close_codes
                    .iter()
                    .map(|(k, n)| (k.to_string(), n))
                    .collect(),
                event_types: s
                    .event_types
                    .iter()
                    .map(|(k, n)| (k.to_string(), n))
                    .collect(),
                grade: stream_grade(plan, i, s, secs),
                ends: StreamEnd::ALL
                    .iter()
                    .filter(|e| s.ends_of(**e) > 0)
                    .map(|e| (e.as_str().to_string(), s.ends_of(*e)))
                    .collect(),
            }
        })
        .collect()
}

pub(super) fn teardown_summary(plan: &PlanSpec, t: &TeardownOutput) -> TeardownSummary {
    let secs = t.elapsed.as_secs_f64().max(1e-3);
    TeardownSummary {
        passed: t.failure.is_none(),
        reason: t.failure.as_ref().map(|r| plan.redact(r)),
        duration_s: t.elapsed.as_secs_f64(),
        requests: plan
            .requests
            .iter()
            .enumerate()
            .filter(|(_, k)| k.scenario == TEARDOWN)
            .map(|(i, k)| {
                request_summary(plan, &t.recorder, i, &k.scenario, &k.name, &k.method, secs)
            })
            .collect(),
    }
}

pub(super) fn request_summary(
    plan: &PlanSpec,
    total: &Recorder,
    i: usize,
    scenario: &str,
    name: &str,
    method: &str,
    secs: f64,
) -> RequestSummary {
    let r: &RequestStats = &total.requests[i];
    let checks = plan
        .checks
        .iter()
        .enumerate()
        .filter(|(_, k)| k.scenario == scenario && k.request == name)
        .map(|(ci, k)| CheckSummary {
            name: k.name.clone(),
            passed: total.checks[ci].0,
            failed: total.checks[ci].1,
        })
        .collect();
    RequestSummary {
        scenario: scenario.to_string(),
        name: name.to_string(),
        method: method.to_string(),
        count: r.count(),
        rps: r.count() as f64 / secs,
        error_rate: ratio(r.error_count(), r.count()),
        latency: LatencyStats::of(&r.latency()),
        service_time: LatencyStats::of(&r.service()),
        ttfb: LatencyStats::of(&r.ttfb()),
        statuses: r
            .statuses
            .iter()
            .map(|(c, n)| (c.to_string(), *n))
            .collect(),
        errors: ErrorKind::ALL
            .iter()
            .filter(|k| r.errors_of(**k) > 0)
            .map(|k| (k.as_str().to_string(), r.errors_of(*k)))
            .collect(),
        checks,
        grade: judge::grade_of(
            plan.request_grades
                .get(i)
                .filter(|b| !b.is_empty())
                .unwrap_or(&plan.grades),
            (r.count() > 0).then(|| judge::GradeFigures {
                p95: std::time::Duration::from_micros(r.latency().value_at_quantile(0.95)),
                error_rate: ratio(r.error_count(), r.count()),
                throughput: Some(r.count() as f64 / secs),
            }),
        ),
    }
}

/// The load as configured: the only workload's, or for several the common model (`mixed`
/// when they differ) with the shapes per workload in [`Summary::workloads`].
pub(super) fn load_summary(plan: &PlanSpec) -> LoadSummary {
    if let Some(load) = plan.single_load() {
        return shape_summary(load);
    }
    let models: Vec<LoadModel> = plan
        .workloads
        .iter()
        .map(|w| shape_summary(&w.load).model)
        .collect();
    let model = if models.iter().all(|m| *m == models[0]) {
        models[0]
    } else {
        LoadModel::Mixed
    };
    LoadSummary {
        model,
        preset: None,
        steps: Vec::new(),
        max_in_flight: None,
        iterations: None,
        dispatch: None,
    }
}

pub(super) fn shape_summary(load: &LoadSpec) -> LoadSummary {
    let (model, steps, max_in_flight) = match &load.shape {
        LoadShape::Open {
            phases,
            max_in_flight,
        } => (
            LoadModel::Open,
            phases
                .iter()
                .map(|p| (p.name.clone(), p.duration.as_secs_f64(), p.rate, p.ramp_to))
                .collect(),
            Some(*max_in_flight),
        ),
        LoadShape::Closed { stages } => {
            let mut from = 0.0;
            let steps = stages
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let step = (
                        format!("stage-{}", i + 1),
                        s.duration.as_secs_f64(),
                        from,
                        s.target as f64,
                    );
                    from = s.target as f64;
                    step
                })
                .collect();
            (LoadModel::Closed, steps, None)
        }
    };
    LoadSummary {
        dispatch: (model == LoadModel::Open).then_some(load.dispatch),
        model,
        preset: load.preset,
        steps,
        max_in_flight,
        iterations: load.iterations,
    }
}

/// Every declared metric with the figures of its type.
pub(super) fn custom_summaries(
    plan: &PlanSpec,
    total: &Recorder,
    secs: f64,
) -> Vec<CustomMetricSummary> {
    use crate::config::custom::CustomKind as K;
    let none = crate::measure::CustomStats::default();
    plan.metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let s = total.custom.get(i).unwrap_or(&none);
            let some = s.count > 0;
            let is = |k: K| (m.kind == k && some).then_some(());
            let spread = (some && matches!(m.kind, K::Trend | K::Gauge)).then_some(());
            CustomMetricSummary {
                name: m.name.clone(),
                kind: m.kind,
                help: m.help.clone(),
                unit: m.unit,
                count: s.count,
                invalid: s.invalid,
                total: (m.kind == K::Counter).then_some(s.sum),
                per_second: (m.kind == K::Counter).then_some(s.sum / secs),
                ratio: is(K::Rate).and_then(|_| s.ratio()),
                min: spread.map(|_| s.min),
                max: spread.map(|_| s.max),
                avg: spread.and_then(|_| s.avg()),
                last: is(K::Gauge).and(s.last),
                p50: is(K::Trend).and_then(|_| s.quantile(0.5)),
                p95: is(K::Trend).and_then(|_| s.quantile(0.95)),
                p99: is(K::Trend).and_then(|_| s.quantile(0.99)),
                by_label: s.by_label.clone(),
            }
        })
        .collect()
}

/// Per workload, when the plan has several: its shape and what its scenarios measured.
pub(super) fn workload_summaries(
    plan: &PlanSpec,
    total: &Recorder,
    secs: f64,
) -> Vec<WorkloadSummary> {
    if plan.workloads.len() < 2 {
        return Vec::new();
    }
    plan.workloads
        .iter()
        .map(|w| {
            let names: Vec<&str> = plan.scenarios[w.scenarios.clone()]
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            let mine: Vec<usize> = (0..plan.requests.len())
                .filter(|&i| names.contains(&plan.requests[i].scenario.as_str()))
                .collect();
            let latency = total.latency_of(mine.iter().copied());
            let (requests, errors) = mine.iter().fold((0, 0), |(n, e), &i| {
                let r = &total.requests[i];
                (n + r.count(), e + r.error_count())
            });
            // The time it ran: from its start to its end, or to the end of a shorter run.
            let active = (secs - w.start.as_secs_f64())
                .min(w.load.duration().as_secs_f64())
                .max(1e-3);
            WorkloadSummary {
                name: w.name.clone(),
                start_s: w.start.as_secs_f64(),
                target: w.target.as_ref().map(|t| t.base_url.to_string()),
                load: shape_summary(&w.load),
                scenarios: names.iter().map(|n| n.to_string()).collect(),
                requests,
                errors,
                error_rate: ratio(errors, requests),
                rps: requests as f64 / active,
                iterations: total.iterations[w.scenarios.clone()].iter().sum(),
                latency: LatencyStats::of(&latency),
            }
        })
        .collect()
}
