//! An Artillery script as written: the fields loadpacer reads, with their places in the file.
//! Fields Artillery has and loadpacer cannot run (JavaScript hooks) are read too, so that
//! they are refused by name and place instead of as unknown fields.

use crate::config::raw::S;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub config: Config,
    pub scenarios: Vec<Scenario>,
    /// Flows run once before and after the load (loadpacer's `setup` and `teardown`).
    pub before: Option<Hook>,
    pub after: Option<Hook>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    pub flow: S<Flow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    pub target: Option<S<String>>,
    #[serde(default)]
    pub phases: Vec<S<Phase>>,
    #[serde(default)]
    pub environments: BTreeMap<String, S<Environment>>,
    pub payload: Option<S<Value>>,
    #[serde(default)]
    pub variables: BTreeMap<String, S<Value>>,
    pub defaults: Option<Defaults>,
    pub http: Option<Http>,
    pub tls: Option<Tls>,
    pub ensure: Option<S<Ensure>>,
    #[serde(default)]
    pub plugins: BTreeMap<String, S<Value>>,
    pub processor: Option<S<String>>,
    /// Artillery's own engines settings (`ws`, `socketio`, …) are not read.
    pub engines: Option<S<Value>>,
    /// Files Artillery bundles for its cloud runs (processors' dependencies): not read.
    pub include_files: Option<S<Value>>,
    /// A script format version some scripts carry: not read.
    pub version: Option<S<Value>>,
}

/// What `-e NAME` overrides.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Environment {
    pub target: Option<S<String>>,
    pub phases: Option<Vec<S<Phase>>>,
    pub payload: Option<S<Value>>,
    #[serde(default)]
    pub variables: BTreeMap<String, S<Value>>,
    pub defaults: Option<Defaults>,
    pub http: Option<Http>,
    pub ensure: Option<S<Ensure>>,
    #[serde(default)]
    pub plugins: BTreeMap<String, S<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Phase {
    pub name: Option<String>,
    pub duration: Option<S<Value>>,
    /// Numbers, or a `{{ }}` template resolved when the script is read.
    pub arrival_rate: Option<S<Value>>,
    pub ramp_to: Option<S<Value>>,
    pub arrival_count: Option<S<Value>>,
    pub pause: Option<S<Value>>,
    pub max_vusers: Option<S<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    /// `false`: a capture is strict only when it says `strict: true`.
    #[serde(rename = "strictCapture")]
    pub strict_capture: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Http {
    /// Seconds (or a `{{ }}` template resolved when the script is read).
    pub timeout: Option<S<Value>>,
    pub max_sockets: Option<S<u64>>,
    /// `http.defaults.strictCapture`, as `config.defaults.strictCapture`.
    pub defaults: Option<Defaults>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Tls {
    pub reject_unauthorized: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Ensure {
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    pub median: Option<f64>,
    pub max_error_rate: Option<f64>,
    #[serde(default)]
    pub thresholds: Vec<BTreeMap<String, f64>>,
    #[serde(default)]
    pub conditions: Vec<S<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    pub name: Option<S<String>>,
    pub weight: Option<S<u32>>,
    pub flow: Option<S<Flow>>,
    pub engine: Option<S<String>>,
    pub before_scenario: Option<S<Value>>,
    pub after_scenario: Option<S<Value>>,
    pub before_request: Option<S<Value>>,
    pub after_response: Option<S<Value>>,
}

/// A flow: its steps, each a map with one action (`get`, `think`, `loop`, …).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Flow(pub Vec<S<BTreeMap<String, S<Value>>>>);
