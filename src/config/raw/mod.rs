//! The serde mirror of the YAML file. Leaves that need a rule checked carry their location
//! (`Spanned`) so that validation errors can name the line; nothing here is interpreted.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use std::borrow::Cow;
use std::collections::BTreeMap;

mod steps;
pub use steps::*;

/// A value with the place it was written. (serde-saphyr's `Spanned`, in a type of ours so
/// that the schema of a field is the schema of its value.)
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "Spanned<T>")]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct S<T> {
    pub value: T,
    pub referenced: Location,
    pub defined: Location,
}

impl<T> From<Spanned<T>> for S<T> {
    fn from(s: Spanned<T>) -> Self {
        S {
            value: s.value,
            referenced: s.referenced,
            defined: s.defined,
        }
    }
}

impl<T: JsonSchema> JsonSchema for S<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

/// One item or a list of them (`data: { file: a.csv }` or `data: [{ file: a.csv }, …]`).
/// Read without buffering, so that an error inside an item keeps its place and wording.
#[derive(Debug)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Either<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map, or a list of maps")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                m: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(|t| OneOrMany(vec![t]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                s: A,
            ) -> Result<Self::Value, A::Error> {
                Vec::<T>::deserialize(serde::de::value::SeqAccessDeserializer::new(s))
                    .map(OneOrMany)
            }
        }
        d.deserialize_any(Either(std::marker::PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for OneOrMany<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("OneOrMany_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<T>();
        let many = generator.subschema_for::<Vec<T>>();
        schemars::json_schema!({ "anyOf": [one, many] })
    }
}

/// A mapping key with the place it was written (a plan's name), ordered and compared by its
/// text alone, so that errors about the name itself can name its line.
#[derive(Debug, Deserialize, JsonSchema)]
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
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The daemon's HTTP listener (`serve`). Default: 127.0.0.1:9464 without a token.
    pub server: Option<RawServer>,
    /// Where the daemon keeps run history. Default: `loadpacer.db` beside the config file.
    pub store: Option<RawStore>,
    /// Host sampling during runs and in the daemon.
    pub host: Option<RawHost>,
    /// Global safety caps every plan is checked against.
    #[serde(default)]
    pub limits: RawLimits,
    /// Services under test, by name; plans refer to them. Example: `api: { base_url:
    /// http://127.0.0.1:8080 }`.
    #[serde(default)]
    pub targets: BTreeMap<String, RawTarget>,
    /// Load tests, by name (a name is a Prometheus label value: letters, digits, `_`, `-`).
    #[serde(default)]
    pub plans: BTreeMap<Key, RawPlan>,
}

/// The daemon's HTTP listener.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address and port of the API, `/metrics` and pages. Default: `127.0.0.1:9464`. A
    /// non-loopback address requires `token_env`.
    pub listen: Option<S<String>>,
    /// Name of the environment variable holding the bearer token that mutating endpoints
    /// (trigger, cancel, reload) require. Example: `LOADPACER_TOKEN`.
    pub token_env: Option<S<String>>,
    /// Names a request's `Host` header may carry besides IP literals and `localhost`
    /// (DNS-rebinding guard): exact names or `*.domain`. Default: none. Example: `[loadpacer,
    /// "*.svc.cluster.local"]`.
    #[serde(default)]
    pub allowed_hosts: Vec<S<String>>,
    /// How long the daemon waits for every segment of a distributed run (`POST
    /// /api/v1/plans/NAME/segments/KEY`) after the first arrived; then it stores what
    /// reported as a partial run, which never passes. Duration. Default: `10m`.
    pub segments_deadline: Option<S<String>>,
}

/// Host sampling: how often, and which processes to watch by name.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    /// How often the host, loadpacer and watched processes are sampled. Duration. Default:
    /// `5s`; at least `1s`.
    pub interval: Option<S<String>>,
    /// Process names watched on this host (exact name), exported and usable in `process.NAME.*`
    /// thresholds. Example: `[postgres]`.
    #[serde(default)]
    pub processes: Vec<S<String>>,
}

