//! The HTML report: one self-contained file (inline CSS, charts as inline SVG drawn here, no
//! script, no network fetch), readable on a phone and a desktop. Every string that comes
//! from a config or a run is escaped.

use super::chart::{svg, Frame, Line, PALETTE};
use super::summary::{
    Outcome, Summary, DRIFT_FLOOR_MS, DRIFT_FLOOR_MS_PER_HOUR, MIN_DRIFT_RUN, MIN_DRIFT_WINDOWS,
};
use crate::judge::Verdict;
use crate::measure::full_windows;
use crate::measure::{LatencyStats, WindowPoint};
use std::fmt::Write;

pub use super::escape::esc;

const CSS: &str = "body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
main{max-width:1100px;margin:auto;padding:16px}h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:1.4em 0 .5em}
.card{background:#fff;border-radius:8px;padding:12px 16px;margin:10px 0;box-shadow:0 1px 2px #0001}
.verdict{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600}
.passed{background:#1a7f37}.failed,.aborted,.error{background:#cf222e}.invalid{background:#9a6700}.interrupted{background:#57606a}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:8px}.fig b{display:block;font-size:1.3em}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:right;padding:4px 8px;border-bottom:1px solid #e4e6ea;white-space:nowrap}th:first-child,td:first-child{text-align:left}
.pass{color:#1a7f37}.fail{color:#cf222e}.nodata{color:#9a6700}svg{width:100%;height:auto}small{color:#57606a}";

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        format!("{v:.1} ms")
    }
}

/// Renders a summary as a complete HTML document.
pub fn render(s: &Summary) -> String {
    let mut h = String::new();
    let verdict = s.result.as_str();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{plan}: {verdict}</title><style>{CSS}</style></head><body><main>\
         <h1>{plan} <span class=\"verdict {verdict}\" id=\"verdict\">{verdict}</span>{grade}</h1>\
         <small>{desc}started {start} · {dur:.1} s of {sched:.1} s · {model} model · {seg} · target {target} · config {hash}</small>",
        plan = esc(&s.plan),
        grade = s.grade.as_ref().map(|g| format!(" <span class=\"verdict interrupted\" id=\"grade\">grade {}</span>", esc(g.as_str()))).unwrap_or_default(),
        desc = s.description.as_ref().map(|d| format!("{} · ", esc(d))).unwrap_or_default(),
        start = esc(&s.started_at),
        dur = s.duration_s,
        sched = s.scheduled_s,
        model = s.load.model,
        seg = esc(&s.share()),
        target = esc(&s.target),
        hash = esc(&s.config_hash),
    );
    if !s.reasons.is_empty() {
        h.push_str("<div class=\"card\"><ul>");
        for r in &s.reasons {
            let _ = write!(h, "<li>{}</li>", esc(r));
        }
        h.push_str("</ul></div>");
    }
    let t = &s.totals;
    let _ = write!(
        h,
        "<div class=\"card figs\" id=\"totals\"><div class=\"fig\">requests<b>{}</b></div><div class=\"fig\">throughput<b>{:.1}/s</b></div>\
         <div class=\"fig\">errors<b>{:.2}%</b></div><div class=\"fig\">p50<b>{}</b></div><div class=\"fig\">p95<b>{}</b></div>\
         <div class=\"fig\">p99<b>{}</b></div><div class=\"fig\">max<b>{}</b></div><div class=\"fig\">iterations<b>{}</b></div></div>",
        t.requests, t.rps, t.error_rate * 100.0, measured(&t.latency, t.latency.p50_ms), measured(&t.latency, t.latency.p95_ms), measured(&t.latency, t.latency.p99_ms), measured(&t.latency, t.latency.max_ms), t.iterations
    );
    h.push_str("<h2>Latency over time</h2><div class=\"card\">");
    h.push_str(&chart(
        s,
        &[
            ("p50", "#0969da", |w| w.p50_ms),
            ("p95", "#bf8700", |w| w.p95_ms),
            ("p99", "#cf222e", |w| w.p99_ms),
        ],
        "ms",
    ));
    h.push_str("<small>Latency is measured from the intended send time (coordinated omission corrected). Shaded bands are the load phases.</small></div>");
    h.push_str("<h2>Throughput over time</h2><div class=\"card\">");
    h.push_str(&chart(
        s,
        &[
            ("requests/s", "#1a7f37", |w| {
                w.requests as f64 / w.width_s.max(1e-9)
            }),
            ("errors/s", "#cf222e", |w| {
                w.errors as f64 / w.width_s.max(1e-9)
            }),
            ("target (iterations/s or VUs)", "#8c959f", |w| w.target),
        ],
        "/s",
    ));
    h.push_str("</div>");
    requests_table(&mut h, s);
    workloads_section(&mut h, s);
    custom_metrics(&mut h, s);
    monitors_section(&mut h, s);
    streams_table(&mut h, s);
    thresholds(&mut h, s);
    capacity_section(&mut h, s);
    soak_section(&mut h, s);
    regression_section(&mut h, s);
    generator(&mut h, s);
    teardown_section(&mut h, s);
    h.push_str("<p><small>loadpacer ");
    h.push_str(&esc(&s.tool_version));
    h.push_str(" · summary schema v1</small></p></main></body></html>\n");
    h
}

