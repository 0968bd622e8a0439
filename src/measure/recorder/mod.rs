use super::custom::CustomStats;
use super::error_kind::ErrorKind;
use super::histo::{micros, new_histo, Histo};
use super::stream::StreamStats;
use serde::Serialize;
use std::borrow::Cow;
use std::time::Duration;

mod sample;
pub use sample::Sample;

/// Everything recorded for one request of the plan. A request's times start as a short list
/// of samples and become three histograms at its [`FEW`]-th sample: an HDR histogram at 3
/// digits is 16 KiB or more, and a plan with a thousand requests keeps several recorders (per
/// worker, per window, the batches between them, the total), most of whose requests see a
/// handful of samples in a given second. Both forms give the same percentiles.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(from = "StatsWire", into = "StatsWire")]
pub struct RequestStats {
    times: Times,
    /// Responses per status code (a handful of codes per request, so a small vector).
    pub statuses: Vec<(u16, u64)>,
    errors: [u64; ErrorKind::ALL.len()],
}

/// Samples kept as a list before a request's histograms are made.
const FEW: usize = 64;

/// A request's latency, service time and time to first byte.
#[derive(Clone, Debug, Default)]
enum Times {
    /// Never sent.
    #[default]
    None,
    /// Fewer than [`FEW`] samples: (latency, service, ttfb or 0) in µs, as recorded.
    Few(Vec<[u32; 3]>),
    Many(Box<Histos>),
}

/// The histograms of a request that has been sent often.
#[derive(Clone, Debug)]
struct Histos {
    latency: Histo,
    service: Histo,
    ttfb: Histo,
}

impl Histos {
    fn new() -> Box<Histos> {
        Box::new(Histos {
            latency: new_histo(),
            service: new_histo(),
            ttfb: new_histo(),
        })
    }

    fn of(few: &[[u32; 3]]) -> Box<Histos> {
        let mut h = Histos::new();
        for s in few {
            h.record(s);
        }
        h
    }

    /// One sample in µs; a ttfb of 0 means none (recorded times are at least 1 µs).
    fn record(&mut self, &[latency, service, ttfb]: &[u32; 3]) {
        let _ = self.latency.record(u64::from(latency));
        let _ = self.service.record(u64::from(service));
        if ttfb > 0 {
            let _ = self.ttfb.record(u64::from(ttfb));
        }
    }
}

impl Times {
    fn record(&mut self, sample: [u32; 3]) {
        match self {
            Times::None => *self = Times::Few(vec![sample]),
            Times::Few(few) if few.len() + 1 < FEW => few.push(sample),
            Times::Few(few) => {
                let mut h = Histos::of(few);
                h.record(&sample);
                *self = Times::Many(h);
            }
            Times::Many(h) => h.record(&sample),
        }
    }

    fn merge(&mut self, other: &Times) {
        match other {
            Times::None => {}
            Times::Few(few) => few.iter().for_each(|s| self.record(*s)),
            Times::Many(o) => {
                let h = self.many();
                let _ = h.latency.add(&o.latency);
                let _ = h.service.add(&o.service);
                let _ = h.ttfb.add(&o.ttfb);
            }
        }
    }

    /// The histograms, made from the list if there is one.
    fn many(&mut self) -> &mut Histos {
        match self {
            Times::Many(h) => h,
            Times::None => {
                *self = Times::Many(Histos::new());
                self.many()
            }
            Times::Few(few) => {
                *self = Times::Many(Histos::of(few));
                self.many()
            }
        }
    }