/// Run history.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// SQLite file of run history, relative to the config file. Default: `loadpacer.db`.
    pub path: Option<S<String>>,
    /// How much history is kept.
    pub retention: Option<RawRetention>,
}

/// How much history is kept.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    /// Keep at most this many runs. Default: `2000`.
    pub runs: Option<S<u64>>,
    /// Delete runs older than this. Duration. Default: `90d`; at least `1m`.
    pub max_age: Option<S<String>>,
}

/// When the daemon runs a plan: `cron` or `every`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// Cron expression: 5 fields (`min hour dom month dow`), 6 with leading seconds, or
    /// `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly`. Set exactly one of `cron` or `every`.
    /// Example: `"0 2 * * 1"`.
    pub cron: Option<S<String>>,
    /// Fixed interval, aligned to multiples since the Unix epoch (restarts keep the cadence).
    /// Duration, at least `1s`. Example: `15m`.
    pub every: Option<S<String>>,
    /// IANA time zone of `cron`. Default: `UTC`. Example: `Europe/Berlin`.
    pub timezone: Option<S<String>>,
    /// When a run is due while the previous one still runs: `forbid` (skip and count it),
    /// `allow` (start anyway) or `replace` (cancel the running one). Default: `forbid`.
    pub overlap: Option<S<String>>,
    /// Random delay in `0..=jitter` added to each fire, to spread load. Duration. Default:
    /// `0s`.
    pub jitter: Option<S<String>>,
    /// A fire later than this (after a suspend or downtime) is counted as missed instead of
    /// run. Duration. Default: `60s`.
    pub starting_deadline: Option<S<String>>,
}

/// Global safety limits.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Cap on arrivals per second over all plans (the sum of their peak rates); also paces
    /// closed-model plans. Requests per second. Default: `100000`.
    pub max_rps: Option<S<f64>>,
    /// Cap on virtual users of any closed-model plan. Default: `10000`.
    pub max_vus: Option<S<u64>>,
    /// Cap on any plan's `load.max_in_flight`. Requests. Default: `10000`.
    pub max_in_flight: Option<S<u64>>,
    /// Runs the daemon lets go on at the same time across plans. Default: `2`.
    pub max_concurrent_runs: Option<S<u64>>,
    /// Hosts, `*.domain` wildcards and CIDRs a target may use; empty means any public or
    /// loopback host (link-local and cloud metadata addresses are always refused). Example:
    /// `[127.0.0.0/8, "*.staging.example.com"]`.
    pub allow_targets: Option<Vec<S<String>>>,
}

/// A service under test.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// `http://` or `https://` URL that request paths are relative to; `{{ env.NAME }}` is
    /// expanded. Required. Example: `http://127.0.0.1:8080`.
    pub base_url: S<String>,
    /// Headers sent with every request to this target; values may use `{{ env.NAME }}` (treated as
    /// secrets and redacted). Example: `{ Authorization: "Bearer {{ env.API_TOKEN }}" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    /// Per-request timeout, from send to the end of the body. Duration. Default: `30s`.
    pub timeout: Option<S<String>>,
    /// Redirects followed (each one checked against the allowlist); `0` follows none (the 3xx
    /// is the response). Default: `5`; at most `10`.
    pub max_redirects: Option<S<u32>>,
    /// Response bytes kept for checks and captures; the rest is read and counted, not kept.
    /// Size (`64KiB`, `1MiB`). Default: `64KiB`; at most `1GiB`.
    pub max_body: Option<S<String>>,
    /// Allow HTTP/2, negotiated by ALPN over TLS (cleartext stays HTTP/1.1). Default: `false`
    /// (HTTP/1.1 only).
    pub http2: Option<bool>,
    /// `pooled` (a shared keep-alive pool, like a browser) or `direct` (one connection per
    /// virtual user, the lowest overhead; `http://` and HTTP/1.1 only). Default: `pooled`.
    pub transport: Option<S<String>>,
    /// PEM file of CA certificates to trust for this target besides the built-in roots.
    pub ca_file: Option<S<String>>,
}

