//! The bundled Grafana dashboards, checked statically: structure, unique ids, units and
//! descriptions, defined variables, every query parses (as a promtool recording rule), and
//! every metric is one loadpacer exports; and every exported metric is shown somewhere.
//! `tests/it/prometheus_e2e.rs` runs every query against a real Prometheus.

use crate::support;

use loadpacer::metrics::names::FAMILIES;
use std::collections::HashSet;
use std::path::Path;

#[test]
fn dashboards_are_well_formed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let mut uids = HashSet::new();
    let re = regex::Regex::new(r"\$\{?([a-zA-Z_]+)").unwrap();
    for name in [
        "overview.json",
        "endpoints.json",
        "generator.json",
        "capacity.json",
        "streams.json",
    ] {
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_string()),
            "{name}: duplicate uid"
        );
        let vars: Vec<&str> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        for v in ["datasource", "job", "instance", "plan"] {
            assert!(vars.contains(&v), "{name}: variable {v} missing");
        }
        let mut ids = HashSet::new();
        for p in d["panels"].as_array().unwrap() {
            assert!(
                ids.insert(p["id"].as_i64().unwrap()),
                "{name}: duplicate panel id {}",
                p["id"]
            );
            if p["type"] == "row" {
                continue;
            }
            let title = p["title"].as_str().unwrap();
            assert!(
                !p["description"].as_str().unwrap_or("").is_empty(),
                "{name}/{title}: no description"
            );
            assert!(
                p["fieldConfig"]["defaults"]["unit"].is_string(),
                "{name}/{title}: no unit"
            );
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{name}/{title}: datasource must be the variable"
            );
            for t in p["targets"].as_array().unwrap() {
                let expr = t["expr"].as_str().unwrap();
                for c in re.captures_iter(expr) {
                    assert!(
                        vars.contains(&&c[1]) || c[1].starts_with("__"),
                        "{name}/{title}: ${} is not defined",
                        &c[1]
                    );
                }
            }
        }
    }
}

#[test]
fn every_query_parses_and_uses_exported_metrics() {
    let queries = support::dashboard_queries();
    assert!(queries.len() >= 30, "{}", queries.len());
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    let metric = regex::Regex::new(r"\bloadpacer_([a-z0-9_]+)").unwrap();
    for (i, (file, title, expr)) in queries.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dash:q{i}\n        expr: {}\n",
            serde_json::to_string(&support::substitute(expr)).unwrap()
        ));
        for c in metric.captures_iter(expr) {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .fold(&c[1], |n, s| n.strip_suffix(s).unwrap_or(n));
            assert!(
                FAMILIES.iter().any(|(f, _)| *f == base),
                "{file}/{title}: loadpacer_{} is not exported",
                &c[1]
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dash.rules.yml");
    std::fs::write(&path, rules).unwrap();
    support::tool_ok("promtool", &["check", "rules", path.to_str().unwrap()]);
}

#[test]
fn every_exported_metric_appears_in_a_dashboard_or_rule() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut used = std::fs::read_to_string(root.join("alerts/loadpacer.rules.yml")).unwrap();
    for (_, _, e) in support::dashboard_queries() {
        used.push_str(&e);
        used.push('\n');
    }
    for (name, _) in FAMILIES {
        assert!(
            used.contains(&format!("loadpacer_{name}")),
            "loadpacer_{name} is shown by no dashboard and no rule"
        );
    }
}
