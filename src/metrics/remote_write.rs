//! `run --remote-write URL`: the run's series, the same families and labels `/metrics`
//! exports plus labels that say where they came from (`source="ci"`), sent with the
//! Prometheus remote-write protocol (1.0: protobuf `WriteRequest`, snappy-compressed), as
//! k6 does, so that CI runs land in the Prometheus the scheduled runs are scraped into.
//!
//! A snapshot is taken every `interval` and at the end; snapshots wait in a bounded queue
//! (the oldest are dropped beyond it, and counted) and are sent in order, retried with
//! backoff while the receiver is unreachable, slow or answers 5xx/429. A 4xx is final for
//! that snapshot. Nothing here changes a run's verdict: [`RemoteWriter::finish`] says what
//! was sent and what was not.

use super::Metrics;
use prometheus::proto::{MetricFamily, MetricType};
use prost::Message;
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// Snapshots kept while the receiver is away (one per interval: 10 minutes at 5 s).
const MAX_QUEUED: usize = 120;

/// How long the end of a run waits for the queue to drain.
const FLUSH_BUDGET: Duration = Duration::from_secs(15);

#[derive(Clone, PartialEq, Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

/// The families as remote-write time series at `ts_ms`, each with `extra` labels.
fn series(families: &[MetricFamily], extra: &[(String, String)], ts_ms: i64) -> WriteRequest {
    let mut out = Vec::new();
    for f in families {
        let name = f.name();
        for m in f.get_metric() {
            let base: Vec<(String, String)> = m
                .get_label()
                .iter()
                .map(|l| (l.name().to_string(), l.value().to_string()))
                .chain(extra.iter().cloned())
                .collect();
            let mut push = |suffix: &str, more: Option<(&str, String)>, value: f64| {
                let mut labels = base.clone();
                labels.push(("__name__".into(), format!("{name}{suffix}")));
                labels.extend(more.map(|(k, v)| (k.to_string(), v)));
                labels.sort();
                out.push(TimeSeries {
                    labels: labels
                        .into_iter()
                        .map(|(name, value)| Label { name, value })
                        .collect(),
                    samples: vec![Sample {
                        value,
                        timestamp: ts_ms,
                    }],
                });
            };
            match f.get_field_type() {
                MetricType::COUNTER => push("", None, m.get_counter().get_value()),
                MetricType::GAUGE => push("", None, m.get_gauge().get_value()),
                // Never exported by loadpacer.
                MetricType::UNTYPED => {}
                MetricType::HISTOGRAM => {
                    let h = m.get_histogram();
                    for b in h.get_bucket() {
                        let le = prometheus_float(b.upper_bound());
                        push("_bucket", Some(("le", le)), b.cumulative_count() as f64);
                    }
                    push(
                        "_bucket",
                        Some(("le", "+Inf".into())),
                        h.get_sample_count() as f64,
                    );
                    push("_sum", None, h.get_sample_sum());
                    push("_count", None, h.get_sample_count() as f64);
                }
                MetricType::SUMMARY => {
                    let s = m.get_summary();
                    for q in s.get_quantile() {
                        let at = prometheus_float(q.quantile());
                        push("", Some(("quantile", at)), q.value());
                    }
                    push("_sum", None, s.sample_sum());
                    push("_count", None, s.sample_count() as f64);
                }
            }
        }
    }
    WriteRequest { timeseries: out }
}