/// One load test.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    /// Free text shown in reports.
    pub description: Option<String>,
    /// Name of an entry of `targets`. Required, unless `artillery` gives the plan (then it
    /// replaces the script's `config.target`).
    pub target: Option<S<String>>,
    /// An Artillery script this plan runs as it is, translated as `loadpacer run script.yml`
    /// does; beside it the plan sets only `description`, `target`, `schedule`, `capacity`,
    /// `regression`, `grades`, `monitors`, `resources` and `request_buckets`. Example: `{ file:
    /// artillery/checkout.yml, environment: staging }`.
    pub artillery: Option<RawScriptRef>,
    /// A JavaScript file of functions (an Artillery processor: CommonJS or an ES module),
    /// relative to this file, that `function` steps and requests' `before_request` and
    /// `after_response` call with the VU's variables (`context.vars`). One engine serves
    /// every VU of a run, as one Node process does in Artillery. Example: `proc.js`.
    pub processor: Option<S<String>>,
    /// A k6 script this plan runs as it is, as `loadpacer run script.js` does; beside it the
    /// plan sets the same fields as beside `artillery`. Example: `{ file: k6/checkout.js, env:
    /// { BASE: "http://127.0.0.1:8080" } }`.
    pub k6: Option<RawK6Ref>,
    /// When the daemon runs the plan; without it the plan runs only on demand.
    pub schedule: Option<RawSchedule>,
    /// The load shape: open-model `phases`, closed-model `vus` stages, or a `preset`.
    /// Required unless the plan has `workloads`.
    pub load: Option<RawLoad>,
    /// Weighted sequences of steps each virtual user or arrival runs. Required (at least one)
    /// unless the plan has `workloads`.
    #[serde(default)]
    pub scenarios: Vec<RawScenario>,
    /// Named workloads that run at the same time in one run, each with its own load and
    /// scenarios (instead of the plan's `load` and `scenarios`), judged together. Example:
    /// `{ steady: { load: ..., scenarios: [...] }, spike: { start: 1m, load: ..., scenarios:
    /// [...] } }`.
    pub workloads: Option<BTreeMap<Key, RawWorkload>>,
    /// Steps run once before the load; their captures are visible to every virtual user.
    #[serde(default)]
    pub setup: Vec<S<RawStep>>,
    /// Steps each virtual user runs once, before its first iteration (log in per user); what
    /// they capture stays with that user. Their requests count as load. A user whose
    /// `vu_setup` fails runs no scenario and tries its setup again next iteration.
    #[serde(default)]
    pub vu_setup: Vec<S<RawStep>>,
    /// Steps run once after the load, also when a threshold aborted the run or it was
    /// interrupted (not when `setup` failed); they read the setup captures. Their requests are
    /// reported on their own and never change the verdict. Example: delete what `setup`
    /// created.
    #[serde(default)]
    pub teardown: Vec<S<RawStep>>,
    /// Longest time the `teardown` steps may take; cut short by an interrupt that must fit
    /// the daemon's shutdown budget. Duration. Default: `30s`.
    pub teardown_timeout: Option<S<String>>,
    /// A CSV file whose columns become variables, one row per iteration; or a list of
    /// them, each giving its columns (names must not repeat across files).
    pub data: Option<OneOrMany<RawData>>,
    /// Every iteration starts afresh from the setup captures, variables and CSV row, and
    /// `vu_setup` runs again: nothing captured by an earlier iteration of the same virtual
    /// user is kept (Artillery's virtual users, one per arrival). Default: `false`.
    #[serde(default)]
    pub fresh_vus: bool,
    /// `error` (a variable read where nothing defines it is a load-time error) or `empty`
    /// (a warning, and it renders empty, as in Artillery). Default: `error`.
    pub undefined_variables: Option<S<String>>,
    /// Variables every iteration starts with: a value, or a list of values of which one is
    /// drawn per iteration. Numbers and booleans stay numbers and booleans in JSON bodies. A
    /// string with `{{ }}` is a template rendered each time it is drawn; it may read the
    /// other variables and the data columns. Example: `{ region: eu, size: [1, 5, 10], user:
    /// "{{ region }}-{{ random_string(8) }}" }`.
    #[serde(default)]
    pub variables: BTreeMap<String, S<serde_json::Value>>,
    /// Pass/fail rules; a failed one fails the run (exit code 1).
    #[serde(default)]
    pub thresholds: Vec<RawThreshold>,
    /// Latency and error bounds of the grades `excellent`, `good` and `acceptable` (anything
    /// worse is `poor`). Example: `{ good: { p95: 300ms, error_rate: 0.01 } }`.
    pub grades: Option<BTreeMap<String, RawGrade>>,
    /// Capacity planning: the SLO the capacity is measured against and the expected peak.
    pub capacity: Option<RawCapacity>,
    /// Compare each daemon run with the median of the last passing runs of the same config (or
    /// a pinned run).
    pub regression: Option<RawRegression>,
    /// User-defined metrics, by name (`[a-z_][a-z0-9_]*`): counters, trends, rates and
    /// gauges that request steps feed with `record`, judged by thresholds (`metric: NAME`),
    /// exported on `/metrics` as `loadpacer_custom_NAME…` and shown in every report.
    /// Example: `{ submit_latency: { type: trend, unit: seconds, help: "Time to accept a
    /// webhook" } }`.
    pub metrics: Option<BTreeMap<Key, RawMetric>>,
    /// The target's own resources, read from a Prometheus that scrapes it (cAdvisor,
    /// kube-state-metrics, node_exporter): polled as `target.cpu_cores`, `target.memory`,
    /// `target.memory_limit`, `target.restarts`, `target.ready_replicas`, `node.cpu` and
    /// `node.memory`, usable in thresholds (`metric: target.memory, expr: "max < 512MB"`),
    /// charted, and the basis of the sizing suggestion of a capacity run.
    pub resources: Option<RawResources>,
    /// Figures polled during the run (a JSON endpoint or a PromQL query), by name; usable in
    /// `monitor.NAME` thresholds.
    #[serde(default)]
    pub monitors: BTreeMap<String, RawMonitor>,
    /// Upper bounds, in seconds and ascending, of the request-duration histogram this plan
    /// exports on `/metrics` (`loadpacer_http_request_duration_seconds`): 1 to 30 of them.
    /// Default: 15 bounds from 1 ms to 60 s. Fewer keep `/metrics` small for a plan with
    /// hundreds of requests (each request has one series per bound); reports and thresholds
    /// use the exact histograms whatever this says. Example: `[0.05, 0.2, 1]`.
    pub request_buckets: Option<Vec<S<f64>>>,
}