fn stats_cells(l: &LatencyStats) -> String {
    [l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.p999_ms, l.max_ms]
        .iter()
        .map(|v| format!("<td>{}</td>", ms(*v)))
        .collect()
}

/// A percentile of a stream figure, or `-` when nothing was measured (a stream without round
/// trips has no round-trip time, not one of 0 ms).
fn measured(l: &LatencyStats, v: f64) -> String {
    if l.max_ms == 0.0 {
        "-".into()
    } else {
        ms(v)
    }
}

/// Streaming steps: sessions, connect and round-trip percentiles, first message, gaps,
/// messages and how sessions ended.
fn streams_table(h: &mut String, s: &Summary) {
    if s.streams.is_empty() {
        return;
    }
    h.push_str("<h2>Streams over time</h2><div class=\"card\" id=\"streams-chart\">");
    h.push_str(&chart(
        s,
        &[
            ("messages/s received", "#0969da", |w| {
                w.stream_messages as f64 / w.width_s.max(1e-9)
            }),
            ("sessions opened/s", "#8250df", |w| {
                w.stream_sessions as f64 / w.width_s.max(1e-9)
            }),
        ],
        "/s",
    ));
    h.push_str("</div>");
    h.push_str("<h2>Streams</h2><div class=\"card scroll\"><table id=\"streams\"><tr><th>step</th><th>sessions</th><th>connect p50</th><th>connect p99</th><th>reply p50</th><th>reply p99</th><th>ping p50</th><th>ping p99</th><th>first message p50</th><th>gap p50</th><th>gap p99</th><th>messages in</th><th>in/s</th><th>messages out</th><th>disconnects</th><th>ends</th><th>grade</th></tr>");
    for t in &s.streams {
        let ends: Vec<String> = t
            .ends
            .iter()
            .map(|(k, n)| format!("{} {n}", esc(k)))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{}/{} <small>{}</small></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{:.2}%</td><td>{}</td><td>{}</td></tr>",
            esc(&t.scenario), esc(&t.name), esc(&t.protocol), t.sessions,
            measured(&t.connect, t.connect.p50_ms), measured(&t.connect, t.connect.p99_ms),
            measured(&t.rtt, t.rtt.p50_ms), measured(&t.rtt, t.rtt.p99_ms),
            measured(&t.ping_rtt, t.ping_rtt.p50_ms), measured(&t.ping_rtt, t.ping_rtt.p99_ms),
            measured(&t.first_message, t.first_message.p50_ms),
            measured(&t.gap, t.gap.p50_ms), measured(&t.gap, t.gap.p99_ms),
            t.messages_received, t.messages_per_s, t.messages_sent, t.disconnect_rate * 100.0,
            ends.join(", "),
            t.grade.map(|g| esc(g.as_str())).unwrap_or_else(|| "-".into())
        );
    }
    h.push_str("</table></div>");
}

