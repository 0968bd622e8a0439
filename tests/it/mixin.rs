//! The monitoring mixin (mixin/, jsonnet as node-mixin and kubernetes-mixin are): built with
//! the Debian `jsonnet`, it gives exactly the rules of alerts/loadpacer.rules.yml and the
//! dashboards of dashboards/, with runbook links from a configurable pattern, and promtool
//! accepts its output. The PrometheusRule generator takes a runbook base the same way.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn jsonnet(args: &[&str]) -> Value {
    let out = Command::new("jsonnet")
        .current_dir(root())
        .args(["-J", "."])
        .args(args)
        .output()
        .expect("jsonnet is installed by scripts/test.sh");
    assert!(
        out.status.success(),
        "jsonnet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn yaml_file(rel: &str) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(root().join(rel)).unwrap()).unwrap()
}

#[test]
fn the_mixin_gives_the_bundled_rules_and_dashboards() {
    // With the default pattern, rules and alerts together are the rule file itself.
    let rules = jsonnet(&[
        "--ext-str",
        "runbook=docs/runbooks.md#%s",
        "mixin/rules.jsonnet",
    ]);
    assert_eq!(rules, yaml_file("alerts/loadpacer.rules.yml"));

    let dashboards = jsonnet(&["-e", "(import 'mixin/mixin.libsonnet').grafanaDashboards"]);
    let files: Vec<_> = std::fs::read_dir(root().join("dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(
        dashboards.as_object().unwrap().len(),
        files.len(),
        "every dashboard"
    );
    for f in files {
        let name = format!("loadpacer-{}", f.file_name().unwrap().to_str().unwrap());
        let want: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(dashboards[&name], want, "{name}");
    }
}

#[test]
fn runbook_links_follow_the_configured_pattern_and_promtool_accepts_the_output() {
    let pattern = "http://127.0.0.1:8000/loadpacer/runbooks.html#%s";
    let rules = jsonnet(&[
        "--ext-str",
        &format!("runbook={pattern}"),
        "mixin/rules.jsonnet",
    ]);
    let mut alerts = 0;
    for r in rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
    {
        let Some(alert) = r["alert"].as_str() else {
            continue;
        };
        alerts += 1;
        assert_eq!(
            r["annotations"]["runbook_url"],
            format!(
                "http://127.0.0.1:8000/loadpacer/runbooks.html#{}",
                alert.to_lowercase()
            ),
        );
    }
    assert!(alerts >= 10);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.json");
    std::fs::write(&file, rules.to_string()).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules", file.to_str().unwrap()])
        .output()
        .expect("promtool is installed by scripts/test.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The PrometheusRule generator: RUNBOOK_BASE replaces docs/runbooks.md, nothing else.
    let pr = dir.path().join("pr.yaml");
    let status = Command::new("bash")
        .current_dir(root())
        .env("RUNBOOK_BASE", "http://127.0.0.1:8000/rb.md")
        .args(["scripts/gen-prometheusrule.sh", pr.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let generated: Value = yaml_file(pr.to_str().unwrap());
    let text = generated.to_string();
    assert!(!text.contains("docs/runbooks.md"));
    assert_eq!(
        text.matches("http://127.0.0.1:8000/rb.md#loadpacer")
            .count(),
        alerts
    );
    assert_eq!(
        generated["spec"]["groups"].as_array().unwrap().len(),
        rules["groups"].as_array().unwrap().len()
    );
}