/// A script file a plan is given by.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScriptRef {
    /// The script, relative to this file; re-read on every reload. Required.
    pub file: S<String>,
    /// The script's `config.environments` entry to use (Artillery's `-e`).
    pub environment: Option<S<String>>,
}

/// A k6 script a plan is given by.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawK6Ref {
    /// The script, relative to this file; re-read on every reload. Required.
    pub file: S<String>,
    /// `__ENV` values over the daemon's environment (k6's `-e NAME=VALUE`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// One of a plan's concurrent workloads.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    /// Its load shape, as a plan's `load`. Required.
    pub load: Option<RawLoad>,
    /// Its scenarios, as a plan's; names are unique across the plan. Required, at least one.
    #[serde(default)]
    pub scenarios: Vec<RawScenario>,
    /// Name of an entry of `targets` this workload sends to. Default: the plan's `target`.
    pub target: Option<S<String>>,
    /// When it starts, counted from the start of the load. Duration. Default: `0s`.
    pub start: Option<S<String>>,
}

/// Where the target's resources are read.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    /// Base URL of the Prometheus that scrapes the target (the network rule applies).
    /// Required. Example: `http://127.0.0.1:9090`.
    pub prometheus: S<String>,
    /// A Kubernetes workload: its pods' containers (cAdvisor) and their state
    /// (kube-state-metrics).
    pub kubernetes: Option<RawKubernetes>,
    /// node_exporter instances (their `instance` label values) whose CPU and memory are
    /// read. Example: `["10.0.0.5:9100"]`.
    pub nodes: Option<Vec<S<String>>>,
    /// Polling interval. Duration. Default: `5s`.
    pub every: Option<S<String>>,
    /// The range of the `rate()` behind the CPU figures: shorter follows a ramp more closely,
    /// and must still hold at least two scrapes. Duration. Default: `1m`.
    pub rate_window: Option<S<String>>,
}

