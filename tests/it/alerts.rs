//! The bundled alert rules: promtool accepts them, every alert has a firing and a silent
//! case in `promtool test rules`, every alert links a runbook section, and every metric the
//! rules use is one loadpacer exports.

use crate::support;

use loadpacer::metrics::names::{FAMILIES, PREFIX};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn rules_pass_promtool_check_and_unit_tests() {
    support::tool_ok(
        "promtool",
        &["check", "rules", "alerts/loadpacer.rules.yml"],
    );
    support::tool_ok(
        "promtool",
        &["test", "rules", "alerts/tests/loadpacer.test.yml"],
    );
}

#[test]
fn every_alert_is_tested_and_has_a_runbook_section() {
    let rules = std::fs::read_to_string(root().join("alerts/loadpacer.rules.yml")).unwrap();
    let tests = std::fs::read_to_string(root().join("alerts/tests/loadpacer.test.yml")).unwrap();
    let runbooks = std::fs::read_to_string(root().join("docs/runbooks.md")).unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 10, "{alerts:?}");
    for a in alerts {
        assert!(
            tests.contains(&format!("alertname: {a}")),
            "{a} has no promtool test"
        );
        assert!(
            runbooks.contains(&format!("## {a}")),
            "{a} has no runbook section"
        );
        assert!(
            rules.contains(&format!("docs/runbooks.md#{}", a.to_lowercase())),
            "{a} runbook_url"
        );
    }
}

#[test]
fn every_metric_used_by_the_rules_is_exported() {
    let rules = std::fs::read_to_string(root().join("alerts/loadpacer.rules.yml")).unwrap();
    let re = regex::Regex::new(r"\bloadpacer_([a-z0-9_]+)").unwrap();
    for cap in re.captures_iter(&rules) {
        let name = &cap[1];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(
            FAMILIES.iter().any(|(f, _)| *f == base),
            "{PREFIX}{name} is used by a rule but not exported"
        );
    }
}
