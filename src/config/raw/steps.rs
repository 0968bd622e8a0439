//! The serde mirror of scenarios and their steps: requests with their checks and captures,
//! repeats, and the streaming sessions (Server-Sent Events, WebSocket).

use super::*;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A weighted sequence of steps.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Label of the scenario in reports and on `/metrics`. Required.
    /// Any text of up to 128 characters on one line (`User Registration Flow`), kept as written.
    pub name: S<String>,
    /// Relative share of iterations. Default: `1`.
    pub weight: Option<S<u32>>,
    /// What an iteration does, in order. Required.
    pub steps: Vec<S<RawStep>>,
}

/// A step: a request (with its checks and captures) or a think time.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// An HTTP request.
    pub request: Option<RawRequest>,
    /// Calls a function of the plan's `processor` as `fn(context, events, next)`: it may read
    /// and set the VU's variables (`context.vars`); an error it throws (or gives `next`)
    /// ends the iteration, counted as failed. Example: `function: setToken`.
    pub function: Option<S<String>>,
    /// Checks on the request's response; more than 1 % failed checks fail the run unless a
    /// `checks` threshold decides.
    pub check: Option<RawCheck>,
    /// Variables taken from the response, by name: a JSONPath (`$.token`), `header:NAME` or
    /// `regex:PATTERN` (first group). Later steps of the same flow read them as `{{ name }}`.
    #[serde(default)]
    pub capture: BTreeMap<String, S<String>>,
    /// Captures of this step that must find a value: when one finds nothing (or an empty
    /// value), the iteration ends there, counted as failed (Artillery's strict captures, its
    /// default). Example: `[token]`.
    #[serde(default)]
    pub require: Vec<S<String>>,
    /// Pause after the step: a duration or a uniform range. Example: `1s` or `500ms..2s`.
    pub think: Option<S<String>>,
    /// A WebSocket session on the target (`http` becomes `ws`, `https` becomes `wss`): connect,
    /// then its `actions` in order; it closes when they are done.
    pub ws: Option<RawWs>,
    /// A Server-Sent Events stream from the target: a GET with `Accept: text/event-stream`,
    /// held for `duration` (or until `events` or `until`), reconnecting after a drop.
    pub sse: Option<RawSse>,
    /// Request steps only: user-defined metrics fed from each response, after its checks and
    /// captures. Example: `[{ metric: queue_depth, json: "$.depth" }]`.
    #[serde(default)]
    pub record: Vec<RawRecord>,
    /// Steps run several times in a row: `count` times, or once per item of `over`. Example:
    /// `{ count: 3, steps: [{ request: { name: page, url: "/products" } }] }`.
    pub repeat: Option<RawRepeat>,
    /// Request steps sent at once, each on its own connection; the flow goes on when all
    /// have answered, with every one's captures. Example: `[{ request: { name: a, url: /a } },
    /// { request: { name: b, url: /b } }]`.
    #[serde(default)]
    pub parallel: Vec<S<RawStep>>,
    /// Runs the step only when this holds: `NAME == VALUE`, `NAME != VALUE` or `NAME` (set and
    /// not empty), where NAME is a variable or `status` (the last response's status). Example:
    /// `status == 200`.
    pub r#if: Option<S<String>>,
    /// Runs the step with this probability, drawn each time: a ratio between 0 and 1.
    /// Example: `0.2`.
    pub probability: Option<S<f64>>,
}

/// Steps repeated within one iteration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRepeat {
    /// How many times, at most `10000`.
    pub count: Option<S<u32>>,
    /// A list to go through, or the name of a variable holding a JSON array (a capture).
    /// Example: `[red, green, blue]` or `items`.
    pub over: Option<S<serde_json::Value>>,
    /// The variable each item of `over` is put in. Default: `item`.
    pub r#as: Option<S<String>>,
    /// A variable holding the round number, from 0 like `iteration` (a number in JSON
    /// bodies). Example: `n` with `url: /pages/{{ n }}`.
    pub index_as: Option<S<String>>,
    /// The steps. Required.
    pub steps: Vec<S<RawStep>>,
}

/// A Server-Sent Events session.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSse {
    /// Label of the stream in reports, thresholds (`sse_first_event{step=NAME}`) and on
    /// `/metrics`. Required.
    /// Any text of up to 128 characters on one line, kept as written.
    pub name: S<String>,
    /// Path (and query) relative to the target's `base_url`; `{{ var }}` templates allowed.
    /// Default: `/`. Example: `/events?topic={{ topic }}`.
    pub path: Option<S<String>>,
    /// Query parameters, URL-encoded; `{{ var }}` templates allowed.
    #[serde(default)]
    pub query: BTreeMap<String, S<String>>,
    /// Request headers; `{{ var }}` templates allowed. Example:
    /// `{ Authorization: "Bearer {{ token }}" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    /// Bound on connecting (up to the response headers). Duration. Default: the target's
    /// `timeout`.
    pub timeout: Option<S<String>>,
    /// How long the stream is held at most. Duration. Required.
    pub duration: S<String>,
    /// Stop after this many events (over reconnects).
    pub events: Option<S<u64>>,
    /// Stop at the first event that matches; its captures are kept. Not met within
    /// `duration`: a failed check.
    pub until: Option<RawEventMatch>,
    /// Checks applied to every event (of `event` type, when set), each counted pass/fail.
    pub check: Option<RawEventMatch>,
    /// Reconnects after the server drops the stream before `duration`, waiting the stream's
    /// `retry:` (default 1 s) and sending `Last-Event-ID`. Default: `3`.
    pub reconnect: Option<S<u32>>,
    /// Grade bands of this stream (p95 of the time to first event, disconnect rate, events
    /// per second), instead of the plan's.
    pub grades: Option<BTreeMap<String, RawGrade>>,
}

