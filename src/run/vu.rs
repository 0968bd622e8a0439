//! What a virtual user carries between steps (its variables and connection) and where it
//! books what it measured.

use super::http::ConnSlot;
use crate::config::Vars;
use crate::measure::Recorder;
use crate::sync::LockExt;
use std::collections::HashMap;

/// Per-VU variables: captures, the current CSV row, setup captures.
#[derive(Debug, Clone, Default)]
pub struct VuState {
    pub vars: HashMap<String, String>,
    pub vu: u64,
    pub iteration: u64,
    /// Its `vu_setup` steps have run and passed.
    pub ready: bool,
    /// Requests of this VU that failed or failed a check, ever: how a `vu_setup` run knows
    /// it did not pass.
    pub failures: u64,
    /// The status of its last response (`if: status == 200`).
    pub last_status: Option<u16>,
    /// The VU's own connection (direct transport only).
    pub conn: ConnSlot,
    /// Variables captured from JSON as a number, boolean, null, array or object (their text
    /// is in `vars`): `"{{ name }}"` alone in a JSON body keeps that type.
    pub json_typed: std::collections::HashSet<String>,
}

impl VuState {
    /// A branch for a request sent beside others (`parallel`): the same variables, its own
    /// connection, no failures or status of its own yet.
    pub fn branch(&self) -> VuState {
        VuState {
            vars: self.vars.clone(),
            vu: self.vu,
            iteration: self.iteration,
            ready: self.ready,
            failures: 0,
            last_status: None,
            conn: ConnSlot::default(),
            json_typed: self.json_typed.clone(),
        }
    }

    /// Puts a JSON value in a variable: a string as its text, anything else as JSON that keeps
    /// its type in a JSON body.
    pub fn set_value(&mut self, var: &str, v: &serde_json::Value) {
        match v {
            serde_json::Value::String(s) => {
                self.vars.insert(var.to_string(), s.clone());
                self.json_typed.remove(var);
            }
            other => {
                self.vars.insert(var.to_string(), other.to_string());
                self.json_typed.insert(var.to_string());
            }
        }
    }

    /// Takes back what a branch captured and counted.
    pub fn join(&mut self, branch: VuState) {
        for (k, v) in branch.vars {
            if self.vars.get(&k) != Some(&v) {
                self.vars.insert(k, v);
            }
        }
        self.json_typed.extend(branch.json_typed);
        self.failures += branch.failures;
        self.last_status = branch.last_status.or(self.last_status);
    }
}

impl Vars for VuState {
    fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
    fn vu(&self) -> u64 {
        self.vu
    }
    fn iteration(&self) -> u64 {
        self.iteration
    }
}

/// Where an iteration books what it measured: the worker's own recorder, written as each
/// request completes (not when the iteration ends), so a request lands in the window in
/// which it completed and nothing is lost when an iteration is cut at the stop deadline.
/// The worker polls its iterations itself, so the lock is never contended; it only makes
/// the shared recorder `Send`.
pub type Sink = std::sync::Mutex<Recorder>;

/// Locks a sink; a panic elsewhere never makes the figures unreadable.
pub fn lock(sink: &Sink) -> std::sync::MutexGuard<'_, Recorder> {
    sink.locked()
}

impl crate::config::GuardedSpec {
    /// [`crate::config::GuardedSpec::allows_with`] for a VU.
    pub fn allows(&self, vu: &VuState) -> bool {
        self.allows_with(&|name| vu.vars.get(name).cloned(), vu.last_status)
    }
}
