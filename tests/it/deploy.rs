//! The deployment bundle, validated offline (no container engine or cluster here):
//! docker-compose.yml against the compose spec, the Dockerfile with hadolint, the core
//! Kubernetes manifests with kubernetes-validate --strict, the PrometheusRule regenerated
//! from alerts/ (never a drifting copy), and every embedded loadpacer config validates.

use crate::support;

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn compose_stack_dockerfile_and_monitoring_configs_validate() {
    support::tool_ok(
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.compose-spec",
            "docker-compose.yml",
        ],
    );
    support::tool_ok("hadolint", &["Dockerfile"]);
    support::tool_ok(
        "amtool",
        &["check-config", "deploy/compose/alertmanager.yml"],
    );
    support::tool_ok(
        "promtool",
        &[
            "check",
            "config",
            "--syntax-only",
            "deploy/compose/prometheus.yml",
        ],
    );
    let compose = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    for line in compose.lines().filter(|l| l.contains("ports:")) {
        assert!(
            line.contains("\"127.0.0.1:"),
            "ports are published on loopback only: {line}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_loadpacer"))
        .args(["validate", "deploy/compose/loadpacer.yaml"])
        .env("LOADPACER_TOKEN", "t")
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kubernetes_manifests_validate_and_the_rule_copy_is_generated() {
    for f in [
        "configmap",
        "secret",
        "statefulset",
        "service",
        "distributed-job",
        "distributed-cronjob",
    ] {
        support::tool_ok(
            "kubernetes-validate",
            &["--strict", &format!("deploy/kubernetes/{f}.yaml")],
        );
    }
    for f in ["servicemonitor", "podmonitor", "prometheusrule"] {
        let text =
            std::fs::read_to_string(root().join(format!("deploy/kubernetes/{f}.yaml"))).unwrap();
        assert!(text.contains("apiVersion: monitoring.coreos.com/v1"), "{f}");
    }
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("rule.yaml");
    support::tool_ok(
        "bash",
        &["scripts/gen-prometheusrule.sh", fresh.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read_to_string(&fresh).unwrap(),
        std::fs::read_to_string(root().join("deploy/kubernetes/prometheusrule.yaml")).unwrap(),
        "deploy/kubernetes/prometheusrule.yaml is stale: run scripts/gen-prometheusrule.sh"
    );
}

#[test]
fn configs_embedded_in_the_configmap_validate() {
    let cm = std::fs::read_to_string(root().join("deploy/kubernetes/configmap.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for key in ["loadpacer.yaml", "plan.yaml"] {
        let start = cm
            .find(&format!("  {key}: |\n"))
            .unwrap_or_else(|| panic!("{key} missing"))
            + key.len()
            + 6;
        let body: String = cm[start..]
            .lines()
            .take_while(|l| l.starts_with("    ") || l.is_empty())
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        let path = dir.path().join(key);
        std::fs::write(&path, body).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_loadpacer"))
            .args(["validate", path.to_str().unwrap()])
            .env("LOADPACER_TOKEN", "t")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
