//! The compiled form of scenarios: steps, requests, bodies, checks and captures, and the
//! keys the measurements are filed under.

use crate::config::template::Template;
use http::{HeaderName, Method};
use regex::Regex;
use serde_json_path::JsonPath;
use std::time::Duration;

/// A value of a plan variable: as written, or a template rendered each time it is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum VariableValue {
    Fixed(serde_json::Value),
    Drawn(Template),
}

/// A request's body.
#[derive(Debug, Clone)]
pub enum BodySpec {
    None,
    Json(JsonTemplate),
    Form(Vec<(String, Template)>),
    Raw(Template),
    /// `multipart/form-data`: form fields, then files.
    Multipart {
        fields: Vec<(String, Template)>,
        files: Vec<FilePart>,
    },
}

/// A file of a multipart upload, read when the config is loaded.
#[derive(Debug, Clone)]
pub struct FilePart {
    pub field: String,
    pub filename: String,
    pub bytes: bytes::Bytes,
}

/// The boundary between multipart parts (never inside a part: see `multipart_body`).
pub const MULTIPART_BOUNDARY: &str = "loadpacer-part-7d1f4e2a9c";

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
    StatusNot(Vec<u16>),
    HeaderContains(HeaderName, String),
    HeaderExists(HeaderName),
    HeaderEquals(HeaderName, String),
    BodyContains(String),
    BodyRegex(Regex),
    JsonExists(JsonPath),
    JsonAbsent(JsonPath),
    JsonEquals(JsonPath, serde_json::Value),
    /// The whole body (or message) equals this text.
    BodyEquals(String),
    LatencyBelow(Duration),
    /// Templates that must render alike, after the request's captures.
    Equals(Vec<crate::config::Template>),
}

