//! Configuration: YAML → raw serde mirror (`raw`) → validated domain types (this module).
//!
//! Everything a run needs is compiled here once: URLs, templates, JSONPath, regexes,
//! thresholds. After `load` succeeds, invalid states are not representable.

mod allow;
mod daemon;
mod error;
mod load;
mod locate;
mod parse;
pub mod raw;
mod rules;
mod schedule;
mod steps;
mod target;
pub mod template;
pub mod threshold;
mod validate;

pub use allow::host_allowed;
pub use daemon::{ServerSpec, StoreSpec};
pub use error::{ConfigError, ConfigErrors};
pub use parse::{load_file, load_str};
pub use schedule::{next_fire, prev_fire, Overlap, Schedule, ScheduleKind};
pub use template::{Template, Vars};
pub use threshold::{Agg, MetricKind, Op, Threshold};

use http::{HeaderName, Method};
use regex::Regex;
use serde_json_path::JsonPath;
use std::sync::Arc;
use std::time::Duration;

/// Default cap on arrivals per second over all plans when `limits.max_rps` is not set.
pub const DEFAULT_MAX_RPS: f64 = 100_000.0;
/// Default cap on virtual users when `limits.max_vus` is not set.
pub const DEFAULT_MAX_VUS: u64 = 10_000;
/// Default `max_in_flight` of open-model plans.
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 1_000;
/// Default response body cap.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// A validated configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file name as given, for messages.
    pub source: String,
    /// Stable hash of the file's text (FNV-1a, hex), to group comparable runs.
    pub hash: String,
    pub limits: Limits,
    pub server: ServerSpec,
    pub store: StoreSpec,
    pub host: HostSpec,
    /// Plans in name order.
    pub plans: Vec<Arc<PlanSpec>>,
}

impl Config {
    /// The plan with this name.
    pub fn plan(&self, name: &str) -> Option<&Arc<PlanSpec>> {
        self.plans.iter().find(|p| p.name == name)
    }
}

/// Host sampling settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSpec {
    pub interval: Duration,
    /// Process names watched on this host (exact name, e.g. `postgres`).
    pub processes: Vec<String>,
}

impl Default for HostSpec {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            processes: Vec::new(),
        }
    }
}

/// Global safety limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_rps: f64,
    pub max_vus: u64,
    pub max_in_flight: u64,
    /// Runs at the same time across plans (daemon).
    pub max_concurrent_runs: u64,
    /// Hosts, `*.domain` wildcards and CIDRs a target may use; empty means any public or
    /// loopback host (link-local and metadata addresses are always refused).
    pub allow_targets: Vec<String>,
}

/// A service under test.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub name: String,
    pub base_url: reqwest::Url,
    pub headers: Vec<(HeaderName, Template)>,
    pub timeout: Duration,
    pub max_redirects: u32,
    pub max_body: usize,
    pub http2: bool,
    pub transport: Transport,
    /// CA certificates (PEM) trusted for this target besides the built-in roots: an internal
    /// CA of a staging environment. Checked when the file is loaded.
    pub ca_pem: Option<Vec<u8>>,
}

/// A named load shape (`preset:`), expanded into open-model phases when the file is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    Smoke,
    Load,
    Stress,
    Spike,
    Soak,
    Breakpoint,
}

impl Preset {
    /// Every preset, in the order the docs list them.
    pub const ALL: [Preset; 6] = [
        Preset::Smoke,
        Preset::Load,
        Preset::Stress,
        Preset::Spike,
        Preset::Soak,
        Preset::Breakpoint,
    ];

    /// The name written in a plan (and in the summary).
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Smoke => "smoke",
            Preset::Load => "load",
            Preset::Stress => "stress",
            Preset::Spike => "spike",
            Preset::Soak => "soak",
            Preset::Breakpoint => "breakpoint",
        }
    }
}

/// How requests reach a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A shared reqwest pool: redirects, TLS, HTTP/2. The default.
    Pooled,
    /// One HTTP/1.1 connection per VU slot, driven by hyper directly: plain HTTP only, no
    /// redirects followed; the cheapest path per request.
    Direct,
}

/// One open-model phase: arrivals per second, ramping linearly from `rate` to `ramp_to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: String,
    pub duration: Duration,
    pub rate: f64,
    pub ramp_to: f64,
}

