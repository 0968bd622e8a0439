//! The serde mirror of the YAML file. Leaves that need a rule checked carry their location
//! (`Spanned`) so that validation errors can name the line; nothing here is interpreted.

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// A value with the place it was written.
pub type S<T> = Spanned<T>;

/// A mapping key with the place it was written (a plan's name), ordered and compared by its
/// text alone, so that errors about the name itself can name its line.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Key(pub S<String>);

impl Key {
    pub fn as_str(&self) -> &str {
        &self.0.value
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.value == other.0.value
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.value.cmp(&other.0.value)
    }
}
impl std::borrow::Borrow<String> for Key {
    fn borrow(&self) -> &String {
        &self.0.value
    }
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: Option<RawServer>,
    pub store: Option<RawStore>,
    pub host: Option<RawHost>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub targets: BTreeMap<String, RawTarget>,
    #[serde(default)]
    pub plans: BTreeMap<Key, RawPlan>,
}

/// The daemon's HTTP listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<S<String>>,
    pub token_env: Option<S<String>>,
    #[serde(default)]
    pub allowed_hosts: Vec<S<String>>,
}

/// Host sampling: how often, and which processes to watch by name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub interval: Option<S<String>>,
    #[serde(default)]
    pub processes: Vec<S<String>>,
}

/// Run history.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub path: Option<S<String>>,
    pub retention: Option<RawRetention>,
}

/// How much history is kept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    pub runs: Option<S<u64>>,
    pub max_age: Option<S<String>>,
}

/// When the daemon runs a plan: `cron` or `every`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub cron: Option<S<String>>,
    pub every: Option<S<String>>,
    pub timezone: Option<S<String>>,
    pub overlap: Option<S<String>>,
    pub jitter: Option<S<String>>,
    pub starting_deadline: Option<S<String>>,
}

/// Global safety limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_rps: Option<S<f64>>,
    pub max_vus: Option<S<u64>>,
    pub max_in_flight: Option<S<u64>>,
    pub max_concurrent_runs: Option<S<u64>>,
    pub allow_targets: Option<Vec<S<String>>>,
}

/// A service under test.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub base_url: S<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    pub timeout: Option<S<String>>,
    pub max_redirects: Option<S<u32>>,
    pub max_body: Option<S<String>>,
    pub http2: Option<bool>,
    pub transport: Option<S<String>>,
    /// PEM file of CA certificates to trust for this target besides the built-in roots.
    pub ca_file: Option<S<String>>,
}

/// One load test.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    pub description: Option<String>,
    pub target: S<String>,
    pub schedule: Option<RawSchedule>,
    pub load: RawLoad,
    pub scenarios: Vec<RawScenario>,
    #[serde(default)]
    pub setup: Vec<S<RawStep>>,
    pub data: Option<RawData>,
    #[serde(default)]
    pub thresholds: Vec<RawThreshold>,
    pub grades: Option<BTreeMap<String, RawGrade>>,
    pub capacity: Option<RawCapacity>,
    pub regression: Option<RawRegression>,
    #[serde(default)]
    pub monitors: BTreeMap<String, RawMonitor>,
}

/// A figure polled during the run: a number from a JSON endpoint, or a PromQL instant query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitor {
    pub url: Option<S<String>>,
    pub jsonpath: Option<S<String>>,
    pub prometheus: Option<S<String>>,
    pub promql: Option<S<String>>,
    pub every: Option<S<String>>,
}

/// Daemon regression check against the median of the last passing runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegression {
    pub window: Option<S<u32>>,
    pub baseline_run: Option<S<String>>,
    pub tolerance: Option<RawTolerance>,
}

/// Allowed changes before a figure counts as regressed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTolerance {
    pub latency: Option<S<f64>>,
    pub error_rate: Option<S<f64>>,
    pub throughput: Option<S<f64>>,
}

/// Capacity planning: the SLO a capacity is measured against and the expected peak.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapacity {
    pub expected_peak_rps: S<f64>,
    pub slo: RawSlo,
    pub monthly_growth: Option<S<f64>>,
    pub sustain: Option<S<u32>>,
}

/// Latency (p95) and error-rate bounds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlo {
    pub p95: S<String>,
    pub error_rate: S<f64>,
}

/// The load shape: exactly one of `phases`, `vus` or `preset`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub phases: Option<Vec<RawPhase>>,
    pub vus: Option<Vec<RawStage>>,
    pub preset: Option<S<String>>,
    pub rate: Option<S<f64>>,
    pub target: Option<S<u64>>,
    pub duration: Option<S<String>>,
    pub max_in_flight: Option<S<u64>>,
    pub iterations: Option<S<u64>>,
    pub graceful_stop: Option<S<String>>,
}

/// One open-model phase.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    pub name: Option<String>,
    pub duration: S<String>,
    pub rate: S<f64>,
    pub ramp_to: Option<S<f64>>,
}

/// One closed-model stage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub duration: S<String>,
    pub target: S<u64>,
}

/// A weighted sequence of steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: S<String>,
    pub weight: Option<S<u32>>,
    pub steps: Vec<S<RawStep>>,
}

/// A step: a request (with its checks and captures) or a think time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub request: Option<RawRequest>,
    pub check: Option<RawCheck>,
    #[serde(default)]
    pub capture: BTreeMap<String, S<String>>,
    pub think: Option<S<String>>,
}

/// An HTTP request relative to the target's base URL.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    pub name: S<String>,
    pub method: Option<S<String>>,
    pub url: S<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub query: BTreeMap<String, S<String>>,
    pub json: Option<serde_json::Value>,
    pub form: Option<BTreeMap<String, S<String>>>,
    pub body: Option<S<String>>,
    pub timeout: Option<S<String>>,
}

/// Expected status: one code or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawStatus {
    One(u16),
    Many(Vec<u16>),
}

/// Checks on a response.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub status: Option<S<RawStatus>>,
    #[serde(default)]
    pub header: BTreeMap<String, S<String>>,
    pub body_contains: Option<S<String>>,
    pub body_regex: Option<S<String>>,
    #[serde(default)]
    pub json: BTreeMap<String, S<serde_json::Value>>,
    pub latency_below: Option<S<String>>,
}

/// A CSV data source: one row per iteration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    pub file: S<String>,
    pub order: Option<S<String>>,
}

/// A pass/fail rule on a metric.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThreshold {
    pub metric: S<String>,
    pub expr: S<String>,
    #[serde(default)]
    pub abort_on_fail: bool,
    pub delay_abort_eval: Option<S<String>>,
}

/// The bounds of one grade band.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrade {
    pub p95: S<String>,
    pub error_rate: S<f64>,
}