/// Per workload of a plan with several: a table and each one's throughput over time.
fn workloads_section(h: &mut String, s: &Summary) {
    if s.workloads.is_empty() {
        return;
    }
    h.push_str("<h2>Workloads</h2><div class=\"card scroll\"><table id=\"workloads\"><tr><th>workload</th><th>start</th><th>model</th><th>target</th><th>count</th><th>req/s</th><th>p50</th><th>p95</th><th>p99</th><th>errors</th><th>iterations</th></tr>");
    for w in &s.workloads {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:.0} s</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}%</td><td>{}</td></tr>",
            esc(&w.name),
            w.start_s,
            w.load.model,
            esc(w.target.as_deref().unwrap_or(&s.target)),
            w.requests,
            w.rps,
            measured(&w.latency, w.latency.p50_ms),
            measured(&w.latency, w.latency.p95_ms),
            measured(&w.latency, w.latency.p99_ms),
            w.error_rate * 100.0,
            w.iterations
        );
    }
    h.push_str(
        "</table></div><h2>Workloads over time</h2><div class=\"card\" id=\"workloads-chart\">",
    );
    let lines: Vec<Line> = s
        .workloads
        .iter()
        .enumerate()
        .map(|(i, w)| Line {
            label: format!("{} req/s", w.name),
            color: PALETTE[i % PALETTE.len()],
            points: full_windows(&s.windows)
                .iter()
                .map(|p| {
                    let v = p
                        .workloads
                        .get(i)
                        .map_or(0.0, |x| x.requests as f64 / p.width_s.max(1e-9));
                    (p.t_s, Some(v))
                })
                .collect(),
        })
        .collect();
    h.push_str(&plot(s, &lines, "/s"));
    h.push_str("</div>");
}

/// Monitors over the run, one chart each (its own scale): a failed poll is a gap, and the
/// reasons are listed under the chart.
fn monitors_section(h: &mut String, s: &Summary) {
    let Some(r) = &s.resources else { return };
    let charted: Vec<_> = r.monitors.iter().filter(|m| !m.series.is_empty()).collect();
    if charted.is_empty() {
        return;
    }
    h.push_str("<h2>Monitors over time</h2>");
    for (i, m) in charted.iter().enumerate() {
        let line = Line {
            label: m.name.clone(),
            color: PALETTE[i % PALETTE.len()],
            points: m.series.iter().map(|p| (p.t_s, p.value)).collect(),
        };
        let _ = write!(h, "<div class=\"card\" id=\"monitor-{}\">", esc(&m.name));
        h.push_str(&plot(s, &[line], ""));
        let mut reasons: Vec<&str> = m.series.iter().filter_map(|p| p.error.as_deref()).collect();
        reasons.dedup();
        if !reasons.is_empty() {
            let _ = write!(
                h,
                "<small class=\"nodata\">{} polls failed (gaps in the line): {}</small>",
                m.errors,
                esc(&reasons.join("; "))
            );
        }
        h.push_str("</div>");
    }
}

/// User-defined metrics with their help text and figures.
fn custom_metrics(h: &mut String, s: &Summary) {
    if s.custom_metrics.is_empty() {
        return;
    }
    h.push_str("<h2>Custom metrics</h2><div class=\"card scroll\"><table id=\"custom-metrics\"><tr><th>metric</th><th>type</th><th>figures</th><th>by label</th></tr>");
    for m in &s.custom_metrics {
        let labels: Vec<String> = m
            .by_label
            .iter()
            .map(|(k, v)| format!("{}: {v}", esc(k)))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{} <small>{}</small></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.name),
            esc(&m.help),
            m.kind.as_str(),
            esc(&m.describe()),
            labels.join("<br>")
        );
    }
    h.push_str("</table></div>");
}

/// The teardown's outcome and its requests; reported, never judged.
fn teardown_section(h: &mut String, s: &Summary) {
    let Some(t) = &s.teardown else {
        return;
    };
    let outcome = match &t.reason {
        None => format!("passed in {:.2} s", t.duration_s),
        Some(why) => format!(
            "<b class=\"fail\">failed</b> after {:.2} s: {} (reported only; the verdict is unchanged)",
            t.duration_s,
            esc(why)
        ),
    };
    let _ = write!(h, "<h2>Teardown</h2><p id=\"teardown\">{outcome}</p>");
    request_rows(h, "teardown-requests", &t.requests, false);
}

fn requests_table(h: &mut String, s: &Summary) {
    h.push_str("<h2>Requests</h2>");
    request_rows(h, "requests", &s.requests, true);
    requests_detail(h, s);
}