    /// One of the three as a histogram: borrowed when there are histograms, made from the
    /// list otherwise.
    fn histo(&self, pick: fn(&Histos) -> &Histo, column: usize) -> Cow<'_, Histo> {
        match self {
            Times::None => Cow::Borrowed(&EMPTY),
            Times::Few(few) => {
                let mut h = new_histo();
                for s in few.iter().filter(|s| s[column] > 0) {
                    let _ = h.record(u64::from(s[column]));
                }
                Cow::Owned(h)
            }
            Times::Many(h) => Cow::Borrowed(pick(h)),
        }
    }

    fn count(&self) -> u64 {
        match self {
            Times::None => 0,
            Times::Few(few) => few.len() as u64,
            Times::Many(h) => h.latency.len(),
        }
    }

    /// Empties it for the next window, keeping what was allocated (no allocation per window
    /// on the hot path).
    fn reset(&mut self) {
        match self {
            Times::None => {}
            Times::Few(few) => few.clear(),
            Times::Many(h) => {
                h.latency.reset();
                h.service.reset();
                h.ttfb.reset();
            }
        }
    }
}

/// An empty histogram for requests that have none yet.
static EMPTY: std::sync::LazyLock<Histo> = std::sync::LazyLock::new(new_histo);

/// [`RequestStats`] as it travels in a segment's summary: every histogram written out, as
/// before the histograms became lazy (the `recorded` block's layout is unchanged).
#[derive(Serialize, serde::Deserialize)]
struct StatsWire {
    #[serde(with = "super::wire::histo")]
    latency: Histo,
    #[serde(with = "super::wire::histo")]
    service: Histo,
    #[serde(with = "super::wire::histo")]
    ttfb: Histo,
    statuses: Vec<(u16, u64)>,
    errors: [u64; ErrorKind::ALL.len()],
}

impl From<StatsWire> for RequestStats {
    fn from(w: StatsWire) -> Self {
        let sent = !(w.latency.is_empty() && w.service.is_empty() && w.ttfb.is_empty());
        RequestStats {
            times: if sent {
                Times::Many(Box::new(Histos {
                    latency: w.latency,
                    service: w.service,
                    ttfb: w.ttfb,
                }))
            } else {
                Times::None
            },
            statuses: w.statuses,
            errors: w.errors,
        }
    }
}

impl From<RequestStats> for StatsWire {
    fn from(r: RequestStats) -> Self {
        let h = match r.times {
            Times::Many(h) => *h,
            Times::Few(few) => *Histos::of(&few),
            Times::None => *Histos::new(),
        };
        StatsWire {
            latency: h.latency,
            service: h.service,
            ttfb: h.ttfb,
            statuses: r.statuses,
            errors: r.errors,
        }
    }
}

impl RequestStats {
    /// Latency from the intended send time.
    pub fn latency(&self) -> Cow<'_, Histo> {
        self.times.histo(|h| &h.latency, 0)
    }

    /// Service time from the actual send.
    pub fn service(&self) -> Cow<'_, Histo> {
        self.times.histo(|h| &h.service, 1)
    }

    /// Time to the response headers.
    pub fn ttfb(&self) -> Cow<'_, Histo> {
        self.times.histo(|h| &h.ttfb, 2)
    }

    /// Number of requests recorded.
    pub fn count(&self) -> u64 {
        self.times.count()
    }

    /// Each recorded latency as (µs, count), at the resolution of the histogram (each value
    /// the highest of its 3-digit bucket, as a histogram would give it), without making one.
    pub fn each_latency(&self, mut f: impl FnMut(u64, u64)) {
        match &self.times {
            Times::None => {}
            Times::Few(few) => few
                .iter()
                .for_each(|s| f(EMPTY.highest_equivalent(u64::from(s[0])), 1)),
            Times::Many(h) => h
                .latency
                .iter_recorded()
                .for_each(|v| f(v.value_iterated_to(), v.count_at_value())),
        }
    }

    /// Number of failed requests of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Number of failed requests of one kind.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()]
    }

    fn record(&mut self, s: &Sample) {
        let us = |d| micros(d) as u32;
        self.times
            .record([us(s.latency), us(s.service), s.ttfb.map_or(0, us)]);
        if let Some(code) = s.status {
            match self.statuses.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) => *n += 1,
                None => self.statuses.push((code, 1)),
            }
        }
        if let Some(kind) = s.error {
            self.errors[kind.index()] += 1;
        }
    }

    fn merge(&mut self, other: &RequestStats) {
        self.times.merge(&other.times);
        for &(code, n) in &other.statuses {
            match self.statuses.iter_mut().find(|(c, _)| *c == code) {
                Some((_, m)) => *m += n,
                None => self.statuses.push((code, n)),
            }
        }
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
    }

    /// Empties it for the next window, keeping what was allocated.
    fn reset(&mut self) {
        self.times.reset();
        self.statuses.clear();
        self.errors = [0; ErrorKind::ALL.len()];
    }
}

