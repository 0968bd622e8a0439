//! The target's own resources, read from the Prometheus the user already runs: a Kubernetes
//! workload (cAdvisor and kube-state-metrics series) and node_exporter instances. Each figure
//! becomes a PromQL monitor named `target.*` or `node.*`, so it is polled, charted, exported
//! and judged like any other monitor.

use super::error::Collector;
use super::judging::{MonitorSource, MonitorSpec};
use super::limits::Limits;
use super::raw::{RawKubernetes, RawResources, S};
use super::rules::duration;
use super::target::check_url;
use std::time::Duration;

/// The figures read, by monitor name, and what each query returns.
///
/// | name | unit | PromQL (selector `{namespace, pod=~}`) |
/// |---|---|---|
/// | `target.cpu_cores` | cores | `sum(rate(container_cpu_usage_seconds_total[W]))` |
/// | `target.memory` | bytes | `sum(container_memory_working_set_bytes)` |
/// | `target.memory_limit` | bytes | `sum(kube_pod_container_resource_limits{resource="memory"})` |
/// | `target.restarts` | count since the run started | `sum(kube_pod_container_status_restarts_total)` |
/// | `target.ready_replicas` | pods | `sum(kube_pod_status_ready{condition="true"})` |
/// | `node.cpu` | busy ratio | `1 - avg(rate(node_cpu_seconds_total{mode="idle"}[W]))` |
///
/// `W` is `rate_window` (default 1m).
/// | `node.memory` | used ratio | `1 - sum(MemAvailable) / sum(MemTotal)` |
pub const TARGET_FIGURES: [&str; 7] = [
    "target.cpu_cores",
    "target.memory",
    "target.memory_limit",
    "target.restarts",
    "target.ready_replicas",
    "node.cpu",
    "node.memory",
];

/// The unit of a figure of [`TARGET_FIGURES`] (as `judge::with_unit` names units), or
/// `None` for another monitor (a user's, whose unit is that of the metric it feeds).
pub fn figure_unit(name: &str) -> Option<&'static str> {
    Some(match name {
        "target.cpu_cores" => "cores",
        "target.memory" | "target.memory_limit" => "bytes",
        "target.restarts" => "count",
        "target.ready_replicas" => "pods",
        "node.cpu" | "node.memory" => "ratio",
        _ => return None,
    })
}

/// Compiles a plan's `resources` block into PromQL monitors.
pub(super) fn target_resources(
    c: &mut Collector,
    limits: &Limits,
    r: &RawResources,
    path: &str,
) -> Vec<MonitorSpec> {
    let prometheus = check_url(c, limits, &r.prometheus, &format!("{path}.prometheus"));
    let every = r
        .every
        .as_ref()
        .and_then(|e| duration(c, e, &format!("{path}.every"), Duration::from_millis(100)))
        .unwrap_or(Duration::from_secs(5));
    let window = r
        .rate_window
        .as_ref()
        .and_then(|w| duration(c, w, &format!("{path}.rate_window"), Duration::from_secs(1)))
        .map_or_else(|| "1m".to_string(), |d| format!("{}ms", d.as_millis()));
    if r.kubernetes.is_none() && r.nodes.as_ref().is_none_or(Vec::is_empty) {
        c.at(
            &r.prometheus.referenced,
            path,
            "name what to watch: `kubernetes: { namespace, pods }` and/or `nodes: [instance, …]`",
        );
    }
    let mut queries: Vec<Query> = Vec::new();
    if let Some(k) = &r.kubernetes {
        queries.extend(kubernetes_queries(
            c,
            k,
            &format!("{path}.kubernetes"),
            &window,
        ));
    }
    if let Some(nodes) = r.nodes.as_ref().filter(|n| !n.is_empty()) {
        queries.extend(node_queries(c, nodes, path, &window));
    }
    let Some(prometheus) = prometheus else {
        return Vec::new();
    };
    queries
        .into_iter()
        .map(|(name, query, delta)| MonitorSpec {
            name: name.to_string(),
            source: MonitorSource::PromQl {
                prometheus: prometheus.clone(),
                query,
            },
            every,
            delta,
            feeds: None,
        })
        .collect()
}

/// A monitor's name, its PromQL, and whether it is judged as a change over the run.
type Query = (&'static str, String, bool);

/// The pods' CPU, memory, memory limit, restarts and ready replicas.
fn kubernetes_queries(c: &mut Collector, k: &RawKubernetes, kp: &str, window: &str) -> Vec<Query> {
    for (field, value) in [("namespace", &k.namespace), ("pods", &k.pods)] {
        if value.value.trim().is_empty() || value.value.contains(['"', '\\', '\n']) {
            c.at(
                &value.referenced,
                &format!("{kp}.{field}"),
                "must be a non-empty name or regex without quotes or backslashes",
            );
        }
    }
    if let Err(e) = regex::Regex::new(&format!("^(?:{})$", k.pods.value)) {
        c.at(
            &k.pods.referenced,
            &format!("{kp}.pods"),
            format!(
                "{:?} is not a valid regex (RE2 syntax, as PromQL's =~): {}",
                k.pods.value,
                e.to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches("error: ")
            ),
        );
    }
    let sel = format!(
        "namespace=\"{}\", pod=~\"{}\"",
        k.namespace.value, k.pods.value
    );
    let containers = format!("{sel}, container!=\"\", container!=\"POD\"");
    vec![
        (
            "target.cpu_cores",
            format!("sum(rate(container_cpu_usage_seconds_total{{{containers}}}[{window}]))"),
            false,
        ),
        (
            "target.memory",
            format!("sum(container_memory_working_set_bytes{{{containers}}})"),
            false,
        ),
        (
            "target.memory_limit",
            format!("sum(kube_pod_container_resource_limits{{{sel}, resource=\"memory\"}})"),
            false,
        ),
        (
            "target.restarts",
            format!("sum(kube_pod_container_status_restarts_total{{{sel}}})"),
            true,
        ),
        (
            "target.ready_replicas",
            format!("sum(kube_pod_status_ready{{{sel}, condition=\"true\"}})"),
            false,
        ),
    ]
}

/// The nodes' CPU and memory use, from node_exporter.
fn node_queries(c: &mut Collector, nodes: &[S<String>], path: &str, window: &str) -> Vec<Query> {
    for (i, n) in nodes.iter().enumerate() {
        if n.value.trim().is_empty() || n.value.contains(['"', '\\', '\n', '|']) {
            c.at(
                &n.referenced,
                &format!("{path}.nodes[{i}]"),
                "must be an instance label value such as 10.0.0.5:9100",
            );
        }
    }
    // A regex inside a PromQL string: its backslashes are escaped once more.
    let instances: Vec<String> = nodes
        .iter()
        .map(|n| regex::escape(n.value.trim()).replace('\\', "\\\\"))
        .collect();
    let sel = format!("instance=~\"{}\"", instances.join("|"));
    vec![
        (
            "node.cpu",
            format!("1 - avg(rate(node_cpu_seconds_total{{{sel}, mode=\"idle\"}}[{window}]))"),
            false,
        ),
        (
            "node.memory",
            format!("1 - sum(node_memory_MemAvailable_bytes{{{sel}}}) / sum(node_memory_MemTotal_bytes{{{sel}}})"),
            false,
        ),
    ]
}