/// Rows of requests; `rates` false for the teardown, whose few requests over its own
/// milliseconds are no rate.
fn request_rows(h: &mut String, id: &str, rows: &[super::summary::RequestSummary], rates: bool) {
    let _ = write!(h, "<div class=\"card scroll\"><table id=\"{id}\"><tr><th>request</th><th>count</th><th>req/s</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>errors</th><th>checks</th><th>grade</th></tr>");
    for r in rows {
        let (cp, cf) = r
            .checks
            .iter()
            .fold((0, 0), |(p, f), c| (p + c.passed, f + c.failed));
        let _ = write!(
            h,
            "<tr><td>{}/{} <small>{}</small></td><td>{}</td><td>{}</td>{}<td>{:.2}%</td><td>{}</td><td>{}</td></tr>",
            esc(&r.scenario), esc(&r.name), esc(&r.method), r.count,
            if rates { format!("{:.1}", r.rps) } else { "-".to_string() },
            stats_cells(&r.latency), r.error_rate * 100.0,
            if cp + cf == 0 { "-".to_string() } else { format!("{cp}/{}", cp + cf) },
            r.grade.map(|g| esc(g.as_str())).unwrap_or_else(|| "-".into())
        );
    }
    h.push_str("</table></div>");
}

/// Errors by kind and checks of the load's requests.
fn requests_detail(h: &mut String, s: &Summary) {
    let errors: Vec<String> = s
        .requests
        .iter()
        .flat_map(|r| {
            r.errors.iter().map(move |(k, n)| {
                format!(
                    "<tr><td>{}/{}</td><td>{}</td><td>{n}</td></tr>",
                    esc(&r.scenario),
                    esc(&r.name),
                    esc(k)
                )
            })
        })
        .collect();
    if !errors.is_empty() {
        let _ = write!(h, "<h2>Errors by kind</h2><div class=\"card scroll\"><table id=\"errors\"><tr><th>request</th><th>kind</th><th>count</th></tr>{}</table></div>", errors.concat());
    }
    let mut checks: Vec<String> = s
        .requests
        .iter()
        .flat_map(|r| {
            r.checks.iter().map(move |c| {
                format!(
                    "<tr><td>{}/{}: {}</td><td>{}</td><td>{}</td></tr>",
                    esc(&r.scenario),
                    esc(&r.name),
                    esc(&c.name),
                    c.passed,
                    c.failed
                )
            })
        })
        .collect();
    // A script's checks, of no one request.
    checks.extend(s.checks.iter().map(|c| {
        format!(
            "<tr><td>{}/{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.scenario),
            esc(&c.name),
            c.passed,
            c.failed
        )
    }));
    if !checks.is_empty() {
        let _ = write!(h, "<h2>Checks</h2><div class=\"card scroll\"><table id=\"checks\"><tr><th>check</th><th>passed</th><th>failed</th></tr>{}</table></div>", checks.concat());
    }
}

fn thresholds(h: &mut String, s: &Summary) {
    if s.thresholds.is_empty() {
        return;
    }
    h.push_str("<h2>Thresholds</h2><div class=\"card scroll\"><table id=\"thresholds\"><tr><th>threshold</th><th>observed</th><th>verdict</th></tr>");
    for t in &s.thresholds {
        let (class, word) = match t.verdict {
            Verdict::Pass => ("pass", "pass"),
            Verdict::Fail => ("fail", "FAIL"),
            Verdict::NoData => ("nodata", "no data"),
        };
        let observed = t.observed_text().unwrap_or_else(|| "-".into());
        let _ = write!(
            h,
            "<tr><td>{}: {}</td><td>{observed}</td><td class=\"{class}\">{word}</td></tr>",
            esc(&t.metric),
            esc(&t.expr)
        );
    }
    h.push_str("</table></div>");
}