/// Summary statistics of one histogram, in milliseconds. Of an empty histogram (nothing was
/// measured) every field is 0 in memory, and the whole is `null` in JSON: never a figure of
/// 0 ms that no sample gave.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencyStats {
    pub min_ms: f64,
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// [`LatencyStats`] as it is written when it holds figures.
#[derive(Serialize, serde::Deserialize)]
struct LatencyFigures {
    min_ms: f64,
    avg_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
}

impl Serialize for LatencyStats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_empty() {
            return s.serialize_none();
        }
        let l = self.clone();
        LatencyFigures {
            min_ms: l.min_ms,
            avg_ms: l.avg_ms,
            p50_ms: l.p50_ms,
            p90_ms: l.p90_ms,
            p95_ms: l.p95_ms,
            p99_ms: l.p99_ms,
            p999_ms: l.p999_ms,
            max_ms: l.max_ms,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for LatencyStats {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<LatencyFigures>::deserialize(d)? {
            None => Self::default(),
            Some(f) => Self {
                min_ms: f.min_ms,
                avg_ms: f.avg_ms,
                p50_ms: f.p50_ms,
                p90_ms: f.p90_ms,
                p95_ms: f.p95_ms,
                p99_ms: f.p99_ms,
                p999_ms: f.p999_ms,
                max_ms: f.max_ms,
            },
        })
    }
}

impl LatencyStats {
    /// True when no sample was measured (a recorded time is at least 1 µs).
    pub fn is_empty(&self) -> bool {
        self.max_ms == 0.0
    }

    /// Percentiles of a histogram; all zero when it is empty (see [`Self::is_empty`]).
    pub fn of(h: &Histo) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            min_ms: ms(h.min()),
            avg_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// What one worker records between two hand-overs, and what the aggregator merges. Its
/// serialized form (histograms as HDR V2, deflated, base64) is lossless: a segment's summary
/// carries it for `loadpacer merge`.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Recorder {
    /// One entry per request of the plan, by request index.
    pub requests: Vec<RequestStats>,
    /// Passed and failed counts per check, by check index.
    pub checks: Vec<(u64, u64)>,
    /// Completed iterations per scenario, by scenario index.
    pub iterations: Vec<u64>,
    /// Iterations of a script that ended with an exception (counted in `iterations` too).
    #[serde(default)]
    pub failed_iterations: u64,
    /// Arrivals that could not start because `max_in_flight` was reached.
    pub dropped: u64,
    /// Dispatch lag (actual start − intended start) of open-model iterations.
    #[serde(with = "super::wire::histo")]
    pub lag: Histo,
    /// Requests re-sent once on a fresh connection because the kept-alive one they were
    /// sent on had been closed by the target at reuse (C5): a property of the pool, not a
    /// target failure, so counted here and not as an error.
    pub stale_retries: u64,
    /// Streaming steps (WebSocket, Server-Sent Events), by stream index.
    pub streams: Vec<StreamStats>,
    /// User-defined metrics, by their index in the plan's `metrics` (grown on first use).
    pub custom: Vec<CustomStats>,
}

/// The most any one count of a segment may claim (2^50, about 10^15): the sums of the at
/// most 10,000 segments of a run then cannot wrap (10,000 × 2^50 < 2^64).
pub const MAX_COUNT: u64 = 1 << 50;

impl Recorder {
    /// A recorder sized for a plan's tables.
    pub fn new(requests: usize, checks: usize, scenarios: usize) -> Self {
        Self {
            requests: (0..requests).map(|_| RequestStats::default()).collect(),
            checks: vec![(0, 0); checks],
            iterations: vec![0; scenarios],
            failed_iterations: 0,
            dropped: 0,
            lag: new_histo(),
            stale_retries: 0,
            streams: Vec::new(),
            custom: Vec::new(),
        }
    }

