// The `k6` module: check, group, sleep, fail, randomSeed.
const host = globalThis.__loadpacer;

export function check(value, sets, tags) {
  let all = true;
  for (const name of Object.keys(sets || {})) {
    const f = sets[name];
    let ok;
    try {
      ok = typeof f === 'function' ? !!f(value) : !!f;
    } catch (e) {
      // As in k6: the check counts as failed, and the exception ends the iteration.
      host.check(String(name), false);
      throw e;
    }
    host.check(String(name), ok);
    if (!ok) all = false;
  }
  return all;
}

export function group(name, fn) {
  if (typeof fn !== 'function') throw new TypeError('group() needs a function');
  host.groupEnter(String(name));
  try {
    return fn();
  } finally {
    host.groupLeave();
  }
}

export function sleep(seconds) {
  host.sleep(Number(seconds) || 0);
}

export function fail(message) {
  throw new Error(message === undefined ? 'fail() called' : String(message));
}

// Math.random from a seeded generator (mulberry32), as k6's randomSeed makes it repeatable.
export function randomSeed(seed) {
  let a = Number(seed) >>> 0;
  Math.random = function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export default { check, group, sleep, fail, randomSeed };