/// Conditions on an event.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEventMatch {
    /// The event type (`event:` field) it must have. Example: `price`.
    pub event: Option<S<String>>,
    /// JSONPath (RFC 9535) of the event data to `exists` or to the value it must equal.
    /// Example: `{ "$.symbol": ACME }`.
    #[serde(default)]
    pub json: BTreeMap<String, S<serde_json::Value>>,
    /// Text the data must contain.
    pub contains: Option<S<String>>,
    /// Regex the data must match.
    pub regex: Option<S<String>>,
    /// Text the data must equal.
    pub equals: Option<S<String>>,
    /// Variables taken from the matching event's data: a JSONPath (`$.id`) or `regex:PATTERN`.
    #[serde(default)]
    pub capture: BTreeMap<String, S<String>>,
}

/// A WebSocket session: where to connect and what to do once connected.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWs {
    /// Label of the session in reports, thresholds (`ws_connect{step=NAME}`) and on `/metrics`.
    /// Required. Any text of up to 128 characters on one line, kept as written.
    pub name: S<String>,
    /// Path (and query) relative to the target's `base_url`; `{{ var }}` templates allowed.
    /// Default: `/`. Example: `/ws/prices?symbol={{ symbol }}`.
    pub path: Option<S<String>>,
    /// Query parameters, URL-encoded; `{{ var }}` templates allowed (a captured token, say).
    #[serde(default)]
    pub query: BTreeMap<String, S<String>>,
    /// Headers of the upgrade request; `{{ var }}` templates allowed. Example:
    /// `{ Authorization: "Bearer {{ token }}" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    /// Subprotocols offered in `Sec-WebSocket-Protocol`, in order of preference.
    #[serde(default)]
    pub subprotocols: Vec<S<String>>,
    /// Bound on connecting (TCP, TLS, upgrade) and on each `ping`'s pong. Duration. Default:
    /// the target's `timeout`.
    pub timeout: Option<S<String>>,
    /// What the session does, in order: `send`, `send_json`, `expect`, `ping`, `hold`,
    /// `close`. Default: none (connect and close).
    #[serde(default)]
    pub actions: Vec<S<RawWsAction>>,
    /// Grade bands of this session (p95 of its round trips, disconnect rate, messages per
    /// second), instead of the plan's.
    pub grades: Option<BTreeMap<String, RawGrade>>,
}

/// One action of a WebSocket session: exactly one field.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWsAction {
    /// Send a text message; `{{ var }}` templates allowed.
    pub send: Option<S<String>>,
    /// Send a JSON text message (any YAML value; string leaves may be templates).
    pub send_json: Option<serde_json::Value>,
    /// Wait for a message that matches; its round trip from the last send is measured.
    pub expect: Option<RawExpect>,
    /// Send a ping and wait for its pong (round trip measured, bounded by the session's
    /// `timeout`). Example: `ping: {}`.
    pub ping: Option<RawPing>,
    /// Keep the session open for a while, optionally sending or pinging at a fixed rate,
    /// counting what arrives.
    pub hold: Option<RawHold>,
    /// Close the session now (a normal close, code 1000). Example: `close: {}`.
    pub close: Option<RawClose>,
}

/// Waiting for a message.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// How long to wait. Duration. Required: without a bound a silent server would hold the
    /// session forever.
    pub timeout: Option<S<String>>,
    /// Only the very next message may match; by default messages that do not match are
    /// skipped (and counted) until one does. Default: `false`.
    pub next: Option<bool>,
    /// JSONPath (RFC 9535) to `exists` or to the value it must equal. Example:
    /// `{ "$.type": ack }`.
    #[serde(default)]
    pub json: BTreeMap<String, S<serde_json::Value>>,
    /// Text the message must contain.
    pub contains: Option<S<String>>,
    /// Regex the message must match.
    pub regex: Option<S<String>>,
    /// Text the message must equal.
    pub equals: Option<S<String>>,
    /// Variables taken from the matching message: a JSONPath (`$.id`) or `regex:PATTERN`
    /// (first group).
    #[serde(default)]
    pub capture: BTreeMap<String, S<String>>,
}

