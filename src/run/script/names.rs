//! The request and check names a script's run discovers: a script builds its URLs at run
//! time, so its request table grows as it runs (bounded), and the run's output carries a
//! plan whose tables name every row the recorders filled.

use crate::config::{CheckKey, PlanSpec, RequestKey};
use crate::sync::LockExt;
use std::collections::HashMap;
use std::sync::Mutex;

/// Distinct request names (and check names) a script run keeps; beyond, rows are counted
/// under [`OTHER`] (k6 warns about the same thing: a URL per user makes series explode).
pub const MAX_NAMES: usize = 1000;

/// The row that takes what comes after [`MAX_NAMES`].
pub const OTHER: &str = "(other names)";

#[derive(Default)]
struct Tables {
    requests: Vec<RequestKey>,
    request_rows: HashMap<(String, String, String), usize>,
    checks: Vec<CheckKey>,
    check_rows: HashMap<(String, String), usize>,
}

/// Rows added after a plan's own (a script plan has none of its own).
pub struct Names {
    first_request: usize,
    first_check: usize,
    tables: Mutex<Tables>,
}

impl Names {
    pub fn new(plan: &PlanSpec) -> Self {
        Self {
            first_request: plan.requests.len(),
            first_check: plan.checks.len(),
            tables: Mutex::default(),
        }
    }

    /// The row of a request named `name` sent with `method` by `scenario`.
    pub fn request(&self, scenario: &str, name: &str, method: &str) -> usize {
        let mut t = self.tables.locked();
        let key = (scenario.to_string(), name.to_string(), method.to_string());
        if let Some(&i) = t.request_rows.get(&key) {
            return i;
        }
        let key = if t.requests.len() + 1 >= MAX_NAMES {
            (scenario.to_string(), OTHER.to_string(), method.to_string())
        } else {
            key
        };
        if let Some(&i) = t.request_rows.get(&key) {
            return i;
        }
        let i = self.first_request + t.requests.len();
        t.requests.push(RequestKey {
            scenario: key.0.clone(),
            name: key.1.clone(),
            method: key.2.clone(),
        });
        t.request_rows.insert(key, i);
        i
    }

    /// The row of check `name` (with its group path) in `scenario`.
    pub fn check(&self, scenario: &str, group: &str, name: &str) -> usize {
        let mut t = self.tables.locked();
        let full = if group.is_empty() {
            name.to_string()
        } else {
            format!("{group}::{name}")
        };
        let key = (scenario.to_string(), full);
        if let Some(&i) = t.check_rows.get(&key) {
            return i;
        }
        let key = if t.checks.len() + 1 >= MAX_NAMES {
            (scenario.to_string(), OTHER.to_string())
        } else {
            key
        };
        if let Some(&i) = t.check_rows.get(&key) {
            return i;
        }
        let i = self.first_check + t.checks.len();
        t.checks.push(CheckKey {
            scenario: key.0.clone(),
            request: String::new(),
            name: key.1.clone(),
        });
        t.check_rows.insert(key, i);
        i
    }

    /// The request and check rows found so far, after the plan's own.
    pub fn rows(&self) -> crate::run::observe::NamedRows {
        let t = self.tables.locked();
        crate::run::observe::NamedRows {
            requests: t.requests.clone(),
            checks: t.checks.clone(),
        }
    }

    /// `plan` with the rows found so far after its own.
    pub fn extend(&self, plan: &PlanSpec) -> PlanSpec {
        let t = self.tables.locked();
        let mut p = plan.clone();
        p.requests.extend(t.requests.iter().cloned());
        p.checks.extend(t.checks.iter().cloned());
        p.request_grades.resize(p.requests.len(), Vec::new());
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_rows_once_and_bounded() {
        let plan = crate::config::load_str(
            "targets: { t: { base_url: \"http://127.0.0.1:1\" } }\nplans:\n  p:\n    target: t\n    load: { target: 1, duration: 1s }\n    scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }]\n",
            "t.yaml",
            None,
            &|_| None,
        )
        .unwrap()
        .plans[0]
            .clone();
        let n = Names::new(&plan);
        assert_eq!(n.request("s", "a", "GET"), 1);
        assert_eq!(n.request("s", "b", "GET"), 2);
        assert_eq!(n.request("s", "a", "GET"), 1);
        assert_eq!(
            n.check("s", "::g", "ok"),
            0,
            "the plan has no checks of its own"
        );
        for i in 0..2 * MAX_NAMES {
            n.request("s", &format!("u{i}"), "GET");
        }
        let p = n.extend(&plan);
        assert_eq!(
            p.requests.len(),
            1 + MAX_NAMES,
            "the plan's own row, then the bound"
        );
        assert_eq!(p.requests.last().unwrap().name, OTHER);
        assert_eq!(p.checks[0].name, "::g::ok");
    }
}
