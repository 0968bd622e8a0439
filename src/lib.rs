//! # loadpacer
//!
//! Scheduled, coordinated-omission-correct HTTP load testing.
//!
//! # Layout
//! The folders are the stages of the pipeline; a stage imports only the stages before it
//! (checked by `tests/it/architecture.rs`; more in `docs/architecture.md`).
//!
//! ```text
//! config ─▶ cli / app ─▶ schedule ──trigger──▶ session ─▶ run (plan ▶ executor ▶ scenario ▶ http) ─▶ target
//!                                                │ one Recorder per worker, merged every 1 s
//!                                                ▼
//! host ──samples──▶ measure (windows, merged histograms) ─▶ judge (verdict) ─▶ report ─▶ store / api
//!                                    └──────────────▶ metrics ◀── scrape GET /metrics
//! ```
//! - [`files`]: reading the files a user names: regular files only, through a size limit.
//! - [`measure`]: per-worker recorders (HdrHistogram + counters); depends on nothing of ours.
//! - [`config`]: YAML → raw serde mirror → validated domain types, every error located; one
//!   file per section; [`config::schema`] derives the JSON Schema from the raw types.
//! - [`host`]: sysinfo sampling of the host, loadpacer and watched processes.
//! - [`run`]: load shapes → one arrival/VU schedule; workers driving scenarios over
//!   [`run::http`] (pooled and direct transports, one error classification, one address check).
//! - [`judge`]: thresholds, grades, validity, capacity, drift, resources, and
//!   [`judge::verdict`], which decides a run's outcome once.
//! - [`report`]: the versioned summary and the console, HTML and JUnit views (layout only).
//! - [`session`]: the one run path: guards, sampling and judging around [`run`], used by the
//!   CLI (`run`, `hit`), the daemon and the tests.
//! - [`metrics`]: the `/metrics` families (state, encoding, names), fed from merged windows.
//! - [`store`]: the SQLite run history.
//! - [`schedule`]: what the timer does on waking (suspends, clock jumps) and the timer loop
//!   of one scheduled plan, driven by a trigger function.
//! - [`demo`]: the built-in demo target with latency, error and stall knobs.
//! - [`app`]: the daemon: admission, runner, pending writes, housekeeping, reload, shutdown.
//! - [`api`]: the HTTP surface (`/metrics`, the JSON API, pages) and its accept loop.
//!
//! Where new things go: a step kind in `config/steps/` and `run/scenario.rs`, a transport or
//! protocol in a folder under `run/` beside `http/`, a sink as a [`run::Observer`] or a
//! function of the summary in `report/`, a command in the binary's `cli/` calling
//! [`session::run`].

pub mod api;
pub mod app;
pub mod config;
pub mod demo;
pub mod files;
pub mod host;
pub mod judge;
pub mod measure;
pub mod metrics;
pub mod report;
pub mod run;
pub mod schedule;
pub mod script;
pub mod session;
pub mod store;
pub mod sync;
