//! What a script asks of the outside and what it gets back. A VU's coroutine yields an
//! [`Op`] where it must wait (an HTTP exchange, a sleep, the end of an iteration) and is
//! resumed with a [`Reply`]; what needs no waiting (a check, a metric sample, a log line,
//! an abort) is queued as an [`Event`] that the run stage drains after every resume. The
//! engine never sends a request itself: `run/script/` answers the ops with `run::http`, so
//! a script's request is measured exactly like a step's.

use std::time::Duration;

/// One HTTP request of a script, as `k6/http` gives it.
#[derive(Debug, Clone, Default)]
pub struct HttpCall {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// `tags.name`: the request's name in every output (k6's URL grouping); the URL when unset.
    pub name: Option<String>,
    pub timeout: Option<Duration>,
    /// Keep the body (`responseType` other than `none`, and no `discardResponseBodies`).
    pub keep_body: bool,
    /// The body as bytes (`responseType: binary`), not text.
    pub binary: bool,
    /// Statuses that count as success (`expectedStatuses`); `None`: 200–399.
    pub expected: Option<Vec<(u16, u16)>>,
    /// The group path the request was made in (`::a::b`), empty outside groups.
    pub group: String,
    /// Redirects still to follow (`params.redirects`; k6's default is 10).
    pub redirects: u32,
    /// `params.cookies`: sent with every hop, over the jar's.
    pub own_cookies: Vec<(String, String)>,
}

/// What came back for one [`HttpCall`].
#[derive(Debug, Clone, Default)]
pub struct HttpReply {
    /// 0 when no response arrived (k6's meaning).
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub url: String,
    /// Milliseconds, as k6's `timings`.
    pub duration_ms: f64,
    pub waiting_ms: f64,
    pub receiving_ms: f64,
    /// The error's text and k6-style code when the exchange failed.
    pub error: Option<(String, u32)>,
}

/// Where a VU waits.
#[derive(Debug)]
pub enum Op {
    /// The VU's init context was evaluated (or failed); it waits for its first iteration.
    Ready(Result<(), crate::script::ScriptError>),
    /// Requests to send at once (one for `http.get`, several for `http.batch`).
    Http(Vec<HttpCall>),
    Sleep(Duration),
    /// The iteration ended, with the function's result as JSON (what `setup()` returns); an
    /// exception ends it early (counted, the VU goes on).
    Done(Result<Option<String>, crate::script::ScriptError>),
}

/// What a waiting VU is resumed with.
#[derive(Debug)]
pub enum Reply {
    /// Evaluate the init context (the first resume).
    Start,
    /// Run one iteration of the exported function.
    Iterate(Exec),
    Http(Vec<HttpReply>),
    /// A sleep ended.
    Slept,
    /// The iteration must end now (the run's graceful stop is over): the waiting call throws
    /// an error the script cannot catch.
    Stop,
    /// The run is over: the VU's context is freed.
    Exit,
}

/// Where the running iteration is (`k6/execution`).
#[derive(Debug, Clone, Default)]
pub struct Exec {
    /// The exported function to call (`default`, a scenario's `exec`, `setup`, `teardown`).
    pub function: String,
    /// `setup()`'s result as JSON, passed to the function.
    pub data: Option<std::sync::Arc<str>>,
    pub vu: u64,
    pub scenario: String,
    pub iteration_in_scenario: u64,
    pub iteration_in_test: u64,
}

/// What a script reports without waiting.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Check {
        name: String,
        group: String,
        ok: bool,
    },
    Metric {
        name: String,
        value: f64,
    },
    /// `console.*`: level and text.
    Log {
        level: &'static str,
        message: String,
    },
    /// `exec.test.abort()`: the whole run stops, failed.
    Abort(String),
}