/// A float as the text exposition writes it (`0.5`, `1`, `+Inf`).
fn prometheus_float(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else {
        v.to_string()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What was sent, for the end-of-run line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sent {
    pub sent: u64,
    pub failed: u64,
    /// Snapshots dropped because the queue was full or the receiver refused them (4xx).
    pub dropped: u64,
    pub last_error: Option<String>,
}

impl Sent {
    /// One line for the console.
    pub fn describe(&self, url: &str) -> String {
        let total = self.sent + self.failed + self.dropped;
        match &self.last_error {
            None => format!("remote write to {url}: {} of {total} snapshots sent", self.sent),
            Some(e) => format!(
                "remote write to {url}: {} of {total} snapshots sent, {} not sent; last error: {e} (the run's verdict is not affected)",
                self.sent,
                self.failed + self.dropped
            ),
        }
    }
}

/// Checks a receiver's URL at start: http or https with a host (H8: a `file://` or another
/// scheme is a usage error, not a failure at the end of the run).
pub fn check_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(u) => Err(format!(
            "--remote-write {}: the receiver must be an http:// or https:// URL with a host, not {}:",
            shown_url(url),
            u.scheme()
        )),
        Err(e) => Err(format!("--remote-write {}: not a URL ({e})", shown_url(url))),
    }
}

/// A URL as it may be shown or logged: credentials in it (`user:password@`) replaced by
/// `***@` (H8).
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_password(None);
            let _ = u.set_username("***");
            u.to_string()
        }
        Ok(u) => u.to_string(),
        // Not a URL: still hide what could be userinfo.
        Err(_) => match url.split_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => url.to_string(),
        },
    }
}

/// Sends snapshots of `metrics` to a remote-write receiver in the background.
pub struct RemoteWriter {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Sent>,
    url: String,
}

impl RemoteWriter {
    /// Starts sending a snapshot every `interval` to `url`, each series with `labels`.
    pub fn start(
        metrics: Metrics,
        url: String,
        labels: Vec<(String, String)>,
        interval: Duration,
    ) -> RemoteWriter {
        let stop = CancellationToken::new();
        let shown = shown_url(&url);
        let task = tokio::spawn(run(metrics, url, labels, interval, stop.clone()));
        RemoteWriter {
            stop,
            task,
            url: shown,
        }
    }

    /// Takes the last snapshot, sends what is queued within 15 s, and says how it went.
    pub async fn finish(self) -> String {
        self.stop.cancel();
        let sent = self.task.await.unwrap_or_else(|e| Sent {
            last_error: Some(format!("the sender failed: {e}")),
            ..Sent::default()
        });
        sent.describe(&self.url)
    }
}

async fn run(
    metrics: Metrics,
    url: String,
    labels: Vec<(String, String)>,
    interval: Duration,
    stop: CancellationToken,
) -> Sent {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client with a timeout builds");
    let mut queue: VecDeque<Vec<u8>> = VecDeque::new();
    let mut sent = Sent::default();
    let mut tick = tokio::time::interval(interval);
    let mut backoff = Duration::from_millis(500);
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        let stopping = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tick.tick() => false,
            _ = async { tokio::time::sleep_until(retry_at.expect("guarded")).await }, if retry_at.is_some() => false,
        };
        if retry_at.is_none_or(|t| t <= tokio::time::Instant::now()) || stopping {
            let snapshot = series(&metrics.families(), &labels, now_ms());
            enqueue(&mut queue, &mut sent, &snapshot);
        }
        let deadline = stopping.then(|| Instant::now() + FLUSH_BUDGET);
        while let Some(body) = queue.front() {
            let Some(outcome) = attempt(&client, &url, body, deadline, &stop).await else {
                break;
            };
            match outcome {
                Ok(()) => {
                    queue.pop_front();
                    sent.sent += 1;
                    backoff = Duration::from_millis(500);
                    retry_at = None;
                }
                Err(Refusal::Final(why)) => {
                    queue.pop_front();
                    sent.dropped += 1;
                    sent.last_error = Some(why);
                }
                Err(Refusal::Retry(why)) => {
                    sent.last_error = Some(why);
                    if deadline.is_some_and(|d| Instant::now() + backoff >= d) {
                        sent.failed += queue.len() as u64;
                        return sent;
                    }
                    if deadline.is_some() {
                        tokio::time::sleep(backoff).await;
                    } else {
                        retry_at = Some(tokio::time::Instant::now() + backoff);
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    if deadline.is_none() {
                        break;
                    }
                }
            }
        }
        if stopping {
            return sent;
        }
    }
}

