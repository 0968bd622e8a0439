//! Host and process figures over a run: loadpacer itself, the host, and the processes
//! watched by name (`host.processes`), sampled once a second and summarised as avg/max.

use crate::config::{MonitorSource, MonitorSpec};
use crate::host::{HostSampler, ProcessSampler};
use crate::run::{Control, Observer, WindowView};
use crate::sync::LockExt;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// Average and maximum of a sampled figure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub avg: f64,
    pub max: f64,
    pub samples: u64,
}

impl Stat {
    fn add(&mut self, v: f64) {
        self.samples += 1;
        self.avg += (v - self.avg) / self.samples as f64;
        self.max = if self.samples == 1 {
            v
        } else {
            self.max.max(v)
        };
    }
}

/// One watched process over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessFigures {
    pub name: String,
    pub cpu_cores: Stat,
    pub rss_bytes: Stat,
    /// Robust (Theil–Sen) RSS slope over the run, in bytes per hour: a leak shows here.
    #[serde(default)]
    pub rss_growth_bytes_per_hour: Option<f64>,
    /// (seconds since start, RSS) samples, halved whenever full so memory stays bounded.
    #[serde(skip)]
    series: Vec<(f64, f64)>,
}

/// Samples of RSS kept per process for the growth slope.
const RSS_POINTS: usize = 240;
/// Samples needed for a growth slope.
const MIN_RSS_POINTS: usize = 30;

impl ProcessFigures {
    fn push(&mut self, t_s: f64, rss: f64) {
        if self.series.len() >= RSS_POINTS {
            self.series = self.series.iter().step_by(2).copied().collect();
        }
        self.series.push((t_s, rss));
    }
}

/// Everything sampled during a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub host_cpu_ratio: Stat,
    pub host_memory_used_bytes: Stat,
    pub loadpacer_cpu_cores: Stat,
    pub loadpacer_rss_bytes: Stat,
    pub processes: Vec<ProcessFigures>,
    #[serde(default)]
    pub monitors: Vec<MonitorFigures>,
}

/// One monitor over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorFigures {
    pub name: String,
    pub value: Stat,
    /// Polls that failed (unreachable, not JSON, no number at the path, empty result).
    pub errors: u64,
    /// Every poll in time order (halved when full): its value, or why it is missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<MonitorPoint>,
}

/// One poll of a monitor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorPoint {
    /// Seconds since the run started.
    pub t_s: f64,
    /// The number read; absent when the poll failed (never 0 in its place).
    pub value: Option<f64>,
    /// Why the value is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Polls kept per monitor (halved beyond that, keeping every other one).
const MONITOR_POINTS: usize = 720;

impl MonitorFigures {
    fn poll(&mut self, t_s: f64, result: &Result<f64, String>) {
        match result {
            Ok(v) => self.value.add(*v),
            Err(_) => self.errors += 1,
        }
        if self.series.len() >= MONITOR_POINTS {
            self.series = self.series.iter().step_by(2).cloned().collect();
        }
        self.series.push(MonitorPoint {
            t_s,
            value: result.as_ref().ok().copied(),
            error: result.as_ref().err().cloned(),
        });
    }
}

/// Where monitor values go as they are polled (e.g. gauges on `/metrics`).
pub trait MonitorSink: Send + Sync {
    /// A poll of monitor `name`: its value, or why there is none.
    fn monitor(&self, name: &str, value: Result<f64, &str>);
}

impl std::fmt::Debug for dyn MonitorSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MonitorSink")
    }
}

impl Resources {
    /// Adds every successful poll of the monitors that feed a user-defined metric to that
    /// metric's figures (`monitors.NAME.metric`).
    pub fn feed_custom(&self, plan: &crate::config::PlanSpec, rec: &mut crate::measure::Recorder) {
        use crate::config::custom::CustomKind;
        for spec in &plan.monitors {
            let (Some(i), Some(m)) = (
                spec.feeds,
                self.monitors.iter().find(|m| m.name == spec.name),
            ) else {
                continue;
            };
            let metric = &plan.metrics[i];
            let scale = (metric.kind == CustomKind::Trend).then(|| metric.unit.scale());
            for v in m.series.iter().filter_map(|p| p.value) {
                rec.custom(i).value(v, scale);
            }
        }
    }

    /// Computes the RSS growth slopes from the kept samples (call once, after the run).
    /// `long_enough` says whether the run was long enough for a slope per hour to mean
    /// anything; otherwise growth stays absent. A slope whose 95 % interval includes zero
    /// is reported as 0: the memory moved, but not in one direction.
    pub fn finish(&mut self, long_enough: bool) {
        for p in &mut self.processes {
            let hours: Vec<(f64, f64)> = p.series.iter().map(|(t, y)| (t / 3600.0, *y)).collect();
            p.rss_growth_bytes_per_hour = if long_enough && hours.len() >= MIN_RSS_POINTS {
                crate::judge::analysis::theil_sen_interval(&hours).map(|t| {
                    if t.excludes_zero() {
                        t.slope
                    } else {
                        0.0
                    }
                })
            } else {
                None
            };
        }
    }

    /// The figures of a watched process.
    pub fn process(&self, name: &str) -> Option<&ProcessFigures> {
        self.processes.iter().find(|p| p.name == name)
    }
}

/// Samples once a second during a run, and polls the plan's monitors on their own
/// schedule; read the result after the run with [`ResourceWatch::result`].
pub struct ResourceWatch {
    host: HostSampler,
    me: ProcessSampler,
    result: Arc<Mutex<Resources>>,
    /// Stops the monitor polling tasks when the watch is dropped (the run has ended).
    _monitors: tokio_util::sync::DropGuard,
}