/// A ping.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPing {
    /// Pings sent one after the other, each waiting for its pong. Default: `1`.
    pub count: Option<S<u32>>,
}

/// Holding a session open.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHold {
    /// How long. Duration. Required.
    pub duration: S<String>,
    /// Send `send` or `send_json` at this interval while holding, on a fixed schedule.
    /// Duration. Example: `200ms`.
    pub every: Option<S<String>>,
    /// Text sent every `every`; `{{ var }}` templates allowed.
    pub send: Option<S<String>>,
    /// JSON sent every `every`.
    pub send_json: Option<serde_json::Value>,
    /// Ping at this interval while holding (round trips measured). Duration. Example: `5s`.
    pub ping_every: Option<S<String>>,
}

/// Closing a session.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClose {}

/// An HTTP request relative to the target's base URL.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    /// Label of the request in reports, thresholds (`latency{request=NAME}`) and on `/metrics`.
    /// Required. Any text of up to 128 characters on one line, kept as written.
    pub name: S<String>,
    /// HTTP method. Default: `GET`.
    pub method: Option<S<String>>,
    /// Path (and query) relative to the target's `base_url`; `{{ var }}` templates allowed.
    /// Required. Example: `/orders/{{ order_id }}`.
    pub url: S<String>,
    /// Extra headers; `{{ var }}` templates allowed.
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    /// Query parameters, URL-encoded; `{{ var }}` templates allowed.
    #[serde(default)]
    pub query: BTreeMap<String, S<String>>,
    /// JSON body (any YAML value); string leaves may be templates, a lone `{{ var }}` keeps the
    /// variable's JSON type.
    pub json: Option<serde_json::Value>,
    /// `application/x-www-form-urlencoded` body.
    pub form: Option<BTreeMap<String, S<String>>>,
    /// `multipart/form-data` fields (Artillery's `formData`), with `files` beside them or
    /// not; `{{ var }}` templates allowed. Example: `{ name: "{{ user }}", note: hello }`.
    pub multipart: Option<BTreeMap<String, S<String>>>,
    /// Raw text body; `{{ var }}` templates allowed.
    pub body: Option<S<String>>,
    /// Files to upload, by form field: a path relative to the config file (read once, at
    /// most 10 MiB each). With `form` fields beside them the body is `multipart/form-data`.
    /// Example: `{ avatar: img/cat.png }`.
    #[serde(default)]
    pub files: BTreeMap<String, S<String>>,
    /// Overrides the target's timeout for this request. Duration.
    pub timeout: Option<S<String>>,
    /// Grade bands of this request, instead of the plan's. Example:
    /// `{ good: { p95: 200ms, error_rate: 0.01, throughput: 20 } }`.
    pub grades: Option<BTreeMap<String, RawGrade>>,
    /// Functions of the plan's `processor` called before the request is sent, in order, as
    /// `fn(requestParams, context, events, next)`: they may change `url` (on the same
    /// target), `headers`, `json`, `body` and `qs`. Example: `[signRequest]`.
    #[serde(default)]
    pub before_request: Vec<S<String>>,
    /// Functions of the plan's `processor` called after the response (after the step's
    /// captures and checks), as `fn(requestParams, response, context, events, next)`, with
    /// `response.statusCode`, `headers` and `body`. Example: `[saveOrderId]`.
    #[serde(default)]
    pub after_response: Vec<S<String>>,
}

/// Expected status: one code or a list.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawStatus {
    One(u16),
    Many(Vec<u16>),
}

/// Checks on a response.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// Expected status: one code or a list. Example: `[200, 201]`.
    pub status: Option<S<RawStatus>>,
    /// Headers whose value must contain this text (name: text). Example:
    /// `{ content-type: json }`.
    #[serde(default)]
    pub header: BTreeMap<String, S<String>>,
    /// Headers that must be present, whatever their value. Example: `[x-request-id]`.
    #[serde(default)]
    pub header_exists: Vec<S<String>>,
    /// Headers whose value must be exactly this text (name: text). Example:
    /// `{ cache-control: no-store }`.
    #[serde(default)]
    pub header_equals: BTreeMap<String, S<String>>,
    /// Statuses the response must not have. Example: `[404, 500]`.
    pub status_not: Option<S<RawStatus>>,
    /// Text the body must contain.
    pub body_contains: Option<S<String>>,
    /// Regex the body must match.
    pub body_regex: Option<S<String>>,
    /// JSONPath (RFC 9535) to `exists`, to be `absent`, or to the value it must equal.
    /// Example: `{ "$.items": exists, "$.error": absent, "$.status": created }`.
    #[serde(default)]
    pub json: BTreeMap<String, S<serde_json::Value>>,
    /// The request's latency (from its intended start) must be below this. Duration.
    pub latency_below: Option<S<String>>,
    /// Two or more templates that must render to the same text, read after this request's
    /// captures. Example: `["{{ status }}", shipped]`.
    pub equals: Option<Vec<S<String>>>,
}