/// Queues a snapshot with series (the oldest dropped, and counted, when the queue is full).
fn enqueue(queue: &mut VecDeque<Vec<u8>>, sent: &mut Sent, snapshot: &WriteRequest) {
    if snapshot.timeseries.is_empty() {
        return;
    }
    if queue.len() >= MAX_QUEUED {
        queue.pop_front();
        sent.dropped += 1;
        sent.last_error = Some(format!(
            "more than {MAX_QUEUED} snapshots waited; the oldest were dropped"
        ));
    }
    queue.push_back(compress(snapshot));
}

/// One send. While stopping (`deadline`), a send that outlives the budget is cut: the
/// budget is a deadline for the whole flush, not for each attempt. Otherwise a send under
/// way when the run ends gives way to the final flush (`None`).
async fn attempt(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    deadline: Option<Instant>,
    stop: &CancellationToken,
) -> Option<Result<(), Refusal>> {
    let attempt = send(client, url, body.to_vec());
    match deadline {
        Some(d) => Some(
            tokio::time::timeout_at(d.into(), attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(Refusal::Retry(format!(
                        "the receiver did not answer within the {} s budget",
                        FLUSH_BUDGET.as_secs()
                    )))
                }),
        ),
        None => tokio::select! {
            r = attempt => Some(r),
            _ = stop.cancelled() => None,
        },
    }
}

fn compress(w: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&w.encode_to_vec())
        .expect("snappy compresses any buffer")
}

enum Refusal {
    /// Try again later: unreachable, timed out, 5xx, 429.
    Retry(String),
    /// The receiver will never take it: another 4xx.
    Final(String),
}

async fn send(client: &reqwest::Client, url: &str, body: Vec<u8>) -> Result<(), Refusal> {
    let resp = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .header(
            "user-agent",
            concat!("loadpacer/", env!("CARGO_PKG_VERSION")),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| Refusal::Retry(format!("cannot send: {}", e.without_url())))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text: String = resp
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let why = format!("{status}: {}", text.trim());
    if status.is_server_error() || status.as_u16() == 429 {
        Err(Refusal::Retry(why))
    } else {
        Err(Refusal::Final(why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_become_buckets_sum_and_count_with_sorted_labels() {
        let mut f = MetricFamily::default();
        f.set_name("loadpacer_x_seconds".into());
        f.set_field_type(MetricType::HISTOGRAM);
        let mut h = prometheus::proto::Histogram::default();
        let mut b = prometheus::proto::Bucket::default();
        b.set_upper_bound(0.5);
        b.set_cumulative_count(3);
        h.set_bucket(vec![b]);
        h.set_sample_count(4);
        h.set_sample_sum(2.5);
        let mut m = prometheus::proto::Metric::default();
        let mut l = prometheus::proto::LabelPair::default();
        l.set_name("plan".into());
        l.set_value("p".into());
        m.set_label(vec![l]);
        m.set_histogram(h);
        f.set_metric(vec![m]);
        let w = series(&[f], &[("source".into(), "ci".into())], 7);
        let text: Vec<String> = w
            .timeseries
            .iter()
            .map(|t| {
                let l: Vec<String> = t
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect();
                format!("{} {}", l.join(","), t.samples[0].value)
            })
            .collect();
        assert_eq!(
            text,
            [
                "__name__=loadpacer_x_seconds_bucket,le=0.5,plan=p,source=ci 3",
                "__name__=loadpacer_x_seconds_bucket,le=+Inf,plan=p,source=ci 4",
                "__name__=loadpacer_x_seconds_sum,plan=p,source=ci 2.5",
                "__name__=loadpacer_x_seconds_count,plan=p,source=ci 4",
            ]
        );
        let body = compress(&w);
        let back = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(WriteRequest::decode(back.as_slice()).unwrap(), w);
    }
}
