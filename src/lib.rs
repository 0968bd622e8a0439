//! # loadpacer
//!
//! Scheduled, coordinated-omission-correct HTTP load testing.
//!
//! # Layout
//! The folders are the stages of the pipeline; dependencies point downstream only.
//!
//! ```text
//! config ─▶ run (plan ▶ executor ▶ scenario ▶ client) ──HTTP──▶ target
//!                │ one Recorder per worker, batches every 1 s (bounded, try_send)
//!                ▼
//!            measure (merged histograms, windows) ─▶ judge (thresholds, grades, validity)
//!                                                      ─▶ report (summary JSON, console)
//! ```
//! - [`config`]: YAML → raw serde mirror → validated domain types.
//! - [`schedule`]: what the daemon's timer loop does on waking (suspends, clock jumps).
//! - [`run`]: load shapes → one arrival/VU schedule; workers driving scenarios over HTTP.
//! - [`measure`]: per-worker recorders (HdrHistogram + counters); depends on nothing of ours.
//! - [`judge`]: thresholds, grades, run validity.
//! - [`report`]: the versioned summary and the console views.
//! - [`demo`]: the built-in demo target with latency, error and stall knobs.

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