impl ResourceWatch {
    /// Watches the host, loadpacer, these process names and these monitors; each poll also
    /// goes to `sink`.
    pub fn new(
        processes: &[String],
        monitors: &[MonitorSpec],
        sink: Option<Arc<dyn MonitorSink>>,
    ) -> Self {
        let mut host = HostSampler::new(processes.to_vec());
        let mut me = ProcessSampler::this_process();
        let _ = (host.sample(), me.sample()); // prime: first CPU readings are always 0
        let result = Resources {
            processes: processes
                .iter()
                .map(|n| ProcessFigures {
                    name: n.clone(),
                    ..Default::default()
                })
                .collect(),
            monitors: monitors
                .iter()
                .map(|m| MonitorFigures {
                    name: m.name.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let result = Arc::new(Mutex::new(result));
        let stop = tokio_util::sync::CancellationToken::new();
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .ok();
        let started = std::time::Instant::now();
        for (i, m) in monitors.iter().enumerate() {
            let (m, result, stop, client, sink) = (
                m.clone(),
                result.clone(),
                stop.clone(),
                client.clone(),
                sink.clone(),
            );
            tokio::spawn(async move {
                let Some(client) = client else { return };
                let mut every = tokio::time::interval(m.every);
                // A counter read as a change: what it was at the first successful poll.
                let mut first = None;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = every.tick() => {}
                    }
                    let mut value = tokio::select! {
                        _ = stop.cancelled() => return,
                        v = poll(&client, &m.source) => v,
                    };
                    if let (true, Ok(v)) = (m.delta, value.as_mut()) {
                        *v -= *first.get_or_insert(*v);
                    }
                    let t_s = started.elapsed().as_secs_f64();
                    // Under the lock, and only while the run goes on: the summary (read after
                    // the stop) and the live gauge always end on the same poll.
                    let mut r = result.locked();
                    if stop.is_cancelled() {
                        return;
                    }
                    r.monitors[i].poll(t_s, &value);
                    if let Some(sink) = &sink {
                        sink.monitor(&m.name, value.as_ref().map(|v| *v).map_err(String::as_str));
                    }
                }
            });
        }
        Self {
            host,
            me,
            result,
            _monitors: stop.drop_guard(),
        }
    }

    /// A handle to the figures, complete once the run has ended.
    pub fn result(&self) -> Arc<Mutex<Resources>> {
        self.result.clone()
    }
}

/// Reads a monitor's number once, or says why there is none.
async fn poll(client: &reqwest::Client, source: &MonitorSource) -> Result<f64, String> {
    let number = |v: &serde_json::Value| {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    let fetch = |req: reqwest::RequestBuilder| async move {
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                "timed out (5 s)".to_string()
            } else if e.is_connect() {
                "cannot connect".to_string()
            } else {
                "the request failed".to_string()
            }
        })?;
        if !resp.status().is_success() {
            return Err(format!("answered {}", resp.status().as_u16()));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|_| "the body broke off".to_string())?;
        serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|_| "not JSON".to_string())
    };
    match source {
        MonitorSource::Json { url, path } => {
            let body = fetch(client.get(url.clone())).await?;
            path.query(&body)
                .first()
                .and_then(number)
                .ok_or_else(|| "no number at the JSONPath".to_string())
        }
        MonitorSource::PromQl { prometheus, query } => {
            let url = prometheus
                .join("api/v1/query")
                .map_err(|_| "bad Prometheus URL".to_string())?;
            let body = fetch(client.get(url).query(&[("query", query)])).await?;
            let result = &body["data"]["result"];
            // A scalar answers [time, "value"]; a vector answers [{metric, value: [time, "value"]}].
            result[1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .or_else(|| number(&result[0]["value"][1]))
                .ok_or_else(|| "the query returned no sample".to_string())
        }
    }
}

impl Observer for ResourceWatch {
    fn on_window(&mut self, _v: &WindowView<'_>) -> Control {
        let mut r = self.result.locked();
        if let Some(h) = self.host.sample() {
            r.host_cpu_ratio.add(h.cpu_ratio);
            r.host_memory_used_bytes.add(h.memory_used_bytes as f64);
            for (name, cpu, rss, _) in h.processes {
                if let Some(p) = r.processes.iter_mut().find(|p| p.name == name) {
                    p.cpu_cores.add(cpu);
                    p.rss_bytes.add(rss as f64);
                    p.push(_v.elapsed.as_secs_f64(), rss as f64);
                }
            }
        }
        if let Some(s) = self.me.sample() {
            r.loadpacer_cpu_cores.add(s.cpu_cores);
            r.loadpacer_rss_bytes.add(s.rss_bytes as f64);
        }
        Control::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d4_rss_series_stays_bounded_and_a_leak_shows_as_growth() {
        let mut p = ProcessFigures {
            name: "db".into(),
            ..Default::default()
        };
        // 8 h of one sample a second, growing 100 MB an hour.
        for s in 0..8 * 3600 {
            p.push(s as f64, 1e9 + s as f64 * 1e8 / 3600.0);
        }
        assert!(p.series.len() <= RSS_POINTS);
        let mut r = Resources {
            processes: vec![p],
            ..Default::default()
        };
        r.finish(true);
        let g = r.processes[0].rss_growth_bytes_per_hour.unwrap();
        assert!((g - 1e8).abs() < 1e5, "{g}");
        r.finish(false);
        assert_eq!(
            r.processes[0].rss_growth_bytes_per_hour, None,
            "a short run gets no growth figure"
        );
    }

    #[test]
    fn stat_keeps_average_and_maximum() {
        let mut s = Stat::default();
        for v in [2.0, 4.0, 9.0, 1.0] {
            s.add(v);
        }
        assert_eq!((s.avg, s.max, s.samples), (4.0, 9.0, 4));
    }
}
