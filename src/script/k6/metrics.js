// The `k6/metrics` module: a script's own metrics, declared in the init context (where
// loadpacer reads them to declare the plan's metrics) and fed during iterations.
const host = globalThis.__loadpacer;

class Metric {
  constructor(kind, name, isTime) {
    if (typeof name !== 'string' || name === '') throw new TypeError('a metric needs a name');
    this.name = name;
    this.kind = kind;
    this.isTime = !!isTime;
    host.declareMetric(kind, name, this.isTime);
  }
  add(value, tags) {
    let v = value;
    if (typeof v === 'boolean') v = v ? 1 : 0;
    host.metric(this.name, Number(v));
    return true;
  }
}

export class Counter extends Metric { constructor(name, isTime) { super('counter', name, isTime); } }
export class Gauge extends Metric { constructor(name, isTime) { super('gauge', name, isTime); } }
export class Rate extends Metric {
  constructor(name) { super('rate', name, false); }
  add(value, tags) { return super.add(value ? 1 : 0, tags); }
}
export class Trend extends Metric { constructor(name, isTime) { super('trend', name, isTime); } }

export default { Counter, Gauge, Rate, Trend };
