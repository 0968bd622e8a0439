// jslib.k6.io's k6-utils, built in so that its remote import works offline.
export function randomIntBetween(min, max) {
  return Math.floor(Math.random() * (max - min + 1) + min);
}
export function randomItem(items) {
  return items[Math.floor(Math.random() * items.length)];
}
export function randomString(length, charset) {
  const chars = charset || 'abcdefghijklmnopqrstuvwxyz';
  let s = '';
  for (let i = 0; i < length; i++) s += chars.charAt(Math.floor(Math.random() * chars.length));
  return s;
}
export function uuidv4() {
  const h = '0123456789abcdef';
  let s = '';
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) s += '-';
    else if (i === 14) s += '4';
    else if (i === 19) s += h[(Math.random() * 4) | 8];
    else s += h[(Math.random() * 16) | 0];
  }
  return s;
}
export function findBetween(content, left, right, repeat) {
  const out = [];
  let from = 0;
  for (;;) {
    const a = content.indexOf(left, from);
    if (a < 0) break;
    const b = content.indexOf(right, a + left.length);
    if (b < 0) break;
    const found = content.substring(a + left.length, b);
    if (!repeat) return found;
    out.push(found);
    from = b + right.length;
  }
  return repeat ? out : null;
}
export function normalDistributionStages(maxVus, durationSeconds, numberOfStages) {
  const n = numberOfStages || 10;
  const step = Math.max(1, Math.floor(durationSeconds / n));
  const stages = [];
  for (let i = 1; i <= n; i++) {
    const x = (i / n) * 6 - 3;
    stages.push({ duration: step + 's', target: Math.round(maxVus * Math.exp(-0.5 * x * x)) });
  }
  return stages;
}
