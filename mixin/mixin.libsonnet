// loadpacer's alerts, recording rules and Grafana dashboards as a monitoring mixin, the
// way node-mixin and kubernetes-mixin are packaged, for kube-prometheus and jsonnet users:
//
//   local loadpacer = (import 'loadpacer/mixin/mixin.libsonnet') + {
//     _config+:: { runbookURLPattern: std.extVar('runbooks') + '#%s' },
//   };
//   { 'loadpacer-rules.json': loadpacer.prometheusRules + loadpacer.prometheusAlerts }
//
// The rules and dashboards are read from the repository's own files
// (alerts/loadpacer.rules.yml, dashboards/*.json), so the mixin never drifts from what
// `promtool test rules` and the end-to-end tests check. Vendor the whole repository
// (`jb install github.com/OWNER/loadpacer@main`), not the mixin folder alone.
local source = std.parseYaml(importstr '../alerts/loadpacer.rules.yml');

local isAlertGroup(g) = std.length([r for r in g.rules if std.objectHas(r, 'alert')]) > 0;

{
  _config+:: {
    // `%s` is the alert's anchor in docs/runbooks.md (its name in lower case).
    runbookURLPattern: 'docs/runbooks.md#%s',
  },

  local runbook(r) =
    if std.objectHas(r, 'annotations') && std.objectHas(r.annotations, 'runbook_url') then
      r { annotations+: { runbook_url: $._config.runbookURLPattern % std.asciiLower(r.alert) } }
    else r,

  prometheusRules+:: {
    groups+: [g for g in source.groups if !isAlertGroup(g)],
  },

  prometheusAlerts+:: {
    groups+: [
      g { rules: [runbook(r) for r in g.rules] }
      for g in source.groups
      if isAlertGroup(g)
    ],
  },

  grafanaDashboards+:: {
    'loadpacer-overview.json': import '../dashboards/overview.json',
    'loadpacer-endpoints.json': import '../dashboards/endpoints.json',
    'loadpacer-capacity.json': import '../dashboards/capacity.json',
    'loadpacer-soak.json': import '../dashboards/soak.json',
    'loadpacer-streams.json': import '../dashboards/streams.json',
    'loadpacer-generator.json': import '../dashboards/generator.json',
  },
}
