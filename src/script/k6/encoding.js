// The `k6/encoding` module.
const host = globalThis.__loadpacer;

export function b64encode(input, encoding) {
  return host.b64encode(input, encoding || 'std');
}

export function b64decode(input, encoding, format) {
  return host.b64decode(String(input), encoding || 'std', format || '');
}

export default { b64encode, b64decode };
