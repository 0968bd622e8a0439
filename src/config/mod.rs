//! Configuration: YAML → raw serde mirror (`raw`) → validated domain types (this module).
//!
//! Everything a run needs is compiled here once: URLs, templates, JSONPath, regexes,
//! thresholds. After `load` succeeds, invalid states are not representable.

mod allow;
pub mod artillery;
pub mod custom;
mod daemon;
mod error;
mod grades;
mod input;
mod judging;
pub mod k6;
mod limits;
mod load;
mod locate;
mod overrides;
pub use overrides::{check_scale, scale_of_hash, MAX_SCALE, MIN_SCALE};
mod parse;
mod plan_inputs;
pub mod raw;
mod rules;
mod schedule;
pub mod schema;
pub mod scripted;
mod steps;
mod target;
pub mod target_resources;
pub mod template;
pub mod threshold;
mod validate;
mod workload;

pub use allow::host_allowed;
pub use daemon::{ServerSpec, StoreSpec};
pub use error::{clip, ConfigError, ConfigErrors};
pub use grades::{Grade, GradeBand};
pub use input::{load_any, load_file, load_file_with, load_str};
pub use judging::{CapacitySpec, MonitorSource, MonitorSpec, RegressionSpec};
pub use limits::{Limits, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_RPS, DEFAULT_MAX_VUS};
pub use load::{Dispatch, LoadModel, LoadShape, LoadSpec, Phase, Preset, Stage};
pub use parse::{parse_yaml_value, read_file};
pub use schedule::{next_fire, prev_fire, Overlap, Schedule, ScheduleKind};
pub use steps::{
    BodySpec, CaptureSource, CaptureSpec, CheckKey, CheckKind, CheckSpec, Condition, DataOrder,
    DataSource, EventMatch, ExpectSpec, FilePart, GuardedSpec, HoldSpec, Hooks, JsonTemplate,
    Payload, RecordSource, RecordSpec, RepeatSpec, RequestKey, RequestSpec, ScenarioSpec, SseSpec,
    StepSpec, StreamKey, Times, VariableValue, WsAction, WsSpec, MULTIPART_BOUNDARY, SETUP,
    TEARDOWN, VU_SETUP,
};
pub use target::{TargetSpec, Transport, DEFAULT_MAX_BODY};
pub use template::{Template, Vars};
pub use threshold::{Agg, MetricKind, Op, Threshold};
pub use workload::{peak_rate, WorkloadSpec, DEFAULT_WORKLOAD};

use std::sync::Arc;
use std::time::Duration;

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
    /// What loads but deserves a word, located (`file:line:col: path: message`).
    pub warnings: Vec<ConfigError>,
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

