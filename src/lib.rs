//! # loadpacer
//!
//! Scheduled, coordinated-omission-correct HTTP load testing.
//!
//! # Layout
//! The folders are the stages of the pipeline; dependencies point downstream only.
//!
//! ```text
//! config ─▶ cli / app ─▶ schedule ──trigger──▶ session ─▶ run (plan ▶ executor ▶ scenario ▶ http) ─▶ target
//!                                                │ one Recorder per worker, batches every 1 s (bounded, try_send)
//!                                                ▼
//! host ──samples──▶ measure (windows, merged histograms) ─▶ judge ─▶ store ─▶ report / api
//!                                    └──────────────▶ metrics ◀── scrape GET /metrics
//! ```
//! - [`config`]: YAML → raw serde mirror → validated domain types, every error located.
//! - [`session`]: the one run path: guards, sampling and judging around [`run`], used by the
//!   CLI (`run`, `hit`), the daemon and the tests.
//! - [`schedule`]: what the daemon's timer loop does on waking (suspends, clock jumps).
//! - [`run`]: load shapes → one arrival/VU schedule; workers driving scenarios over
//!   [`run::http`] (pooled and direct transports, one error classification, one address check).
//! - [`measure`]: per-worker recorders (HdrHistogram + counters); depends on nothing of ours.
//! - [`judge`]: thresholds, grades, validity, capacity, drift, resources.
//! - [`report`]: the versioned summary and the console, HTML and JUnit views.
//! - [`host`]: sysinfo sampling of the host, loadpacer and watched processes.
//! - [`metrics`]: the `/metrics` families, fed from merged windows.
//! - [`store`]: the SQLite run history.
//! - [`app`]: the daemon's wiring (admission, runner, reload, housekeeping, shutdown).
//! - [`api`]: the HTTP surface (`/metrics`, the JSON API, pages) and its accept loop.
//! - [`demo`]: the built-in demo target with latency, error and stall knobs.
//!
//! Where new things go: a step kind in `run/scenario.rs` (with its config in `config/`), a
//! transport or protocol in a folder under `run/` beside `http/`, a command in the binary's
//! `cli/` calling [`session::run`].

pub mod api;
pub mod app;
pub mod config;
pub mod demo;
pub mod host;
pub mod judge;
pub mod measure;
pub mod metrics;
pub mod report;
pub mod run;
pub mod schedule;
pub mod session;
pub mod store;