/// One closed-model stage: VUs ramp linearly to `target` over `duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: u64,
}

/// The load shape, after presets were expanded.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadShape {
    /// Arrivals at a scheduled rate, independent of response times.
    Open {
        phases: Vec<Phase>,
        max_in_flight: u64,
    },
    /// A number of VUs, each looping its scenario.
    Closed { stages: Vec<Stage> },
}

/// The load: a shape plus stop conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    pub shape: LoadShape,
    /// Stop after this many iterations in total.
    pub iterations: Option<u64>,
    /// How long in-flight iterations may finish after the schedule ends or a stop.
    pub graceful_stop: Duration,
    /// The preset the shape came from, if any.
    pub preset: Option<Preset>,
}

impl LoadSpec {
    /// Scheduled length of the run.
    pub fn duration(&self) -> Duration {
        match &self.shape {
            LoadShape::Open { phases, .. } => phases.iter().map(|p| p.duration).sum(),
            LoadShape::Closed { stages } => stages.iter().map(|s| s.duration).sum(),
        }
    }
}

/// A request's body.
#[derive(Debug, Clone)]
pub enum BodySpec {
    None,
    Json(JsonTemplate),
    Form(Vec<(String, Template)>),
    Raw(Template),
}

/// A JSON value whose strings may be templates.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    Value(serde_json::Value),
    Str(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

/// One check on a response.
#[derive(Debug, Clone)]
pub enum CheckKind {
    Status(Vec<u16>),
    HeaderContains(HeaderName, String),
    BodyContains(String),
    BodyRegex(Regex),
    JsonExists(JsonPath),
    JsonEquals(JsonPath, serde_json::Value),
    LatencyBelow(Duration),
}

impl CheckKind {
    /// True when the check reads the response body.
    pub fn needs_body(&self) -> bool {
        matches!(
            self,
            CheckKind::BodyContains(_)
                | CheckKind::BodyRegex(_)
                | CheckKind::JsonExists(_)
                | CheckKind::JsonEquals(..)
        )
    }
}

/// A check with its index in the plan's check table.
#[derive(Debug, Clone)]
pub struct CheckSpec {
    pub index: usize,
    pub kind: CheckKind,
}

/// Where a capture takes its value from.
#[derive(Debug, Clone)]
pub enum CaptureSource {
    Json(JsonPath),
    Header(HeaderName),
    Regex(Regex),
}

/// A value captured from a response into a VU variable.
#[derive(Debug, Clone)]
pub struct CaptureSpec {
    pub var: String,
    pub source: CaptureSource,
}

/// An HTTP request step.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Index in the plan's request table.
    pub index: usize,
    pub name: String,
    pub method: Method,
    pub url: Template,
    pub headers: Vec<(HeaderName, Template)>,
    pub query: Vec<(String, Template)>,
    pub body: BodySpec,
    pub timeout: Option<Duration>,
    pub checks: Vec<CheckSpec>,
    pub captures: Vec<CaptureSpec>,
}

impl RequestSpec {
    /// True when a check or capture reads the body, so it must be kept (up to the cap).
    pub fn needs_body(&self) -> bool {
        self.checks.iter().any(|c| c.kind.needs_body())
            || self
                .captures
                .iter()
                .any(|c| !matches!(c.source, CaptureSource::Header(_)))
    }

    /// True when the request has a status check (so a 5xx is a check result, not an error).
    pub fn has_status_check(&self) -> bool {
        self.checks
            .iter()
            .any(|c| matches!(c.kind, CheckKind::Status(_)))
    }
}

/// A step of a scenario.
#[derive(Debug, Clone)]
pub enum StepSpec {
    Request(Box<RequestSpec>),
    /// Think time, uniformly drawn from `min..=max`.
    Think {
        min: Duration,
        max: Duration,
    },
}

/// A weighted scenario.
#[derive(Debug, Clone)]
pub struct ScenarioSpec {
    pub name: String,
    pub weight: u32,
    pub steps: Vec<StepSpec>,
}

/// One row of the plan's request table: what the metric labels name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub scenario: String,
    pub name: String,
    pub method: String,
}