impl CheckKind {
    /// True when the check reads the response body.
    pub fn needs_body(&self) -> bool {
        matches!(
            self,
            CheckKind::BodyContains(_)
                | CheckKind::BodyRegex(_)
                | CheckKind::JsonExists(_)
                | CheckKind::JsonAbsent(_)
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
    /// Finding nothing ends the iteration (`require`).
    pub required: bool,
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
    /// User-defined metrics fed from the response.
    pub records: Vec<RecordSpec>,
    /// Processor functions called around the exchange.
    pub hooks: Hooks,
}

/// The processor functions a request calls: before it is sent, after its response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// Where a recorded value comes from.
#[derive(Debug, Clone)]
pub enum RecordSource {
    /// 1 per response (a counter without a value).
    Count,
    Constant(f64),
    /// A template that renders to a number (or true/false for a rate).
    Template(Template),
    /// A number (or boolean) in the JSON body.
    Json(JsonPath),
    /// The request's latency, in seconds.
    Latency,
    /// True when every check of the step passed.
    Checks,
}

/// One `record` of a request step, resolved against the plan's metric declarations.
#[derive(Debug, Clone)]
pub struct RecordSpec {
    /// Index in the plan's `metrics`.
    pub metric: usize,
    pub kind: crate::config::custom::CustomKind,
    /// Trends: the histogram scale of the metric's unit.
    pub trend_scale: Option<f64>,
    pub max_labels: usize,
    pub source: RecordSource,
    /// The label value of a labelled counter.
    pub label: Option<Template>,
}

impl RequestSpec {
    /// True when a check or capture reads the body, so it must be kept (up to the cap).
    pub fn needs_body(&self) -> bool {
        !self.hooks.after.is_empty()
            || self.checks.iter().any(|c| c.kind.needs_body())
            || self
                .captures
                .iter()
                .any(|c| !matches!(c.source, CaptureSource::Header(_)))
            || self
                .records
                .iter()
                .any(|r| matches!(r.source, RecordSource::Json(_)))
    }

    /// True when a check or capture reads a response header, so the transport must keep them.
    pub fn needs_headers(&self) -> bool {
        !self.hooks.after.is_empty()
            || self.checks.iter().any(|c| {
                matches!(
                    c.kind,
                    CheckKind::HeaderContains(..)
                        | CheckKind::HeaderExists(_)
                        | CheckKind::HeaderEquals(..)
                )
            })
            || self
                .captures
                .iter()
                .any(|c| matches!(c.source, CaptureSource::Header(_)))
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
    /// A WebSocket session.
    Ws(Box<WsSpec>),
    /// A Server-Sent Events stream.
    Sse(Box<SseSpec>),
    /// Steps repeated within the iteration.
    Repeat(Box<RepeatSpec>),
    /// Requests sent at once, each on its own connection.
    Parallel(Vec<RequestSpec>),
    /// A step run only when its condition holds and its probability is drawn.
    Guarded(Box<GuardedSpec>),
    /// A function of the plan's processor, called with the VU's variables.
    Function(String),
}

impl StepSpec {
    /// Calls `f` with every request of this step, also those inside a `repeat` or a guard.
    pub fn each_request(&self, f: &mut dyn FnMut(&RequestSpec)) {
        match self {
            StepSpec::Request(r) => f(r),
            StepSpec::Repeat(r) => r.steps.iter().for_each(|s| s.each_request(f)),
            StepSpec::Parallel(rs) => rs.iter().for_each(&mut *f),
            StepSpec::Guarded(g) => g.step.each_request(f),
            StepSpec::Think { .. } | StepSpec::Ws(_) | StepSpec::Sse(_) | StepSpec::Function(_) => {
            }
        }
    }
}

impl GuardedSpec {
    /// Whether the step runs now: its condition holds for `vars` (and `status`, the last
    /// response's), and its probability is drawn.
    pub fn allows_with(&self, var: &dyn Fn(&str) -> Option<String>, status: Option<u16>) -> bool {
        let holds = match &self.condition {
            None => true,
            Some(Condition::Status { equal, code }) => (status == Some(*code)) == *equal,
            Some(Condition::Equals {
                var: name,
                equal,
                value,
            }) => (var(name).as_deref() == Some(value.as_str())) == *equal,
            Some(Condition::Set(name)) => var(name).is_some_and(|v| !v.is_empty()),
        };
        holds && self.probability.is_none_or(|p| rand::random::<f64>() < p)
    }
}

/// How many times a `repeat` runs.
#[derive(Debug, Clone)]
pub enum Times {
    Count(u32),
    /// Once per value, the value in `var`.
    List(Vec<serde_json::Value>),
    /// Once per element of the JSON array a variable holds.
    Variable(String),
}

/// `repeat`: its steps, `times` times.
#[derive(Debug, Clone)]
pub struct RepeatSpec {
    pub times: Times,
    /// The variable each item is put in.
    pub var: String,
    /// The variable holding the round number (from 0), when asked for.
    pub index_var: Option<String>,
    pub steps: Vec<StepSpec>,
}

/// `if:` and `probability:` around a step.
#[derive(Debug, Clone)]
pub struct GuardedSpec {
    pub condition: Option<Condition>,
    pub probability: Option<f64>,
    pub step: StepSpec,
}

/// `if:` — what it compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The last response's status `==` or `!=` a code.
    Status { equal: bool, code: u16 },
    /// A variable `==` or `!=` a value.
    Equals {
        var: String,
        equal: bool,
        value: String,
    },
    /// A variable is set and not empty.
    Set(String),
}

/// A weighted scenario.
#[derive(Debug, Clone)]
pub struct ScenarioSpec {
    pub name: String,
    pub weight: u32,
    pub steps: Vec<StepSpec>,
    /// The exported function a script scenario's iterations call (k6's `exec`); its `steps`
    /// are then empty and the plan's [`super::super::ScriptPlan`] holds the script.
    pub script: Option<String>,
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

/// A streaming step of the plan (WebSocket or Server-Sent Events): what its figures are filed
/// under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamKey {
    pub scenario: String,
    /// The step's `name`.
    pub name: String,
    /// `ws` or `sse`.
    pub protocol: &'static str,
}

/// A compiled WebSocket session step.
#[derive(Debug, Clone)]
pub struct WsSpec {
    /// Index in the plan's stream table.
    pub index: usize,
    pub name: String,
    /// Path and query relative to the target's base URL.
    pub path: Template,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(HeaderName, Template)>,
    pub subprotocols: Vec<String>,
    /// Bound on connecting and on each pong; `None`: the target's timeout.
    pub timeout: Option<Duration>,
    pub actions: Vec<WsAction>,
}

/// A message to send.
#[derive(Debug, Clone)]
pub enum Payload {
    Text(Template),
    Json(JsonTemplate),
}

/// One action of a WebSocket session.
#[derive(Debug, Clone)]
pub enum WsAction {
    Send(Payload),
    Expect(ExpectSpec),
    Ping { count: u32 },
    Hold(HoldSpec),
    Close,
}

/// Waiting for a matching message.
#[derive(Debug, Clone)]
pub struct ExpectSpec {
    pub timeout: Duration,
    /// Only the next message may match.
    pub next: bool,
    /// Every matcher must hold; each is a check of the plan (counted pass/fail).
    pub matchers: Vec<CheckSpec>,
    pub captures: Vec<CaptureSpec>,
}

/// Holding a session open.
#[derive(Debug, Clone)]
pub struct HoldSpec {
    pub duration: Duration,
    /// Send `payload` at this interval.
    pub every: Option<(Duration, Payload)>,
    pub ping_every: Option<Duration>,
}

/// A compiled Server-Sent Events step.
#[derive(Debug, Clone)]
pub struct SseSpec {
    /// Index in the plan's stream table.
    pub index: usize,
    pub name: String,
    pub path: Template,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(HeaderName, Template)>,
    /// Bound on connecting; `None`: the target's timeout.
    pub timeout: Option<Duration>,
    /// How long the stream is held at most.
    pub duration: Duration,
    /// Stop after this many events.
    pub events: Option<u64>,
    /// Stop at the first matching event.
    pub until: Option<EventMatch>,
    /// Checks on every event.
    pub check: Option<EventMatch>,
    pub reconnect: u32,
}

/// Conditions on an event: its type, and checks on its data.
#[derive(Debug, Clone)]
pub struct EventMatch {
    pub event: Option<String>,
    pub matchers: Vec<CheckSpec>,
    pub captures: Vec<CaptureSpec>,
}