/// A validated plan.
#[derive(Debug, Clone)]
pub struct PlanSpec {
    pub name: String,
    pub description: Option<String>,
    pub target: Arc<TargetSpec>,
    /// When the daemon runs it; `None`: only on demand.
    pub schedule: Option<Schedule>,
    /// What runs at once: one workload (`default`) unless the plan lists `workloads`.
    /// Never empty.
    pub workloads: Vec<WorkloadSpec>,
    pub scenarios: Vec<ScenarioSpec>,
    /// Steps run once before the load; their captures are visible to every VU.
    pub setup: Vec<StepSpec>,
    /// Steps each VU runs once before its first iteration; their captures stay with it.
    pub vu_setup: Vec<StepSpec>,
    /// Steps run once after the load (see [`PlanSpec::teardown_requests`]).
    pub teardown: Vec<StepSpec>,
    pub teardown_timeout: Duration,
    /// Every iteration starts afresh (`fresh_vus`).
    pub fresh_vus: bool,
    /// CSV sources, each giving its columns, a row per iteration.
    pub data: Vec<DataSource>,
    /// Plan variables: a single value, or values of which one is drawn per iteration.
    pub variables: Vec<(String, Vec<VariableValue>)>,
    pub thresholds: Vec<Threshold>,
    /// Best first; a run that meets no band is `Poor`.
    pub grades: Vec<GradeBand>,
    pub requests: Vec<RequestKey>,
    pub checks: Vec<CheckKey>,
    /// Streaming steps (WebSocket, SSE), by stream index.
    pub streams: Vec<StreamKey>,
    /// Grade bands of a request (by request index) or stream; empty: the plan's `grades`.
    pub request_grades: Vec<Vec<GradeBand>>,
    pub stream_grades: Vec<Vec<GradeBand>>,
    /// Values resolved from the environment; never written anywhere.
    pub secrets: Vec<String>,
    pub capacity: Option<CapacitySpec>,
    pub regression: Option<RegressionSpec>,
    pub monitors: Vec<MonitorSpec>,
    /// User-defined metrics, by index (what `record` steps and `Recorder::custom` refer to).
    pub metrics: Vec<custom::CustomMetricSpec>,
    /// Upper bounds (seconds) of the request-duration histogram on `/metrics`; `None`: the
    /// default layout.
    pub request_buckets: Option<Arc<[f64]>>,
    /// The script a k6 plan runs; its scenarios name the functions to call.
    pub script: Option<Arc<ScriptPlan>>,
    /// The processor whose functions `function` steps and request hooks call.
    pub processor: Option<Arc<ProcessorSpec>>,
}

/// A plan's processor (Artillery's `config.processor`): the file, loaded once at config
/// load to list what it exports, and loaded again on its own engine for each run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorSpec {
    pub path: std::path::PathBuf,
    pub functions: Vec<String>,
    /// Its text, part of the config's hash: an edited processor starts a new baseline.
    pub text: String,
}

/// A k6 script as a plan runs it: the program (its init context already evaluated once, for
/// its options) and what its options say about running it.
#[derive(Debug)]
pub struct ScriptPlan {
    pub program: Arc<crate::script::Program>,
    /// It exports `setup()` / `teardown(data)`.
    pub setup: bool,
    pub teardown: bool,
    /// `discardResponseBodies`: bodies are not kept unless a request asks (`responseType`).
    pub discard_bodies: bool,
    /// Name → address (`hosts` and `--hosts`): requests to the name go to the address.
    pub hosts: Vec<(String, String)>,
    pub user_agent: Option<String>,
    /// Custom metrics the script declares, by name: their index in the plan's `metrics`.
    pub metrics: Vec<(String, usize, bool)>,
    /// `setupTimeout`: how long `setup()` may take (k6's default: 60 s).
    pub setup_timeout: std::time::Duration,
    /// VUs initialised before the load of an arrival-rate scenario (`preAllocatedVUs`), by
    /// scenario name; a VU scenario initialises all of its VUs.
    pub preallocated: Vec<(String, u64)>,
}

impl PlanSpec {
    /// True when a threshold of the plan judges `metric` (the plan then states its own
    /// tolerance for it).
    pub fn has_threshold_on(&self, metric: MetricKind) -> bool {
        self.thresholds.iter().any(|t| t.metric == metric)
    }

    /// Scheduled length of the load: until the last workload ends.
    pub fn duration(&self) -> Duration {
        self.workloads
            .iter()
            .map(WorkloadSpec::end)
            .max()
            .unwrap_or_default()
    }

    /// True when a workload uses this preset.
    pub fn uses_preset(&self, preset: Preset) -> bool {
        self.workloads.iter().any(|w| w.load.preset == Some(preset))
    }

    /// The only workload's load, when there is exactly one.
    pub fn single_load(&self) -> Option<&LoadSpec> {
        match self.workloads.as_slice() {
            [one] => Some(&one.load),
            _ => None,
        }
    }

    /// The workload a scenario belongs to.
    pub fn workload_of(&self, scenario: usize) -> Option<&WorkloadSpec> {
        self.workloads
            .iter()
            .find(|w| w.scenarios.contains(&scenario))
    }

    /// Replaces every secret value in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .filter(|s| !s.is_empty())
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
    }
}