/// The pods of a Kubernetes workload.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetes {
    /// Namespace of the pods. Required. Example: `shop`.
    pub namespace: S<String>,
    /// Regex (RE2, as PromQL `=~`) matching the pod names. Required. Example: `api-.*`.
    pub pods: S<String>,
}

/// A user-defined metric.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    /// `counter` (a sum that only grows), `trend` (a distribution: percentiles), `rate` (the
    /// share of true outcomes) or `gauge` (the last value, with min, max and avg). Required.
    pub r#type: S<String>,
    /// What it means, shown on `/metrics` (`# HELP`) and in reports. Required.
    pub help: S<String>,
    /// `seconds`, `bytes` or `none`; a `seconds` trend takes durations in thresholds
    /// (`p(95) < 300ms`). Default: `none`.
    pub unit: Option<S<String>>,
    /// Counters only: the name of a label whose value each `record` gives (e.g. which node
    /// answered). Example: `node`.
    pub label: Option<S<String>>,
    /// Counters with a `label`: distinct label values kept; further values are counted
    /// under `other`. Default: `20`; at most `1000`.
    pub max_label_values: Option<S<u32>>,
    /// Trends: histogram bucket bounds on `/metrics`, in the metric's unit, ascending.
    /// Default: the latency buckets for `seconds` (1 ms … 60 s), `1, 2.5, 5, … 100000` else.
    pub buckets: Option<S<Vec<f64>>>,
}

/// Feeds a user-defined metric from a request step; give at most one of `value`, `json`
/// and `from` (none: a counter adds 1 per response).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    /// Name of an entry of the plan's `metrics`. Required.
    pub metric: S<String>,
    /// A number, or a template that renders to one (`"{{ depth }}"`, a capture of this or an
    /// earlier step); for a `rate`, `true`/`false` (or `1`/`0`).
    pub value: Option<S<String>>,
    /// JSONPath (RFC 9535) of a number (or, for a `rate`, a boolean) in the response body.
    /// Example: `$.queue.depth`.
    pub json: Option<S<String>>,
    /// `latency` (the request's latency, in seconds) or `checks` (for a `rate`: true when
    /// every check of this step passed).
    pub from: Option<S<String>>,
    /// The label value of a counter declared with a `label`; a template. Example:
    /// `"{{ node }}"`.
    pub label: Option<S<String>>,
}

