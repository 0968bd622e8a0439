// The `k6/data` module: SharedArray, built once per VU's init context and frozen (read-only).
export class SharedArray {
  constructor(name, fn) {
    if (typeof fn !== 'function') throw new TypeError('SharedArray needs a function returning an array');
    const data = fn();
    if (!Array.isArray(data)) throw new TypeError('the SharedArray function must return an array');
    const frozen = data.map((x) => (x && typeof x === 'object' ? deepFreeze(x) : x));
    return Object.freeze(frozen);
  }
}

function deepFreeze(o) {
  Object.values(o).forEach((v) => { if (v && typeof v === 'object') deepFreeze(v); });
  return Object.freeze(o);
}

export default { SharedArray };