    /// The figures of custom metric `i` (grown on first use, never a panic).
    pub fn custom(&mut self, i: usize) -> &mut CustomStats {
        if i >= self.custom.len() {
            self.custom.resize_with(i + 1, CustomStats::default);
        }
        &mut self.custom[i]
    }

    /// This recorder with room for `n` streaming steps.
    pub fn with_streams(mut self, n: usize) -> Self {
        self.streams = (0..n).map(|_| StreamStats::default()).collect();
        self
    }

    /// The figures of streaming step `i` (a sink for out-of-range indexes, never a panic).
    pub fn stream(&mut self, i: usize) -> &mut StreamStats {
        if i >= self.streams.len() {
            self.streams.resize_with(i + 1, StreamStats::default);
        }
        &mut self.streams[i]
    }

    /// Room for at least `requests` request rows and `checks` check rows (a script's plan
    /// names rows that may never have been recorded).
    pub fn fit(&mut self, requests: usize, checks: usize) {
        if self.requests.len() < requests {
            self.requests.resize_with(requests, RequestStats::default);
        }
        if self.checks.len() < checks {
            self.checks.resize(checks, (0, 0));
        }
    }

    /// Records one finished request. A row beyond the table (a script's request, named as
    /// it runs) grows it.
    pub fn record(&mut self, sample: &Sample) {
        if sample.request >= self.requests.len() {
            self.requests
                .resize_with(sample.request + 1, RequestStats::default);
        }
        if let Some(r) = self.requests.get_mut(sample.request) {
            r.record(sample);
        }
        self.stale_retries += u64::from(sample.stale_retry);
    }

    /// Records the outcome of one check.
    pub fn record_check(&mut self, check: usize, passed: bool) {
        if check >= self.checks.len() {
            self.checks.resize(check + 1, (0, 0));
        }
        if let Some(c) = self.checks.get_mut(check) {
            if passed {
                c.0 += 1;
            } else {
                c.1 += 1;
            }
        }
    }

    /// Records a finished iteration of a scenario.
    pub fn record_iteration(&mut self, scenario: usize) {
        if let Some(n) = self.iterations.get_mut(scenario) {
            *n += 1;
        }
    }

    /// Records how late an iteration started compared with its intended time.
    pub fn record_lag(&mut self, lag: Duration) {
        let _ = self.lag.record(micros(lag));
    }