/// A figure polled during the run: a number from a JSON endpoint, or a PromQL instant query.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMonitor {
    /// JSON endpoint to poll (the network rule applies). Use with `jsonpath`.
    pub url: Option<S<String>>,
    /// JSONPath (RFC 9535) of the number in the `url` response. Example: `$.queue.depth`.
    pub jsonpath: Option<S<String>>,
    /// Base URL of a Prometheus server. Use with `promql`. Example: `http://127.0.0.1:9090`.
    pub prometheus: Option<S<String>>,
    /// PromQL instant query returning one number. Example:
    /// `sum(rate(http_requests_total[1m]))`.
    pub promql: Option<S<String>>,
    /// Polling interval. Duration. Default: `5s`.
    pub every: Option<S<String>>,
    /// A `gauge` or `trend` declared in the plan's `metrics` that every successful poll
    /// feeds, so the figure is judged, exported and reported as that metric. Example:
    /// `queue_depth`.
    pub metric: Option<S<String>>,
}

/// Daemon regression check against the median of the last passing runs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRegression {
    /// How many recent passing runs (same config hash) make the baseline; their median is
    /// compared. Default: `5`.
    pub window: Option<S<u32>>,
    /// Compare with this one stored run (its id) instead of the recent ones.
    pub baseline_run: Option<S<String>>,
    /// Allowed changes before a figure counts as regressed.
    pub tolerance: Option<RawTolerance>,
}

/// Allowed changes before a figure counts as regressed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTolerance {
    /// Allowed rise of p50/p95/p99 latency, as a ratio. Default: `0.10` (10 %).
    pub latency: Option<S<f64>>,
    /// Allowed rise of the error rate, in absolute terms. Default: `0.005` (0.5 percentage
    /// points).
    pub error_rate: Option<S<f64>>,
    /// Allowed fall of throughput, as a ratio. Default: `0.10` (10 %).
    pub throughput: Option<S<f64>>,
}

/// Capacity planning: the SLO a capacity is measured against and the expected peak.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCapacity {
    /// The production peak the capacity is compared with (headroom, instances needed). Requests
    /// per second. Required.
    pub expected_peak_rps: S<f64>,
    /// The SLO: a rate is within capacity while p95 and the error rate stay within it.
    /// Required.
    pub slo: RawSlo,
    /// Expected traffic growth per month, as a ratio, for the months-until-exhausted figure.
    /// Example: `0.05`.
    pub monthly_growth: Option<S<f64>>,
    /// Consecutive 1-s windows the SLO must be broken before the capacity is called. Default:
    /// `3`.
    pub sustain: Option<S<u32>>,
}

/// Latency (p95) and error-rate bounds.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSlo {
    /// Highest acceptable 95th-percentile latency. Duration. Required. Example: `300ms`.
    pub p95: S<String>,
    /// Highest acceptable error rate, a ratio between 0 and 1. Required. Example: `0.01`.
    pub error_rate: S<f64>,
}

/// The load shape: exactly one of `phases`, `vus`, `preset` or `users`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    /// Open model: arrival-rate phases run one after the other.
    pub phases: Option<Vec<RawPhase>>,
    /// Closed model: stages that move the number of virtual users to `target` over `duration`
    /// (`0s` jumps).
    pub vus: Option<Vec<RawStage>>,
    /// A named shape expanded into phases: `smoke`, `load`, `stress`, `spike`, `soak` or
    /// `breakpoint`; needs `rate` (and `duration` where the preset has one).
    pub preset: Option<S<String>>,
    /// A user-count shape expanded into VU stages (closed model): `light` (10 → 20 users),
    /// `medium` (50 → 100), `heavy` (100 → 200) or `stress` (200 → 1,000, capped at
    /// `limits.max_vus`, climbing to the end); over `duration` (default 5m, 10m, 10m, 15m).
    /// `loadpacer validate` prints the stages.
    pub users: Option<S<String>>,
    /// Peak arrival rate of a `preset`. Requests per second.
    pub rate: Option<S<f64>>,
    /// Virtual users (with `duration`, a closed model without stages).
    pub target: Option<S<u64>>,
    /// Length of a `preset` or of a fixed number of virtual users. Duration.
    pub duration: Option<S<String>>,
    /// Open model: requests in flight at most; arrivals beyond it are dropped and counted (the
    /// run turns invalid above 1 %). Default: `1000`.
    pub max_in_flight: Option<S<u64>>,
    /// Stop after this many iterations (over all virtual users).
    pub iterations: Option<S<u64>>,
    /// How long iterations in flight may finish when the schedule ends. Duration. Default:
    /// `10s`.
    pub graceful_stop: Option<S<String>>,
    /// Open model: how a worker wakes for its arrivals. `exact` wakes at each arrival's time
    /// (Linux timerfd; dispatch lag ~0.1 ms, a wake-up per arrival), `tick` on the runtime's
    /// 1-ms timer (arrivals due in the same millisecond go together; lag up to ~1.5 ms, the
    /// least CPU), `auto` exact while a worker's rate is at most 2,500/s and tick above.
    /// Never sends early in any mode. Default: `auto`.
    pub dispatch: Option<S<String>>,
}