fn capacity_section(h: &mut String, s: &Summary) {
    let Some(c) = &s.capacity else { return };
    let opt = |v: Option<f64>, unit: &str| {
        v.map(|x| format!("{x:.1}{unit}"))
            .unwrap_or_else(|| "n/a".into())
    };
    let capacity = match (c.capacity_rps, c.capacity_at_least_rps) {
        (Some(x), _) => format!("{x:.1}/s"),
        (None, Some(x)) => format!("&ge; {x:.1}/s"),
        (None, None) => "n/a".into(),
    };
    let _ = write!(
        h,
        "<h2>Capacity</h2><div class=\"card figs\" id=\"capacity\"><div class=\"fig\">capacity<b>{capacity}</b></div><div class=\"fig\">knee<b>{}</b></div>\
         <div class=\"fig\">expected peak<b>{:.1}/s</b></div><div class=\"fig\">headroom<b>{}</b></div><div class=\"fig\">instances needed<b>{}</b></div>\
         <div class=\"fig\">months until exhausted<b>{}</b></div></div><p><small>SLO: p95 &le; {:.0} ms and errors &le; {:.2}%. {}{}</small></p>",
        opt(c.knee_rps, "/s"),
        c.expected_peak_rps,
        c.headroom_ratio.map(|x| format!("{:.0}%", x * 100.0)).unwrap_or_else(|| "n/a".into()),
        c.instances_needed.map(|n| n.to_string()).unwrap_or_else(|| "n/a".into()),
        opt(c.months_until_exhausted, ""),
        c.slo_p95_ms,
        c.slo_error_rate * 100.0,
        esc(&c.note),
        if c.limited_by_generator { " <b class=\"fail\">The generator was the bottleneck: this is loadpacer's limit, not the target's.</b>" } else { "" },
    );
    if let Some(z) = &c.sizing {
        let per =
            |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map(f).unwrap_or_else(|| "n/a".into());
        let _ = write!(
            h,
            "<h3>Sizing (derived)</h3><div class=\"card figs\" id=\"sizing\"><div class=\"fig\">CPU per 100 req/s<b>{:.3} cores</b></div><div class=\"fig\">memory per 100 req/s<b>{}</b></div>\
             <div class=\"fig\">replicas for the peak<b>{}</b></div><div class=\"fig\">CPU request per pod<b>{}</b></div><div class=\"fig\">memory limit per pod<b>{}</b></div></div><p><small>{}</small></p>",
            z.cpu_cores_per_100_rps,
            per(z.memory_bytes_per_100_rps, &|b| format!("{:.1} MiB", b / 1048576.0)),
            z.replicas_for_peak.map(|n| n.to_string()).unwrap_or_else(|| "n/a".into()),
            per(z.cpu_request_per_pod, &|c| format!("{c:.2} cores")),
            per(z.memory_limit_per_pod, &|b| format!("{:.0} MiB", b / 1048576.0)),
            esc(&z.note)
        );
    }
}

fn soak_section(h: &mut String, s: &Summary) {
    let Some(k) = &s.soak else {
        let _ = write!(
            h,
            "<h2>Latency drift</h2><div class=\"card\" id=\"soak\">n/a: run shorter than {} min \
             (drift per hour is computed for runs of {} min or more, or soak plans, with at least {} windows)</div>",
            MIN_DRIFT_RUN.as_secs() / 60,
            MIN_DRIFT_RUN.as_secs() / 60,
            MIN_DRIFT_WINDOWS
        );
        return;
    };
    let (class, word) = if k.drifted {
        ("fail", "drifting")
    } else if k.significant && k.latency_drift_per_hour > 0.0 {
        ("", "rising")
    } else if k.significant {
        ("", "falling")
    } else {
        ("pass", "no trend beyond noise")
    };
    let _ = write!(
        h,
        "<h2>Latency drift</h2><div class=\"card\" id=\"soak\">p95 moved <b>{:+.1}%</b> of its typical value per hour ({:+.2} ms/h) over {} windows \
         (robust slope with a 95% interval, at least {DRIFT_FLOOR_MS_PER_HOUR} ms/h and {DRIFT_FLOOR_MS} ms over the run to count; soak plans fail beyond {:.0}%/h): <span class=\"{class}\">{word}</span></div>",
        k.latency_drift_per_hour * 100.0,
        k.latency_drift_ms_per_hour,
        k.windows,
        k.max_drift_per_hour * 100.0
    );
}

fn regression_section(h: &mut String, s: &Summary) {
    let Some(r) = &s.regression else { return };
    let _ = write!(h, "<h2>Regression against {}</h2><div class=\"card scroll\"><table id=\"regression\"><tr><th>figure</th><th>baseline</th><th>this run</th><th>change</th><th>verdict</th></tr>", esc(&r.baseline));
    for d in &r.deltas {
        let (class, word) = if d.regressed {
            ("fail", "REGRESSED")
        } else if d.too_few_samples {
            ("pass", "not judged: too few requests")
        } else {
            ("pass", "ok")
        };
        let _ = write!(h, "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:+.1}%</td><td class=\"{class}\">{word}</td></tr>", esc(&d.metric), d.baseline, d.current, d.delta_ratio * 100.0);
    }
    h.push_str("</table></div>");
}

