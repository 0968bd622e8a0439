//! The integration tests, one module per area, linked into one test binary (issue 26):
//! each file used to be its own crate linking reqwest, rusqlite and axum again.
//! nextest still runs every test in its own process, in parallel.

mod support;

mod alerts;
mod api_docs;
mod architecture;
mod artillery;
mod capacity;
mod cli;
mod client;
mod config_validation;
mod custom_metrics;
mod daemon;
mod dashboards;
mod deploy;
mod engine;
mod errors;
mod flow;
mod fuzz;
mod hardening;
mod k6;
mod lifecycle;
mod merge;
mod mixin;
mod monitors;
mod pages;
mod processors;
mod prometheus_e2e;
mod remote_write;
mod reports;
mod run_params;
mod schema;
mod streams;
mod target_resources;
mod tls;
mod truth;
mod workloads;