    /// Adds another recorder of the same plan into this one.
    pub fn merge(&mut self, other: &Recorder) {
        if self.requests.len() < other.requests.len() {
            self.requests
                .resize_with(other.requests.len(), RequestStats::default);
        }
        if self.checks.len() < other.checks.len() {
            self.checks.resize(other.checks.len(), (0, 0));
        }
        for (a, b) in self.requests.iter_mut().zip(&other.requests) {
            a.merge(b);
        }
        for (a, b) in self.checks.iter_mut().zip(&other.checks) {
            a.0 += b.0;
            a.1 += b.1;
        }
        for (a, b) in self.iterations.iter_mut().zip(&other.iterations) {
            *a += b;
        }
        if self.streams.len() < other.streams.len() {
            self.streams
                .resize_with(other.streams.len(), StreamStats::default);
        }
        for (a, b) in self.streams.iter_mut().zip(&other.streams) {
            a.merge(b);
        }
        for (i, b) in other
            .custom
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.is_empty())
        {
            self.custom(i).merge(b);
        }
        self.dropped += other.dropped;
        self.failed_iterations += other.failed_iterations;
        self.stale_retries += other.stale_retries;
        let _ = self.lag.add(&other.lag);
    }

    /// Clears all counts, keeping the allocations.
    pub fn reset(&mut self) {
        self.requests.iter_mut().for_each(RequestStats::reset);
        self.checks.iter_mut().for_each(|c| *c = (0, 0));
        self.iterations.iter_mut().for_each(|n| *n = 0);
        self.streams.iter_mut().for_each(StreamStats::reset);
        self.custom.clear();
        self.dropped = 0;
        self.failed_iterations = 0;
        self.stale_retries = 0;
        self.lag.reset();
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.dropped == 0
            && self.failed_iterations == 0
            && self.stale_retries == 0
            && self.lag.is_empty()
            && self.iterations.iter().all(|&n| n == 0)
            && self.requests.iter().all(|r| r.count() == 0)
            && self.streams.iter().all(StreamStats::is_empty)
            && self.custom.iter().all(CustomStats::is_empty)
    }

    /// Checks that a recorder read from outside (a segment's summary) agrees with itself:
    /// every count at most [`MAX_COUNT`], a request's statuses and errors each at most the
    /// requests it recorded, its latency and service histograms of one count (H9).
    pub fn check(&self) -> Result<(), String> {
        let too_many = |what: String, n: u64| {
            (n > MAX_COUNT)
                .then(|| format!("{what} claims {n}, more than the {MAX_COUNT} a run can count"))
        };
        for (i, r) in self.requests.iter().enumerate() {
            let count = r.count();
            let statuses = r
                .statuses
                .iter()
                .try_fold(0u64, |a, (_, n)| a.checked_add(*n));
            let errors = r.errors.iter().try_fold(0u64, |a, n| a.checked_add(*n));
            let (Some(statuses), Some(errors)) = (statuses, errors) else {
                return Err(format!("request {i}: its counts overflow"));
            };
            if let Some(e) = too_many(format!("request {i}"), count) {
                return Err(e);
            }
            if statuses > count || errors > count {
                return Err(format!(
                    "request {i}: {statuses} statuses and {errors} errors for {count} recorded requests"
                ));
            }
            if r.service().len() != count || r.ttfb().len() > count {
                return Err(format!(
                    "request {i}: its latency, service and first-byte histograms disagree ({count}, {}, {})",
                    r.service().len(),
                    r.ttfb().len()
                ));
            }
        }
        let requests = self.requests.iter().map(RequestStats::count);
        let iterations = self.iterations.iter().copied();
        for (what, mut each) in [
            ("requests", requests.collect::<Vec<_>>()),
            ("iterations", iterations.collect()),
        ] {
            let total = each.drain(..).try_fold(0u64, u64::checked_add);
            if let Some(e) = too_many(format!("the total of {what}"), total.unwrap_or(u64::MAX)) {
                return Err(e);
            }
        }
        let counts = self
            .checks
            .iter()
            .flat_map(|c| [c.0, c.1])
            .chain(self.iterations.iter().copied())
            .chain([self.dropped, self.stale_retries, self.lag.len()])
            .chain(self.streams.iter().flat_map(StreamStats::counts))
            .chain(
                self.custom
                    .iter()
                    .flat_map(|c| [c.count, c.trues, c.falses]),
            );
        for n in counts {
            if let Some(e) = too_many("a count".into(), n) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Requests over all request names.
    pub fn total_requests(&self) -> u64 {
        self.requests.iter().map(RequestStats::count).sum()
    }

    /// Failed requests over all request names.
    pub fn total_errors(&self) -> u64 {
        self.requests.iter().map(RequestStats::error_count).sum()
    }

    /// Completed iterations over all scenarios.
    pub fn total_iterations(&self) -> u64 {
        self.iterations.iter().sum()
    }

    /// The latency histogram of all requests merged.
    pub fn merged_latency(&self) -> Histo {
        self.latency_of(0..self.requests.len())
    }

    /// The latency of some requests (by index) merged.
    pub fn latency_of(&self, requests: impl IntoIterator<Item = usize>) -> Histo {
        let mut h = new_histo();
        for i in requests {
            if let Some(r) = self.requests.get(i) {
                match &r.times {
                    Times::Few(few) => {
                        for s in few {
                            let _ = h.record(u64::from(s[0]));
                        }
                    }
                    _ => {
                        let _ = h.add(&*r.latency());
                    }
                }
            }
        }
        h
    }
}

#[cfg(test)]
mod tests;