fn generator(h: &mut String, s: &Summary) {
    let v = &s.validity;
    let _ = write!(
        h,
        "<h2>Generator</h2><div class=\"card figs\" id=\"generator\"><div class=\"fig\">validity<b>{}</b></div><div class=\"fig\">dropped<b>{:.2}%</b></div>\
         <div class=\"fig\">dispatch lag p99<b>{}</b></div><div class=\"fig\">dispatch lag max<b>{}</b></div>{}</div>",
        if v.is_valid() { "valid" } else { "invalid" }, v.dropped_ratio * 100.0, ms(v.dispatch_lag.p99_ms), ms(v.dispatch_lag.max_ms),
        s.load.dispatch.as_ref().map(|d| format!("<div class=\"fig\">dispatch<b>{d}</b></div>")).unwrap_or_default()
    );
    if let Some(r) = s
        .resources
        .as_ref()
        .filter(|r| r.host_cpu_ratio.samples > 0)
    {
        let mib = |b: f64| format!("{:.1} MiB", b / (1024.0 * 1024.0));
        let _ = write!(
            h,
            "<div class=\"card scroll\"><table id=\"resources\"><tr><th>resource</th><th>avg</th><th>max</th></tr>\
             <tr><td>host CPU</td><td>{:.0}%</td><td>{:.0}%</td></tr><tr><td>host memory used</td><td>{}</td><td>{}</td></tr>\
             <tr><td>loadpacer CPU (cores)</td><td>{:.2}</td><td>{:.2}</td></tr><tr><td>loadpacer RSS</td><td>{}</td><td>{}</td></tr>",
            r.host_cpu_ratio.avg * 100.0, r.host_cpu_ratio.max * 100.0,
            mib(r.host_memory_used_bytes.avg), mib(r.host_memory_used_bytes.max),
            r.loadpacer_cpu_cores.avg, r.loadpacer_cpu_cores.max,
            mib(r.loadpacer_rss_bytes.avg), mib(r.loadpacer_rss_bytes.max)
        );
        for p in &r.processes {
            let _ = write!(h, "<tr><td>{} CPU (cores)</td><td>{:.2}</td><td>{:.2}</td></tr><tr><td>{} RSS</td><td>{}</td><td>{}</td></tr>", esc(&p.name), p.cpu_cores.avg, p.cpu_cores.max, esc(&p.name), mib(p.rss_bytes.avg), mib(p.rss_bytes.max));
        }
        h.push_str("</table></div>");
    }
    if s.result == Outcome::Invalid {
        h.push_str("<p class=\"fail\">The generator was the bottleneck: these figures describe loadpacer, not the target.</p>");
    }
}

type Series = (&'static str, &'static str, fn(&WindowPoint) -> f64);

/// A line chart of the window series with the load phases shaded.
fn chart(s: &Summary, series: &[Series], unit: &str) -> String {
    let lines: Vec<Line> = series
        .iter()
        .map(|(label, color, f)| Line {
            label: label.to_string(),
            color,
            // Rates over a last window the run's end cut short are not rates (a spike).
            points: full_windows(&s.windows)
                .iter()
                .map(|p| (p.t_s, Some(f(p))))
                .collect(),
        })
        .collect();
    plot(s, &lines, unit)
}

/// A line chart of values per window, with the load phases shaded.
fn plot(s: &Summary, series: &[Line], unit: &str) -> String {
    let x_max = s
        .duration_s
        .max(s.windows.last().map(|p| p.t_s).unwrap_or(1.0))
        .max(1.0);
    let mut bands = Vec::new();
    let mut start = 0.0;
    for (name, dur, _, _) in &s.load.steps {
        bands.push((start, start + dur, name.clone()));
        start += dur;
    }
    let frame = Frame {
        x_max,
        bands,
        x_labels: ("0 s".into(), format!("{x_max:.0} s")),
        marks: Vec::new(),
    };
    svg(series, &frame, unit)
}
