// jslib.k6.io's k6-summary, built in: `textSummary(data, options)` renders handleSummary's
// data as text, in the spirit of k6's end-of-test summary.
function duration(ms) {
  if (ms === null || ms === undefined) return '-';
  if (ms >= 1000) return (ms / 1000).toFixed(2) + 's';
  if (ms >= 1) return ms.toFixed(2) + 'ms';
  return (ms * 1000).toFixed(2) + 'µs';
}

function number(x) {
  if (x === null || x === undefined) return '-';
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}

function values(m, stats) {
  const v = m.values;
  switch (m.type) {
    case 'trend': {
      const f = m.contains === 'time' ? duration : number;
      return stats.filter((s) => s in v).map((s) => `${s}=${f(v[s])}`).join(' ');
    }
    case 'counter': return `${number(v.count)} ${number(v.rate)}/s`;
    case 'rate': return `${(v.rate * 100).toFixed(2)}% ✓ ${v.passes} ✗ ${v.fails}`;
    default: return `value=${number(v.value)} min=${number(v.min)} max=${number(v.max)}`;
  }
}

function checks(group, pad, lines) {
  for (const c of group.checks) {
    const mark = c.fails === 0 ? '✓' : '✗';
    lines.push(`${pad}${mark} ${c.name}`);
    if (c.fails > 0) {
      const pct = Math.round((100 * c.passes) / (c.passes + c.fails));
      lines.push(`${pad}  ↳  ${pct}% — ✓ ${c.passes} / ✗ ${c.fails}`);
    }
  }
  for (const g of group.groups) {
    lines.push(`${pad}█ ${g.name}`);
    checks(g, pad + '  ', lines);
  }
}

export function textSummary(data, options) {
  const indent = (options && options.indent) || ' ';
  const lines = [];
  checks(data.root_group, indent, lines);
  if (lines.length) lines.push('');
  const stats = (data.options && data.options.summaryTrendStats) || ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'];
  const names = Object.keys(data.metrics).sort();
  const width = Math.max(...names.map((n) => n.length)) + 3;
  for (const name of names) {
    lines.push(`${indent}${name}${'.'.repeat(width - name.length)}: ${values(data.metrics[name], stats)}`);
  }
  return lines.join('\n') + '\n';
}

export function jUnit() {
  throw new Error('jUnit() of k6-summary is not built in: use loadpacer run --junit FILE');
}
