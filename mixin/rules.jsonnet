// `jsonnet -J . mixin/rules.jsonnet`: the rule file a Prometheus loads, with the mixin's
// configuration (pass `--ext-str runbook=PATTERN` to set runbookURLPattern).
local mixin = (import 'mixin.libsonnet') + {
  _config+:: { runbookURLPattern: std.extVar('runbook') },
};
{ groups: mixin.prometheusRules.groups + mixin.prometheusAlerts.groups }