/// One row of the plan's check table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckKey {
    pub scenario: String,
    pub request: String,
    /// Human description, e.g. `status in [200]`.
    pub name: String,
}

/// Row order of a CSV data source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataOrder {
    Sequential,
    Random,
}

/// Rows of a CSV file, one per iteration.
#[derive(Debug, Clone)]
pub struct DataSource {
    pub columns: Vec<String>,
    pub rows: Arc<Vec<Vec<String>>>,
    pub order: DataOrder,
}

/// A run's or a request's grade, best first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Excellent,
    Good,
    Acceptable,
    /// None of the plan's bands was met.
    Poor,
}

impl Grade {
    /// The grades a plan may bound (anything worse is `poor`).
    pub const BANDED: [Grade; 3] = [Grade::Excellent, Grade::Good, Grade::Acceptable];

    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Excellent => "excellent",
            Grade::Good => "good",
            Grade::Acceptable => "acceptable",
            Grade::Poor => "poor",
        }
    }
}

impl std::fmt::Display for Grade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Latency and error-rate bounds of one grade.
#[derive(Debug, Clone, PartialEq)]
pub struct GradeBand {
    pub grade: Grade,
    pub p95: Duration,
    pub error_rate: f64,
}

/// A validated plan.
#[derive(Debug, Clone)]
pub struct PlanSpec {
    pub name: String,
    pub description: Option<String>,
    pub target: Arc<TargetSpec>,
    /// When the daemon runs it; `None`: only on demand.
    pub schedule: Option<Schedule>,
    pub load: LoadSpec,
    pub scenarios: Vec<ScenarioSpec>,
    /// Steps run once before the load; their captures are visible to every VU.
    pub setup: Vec<StepSpec>,
    pub data: Option<DataSource>,
    pub thresholds: Vec<Threshold>,
    /// Best first; a run that meets no band is `Poor`.
    pub grades: Vec<GradeBand>,
    pub requests: Vec<RequestKey>,
    pub checks: Vec<CheckKey>,
    /// Values resolved from the environment; never written anywhere.
    pub secrets: Vec<String>,
    pub capacity: Option<CapacitySpec>,
    pub regression: Option<RegressionSpec>,
    pub monitors: Vec<MonitorSpec>,
}

/// Where a monitor reads its number.
#[derive(Debug, Clone)]
pub enum MonitorSource {
    /// GET the URL and take the first JSONPath match as a number.
    Json { url: reqwest::Url, path: JsonPath },
    /// Run an instant query on a Prometheus and take the first sample.
    PromQl {
        prometheus: reqwest::Url,
        query: String,
    },
}

/// A figure polled every `every` during the run (`monitor.NAME` in thresholds).
#[derive(Debug, Clone)]
pub struct MonitorSpec {
    pub name: String,
    pub source: MonitorSource,
    pub every: Duration,
}

/// The daemon compares each run with the median of the last `window` passing runs of the
/// same plan and config hash.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionSpec {
    pub window: u32,
    /// A pinned run id to compare with instead of the recent passing runs.
    pub baseline_run: Option<String>,
    /// Relative latency growth allowed.
    pub latency: f64,
    /// Absolute error-rate growth allowed.
    pub error_rate: f64,
    /// Relative throughput drop allowed.
    pub throughput: f64,
}

impl RegressionSpec {
    /// Relative latency growth allowed when the plan says nothing (10 %).
    pub const DEFAULT_LATENCY: f64 = 0.10;
    /// Absolute error-rate growth allowed by default (half a percentage point).
    pub const DEFAULT_ERROR_RATE: f64 = 0.005;
    /// Relative throughput drop allowed by default (10 %).
    pub const DEFAULT_THROUGHPUT: f64 = 0.10;
}

/// Capacity planning settings of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacitySpec {
    pub expected_peak_rps: f64,
    /// The SLO: p95 latency bound.
    pub slo_p95: Duration,
    pub slo_error_rate: f64,
    /// Expected growth of the peak per month (0.05 = 5 %).
    pub monthly_growth: Option<f64>,
    /// Consecutive one-second windows over the SLO that count as broken.
    pub sustain: u32,
}

impl PlanSpec {
    /// Replaces every secret value in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .filter(|s| !s.is_empty())
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
    }
}