/// One open-model phase.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    /// Shown in reports. Default: `phase-N`.
    pub name: Option<String>,
    /// Length of the phase. Duration. Required.
    pub duration: S<String>,
    /// Arrivals per second at the start of the phase (`0` allowed when ramping). Required.
    pub rate: S<f64>,
    /// Arrivals per second at the end of the phase (a linear ramp). Default: `rate`.
    pub ramp_to: Option<S<f64>>,
}

/// One closed-model stage.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    /// Length of the stage; `0s` jumps to `target` at once. Duration. Required.
    pub duration: S<String>,
    /// Virtual users at the end of the stage. Required.
    pub target: S<u64>,
}

/// A CSV data source: one row per iteration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    /// CSV file with a header row, relative to the config file. Required.
    pub file: S<String>,
    /// `sequential` (rows in turn, wrapping) or `random`. Default: `sequential`.
    pub order: Option<S<String>>,
    /// Column names, for a file without a header row (or to rename its columns). Example:
    /// `[user, password]`.
    pub columns: Option<Vec<S<String>>>,
    /// With `columns`: the file's first line is a header to skip. Default: `false`.
    #[serde(default)]
    pub skip_header: bool,
    /// The field separator, one character. Default: `,`.
    pub delimiter: Option<S<String>>,
    /// Every row at once instead of one per iteration: a list of objects (one per row, by
    /// column) in this variable, e.g. for `repeat: { over: users }` (Artillery's `loadAll`
    /// with `name`). At most 1 MiB as JSON. Example: `users`.
    pub all_as: Option<S<String>>,
}

/// A pass/fail rule on a metric.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawThreshold {
    /// What is judged: `latency`, `latency{request=NAME}`, `ttfb`, `errors`, `checks`,
    /// `requests`, `iterations`, `dropped`, `host.cpu`, `process.NAME.cpu_cores`,
    /// `process.NAME.rss`, `monitor.NAME`. Required.
    pub metric: S<String>,
    /// `<agg> <op> <value>`: agg `p(N)`, `avg`, `min`, `max`, `rate`, `count`; op `<`, `<=`,
    /// `>`, `>=`, `==`; latency values take a unit (`500ms`), rates are ratios. Required.
    /// Example: `p(95) < 300ms`.
    pub expr: S<String>,
    /// Stop the run as soon as the threshold fails (checked every second). Default: `false`.
    #[serde(default)]
    pub abort_on_fail: bool,
    /// Do not abort in the first part of the run (warm-up). Duration.
    pub delay_abort_eval: Option<S<String>>,
}

/// The bounds of one grade band.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGrade {
    /// Highest p95 latency of the grade (for a stream step: of its round trips, or of the time
    /// to its first message when it has none). Duration. Required.
    pub p95: S<String>,
    /// Highest error rate of the grade, a ratio (for a stream step: its disconnect rate).
    /// Required.
    pub error_rate: S<f64>,
    /// Lowest throughput of the grade: requests per second (for a stream step: messages
    /// received per second). Example: `50`.
    pub throughput: Option<S<f64>>,
}
