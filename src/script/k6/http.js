// The `k6/http` module on loadpacer's HTTP client: every request is measured, judged and
// exported like a step request.
const host = globalThis.__loadpacer;

let callback = null;

export function expectedStatuses(...codes) {
  const ranges = [];
  for (const c of codes) {
    if (typeof c === 'number') ranges.push([c, c]);
    else if (c && typeof c.min === 'number' && typeof c.max === 'number') ranges.push([c.min, c.max]);
    else throw new TypeError('expectedStatuses takes status codes and {min, max} ranges');
  }
  return { __expected: ranges };
}

export function setResponseCallback(cb) {
  if (cb !== null && !(cb && cb.__expected)) {
    throw new TypeError('setResponseCallback takes http.expectedStatuses(...) or null');
  }
  callback = cb;
}

function dig(value, path) {
  if (path === undefined || path === null || path === '') return value;
  let v = value;
  for (const part of String(path).split('.')) {
    if (v === null || v === undefined) return undefined;
    if (part === '#' && Array.isArray(v)) return v.length;
    v = v[part];
  }
  return v;
}

class Response {
  constructor(r, request) {
    Object.assign(this, r);
    this.request = request;
  }
  json(selector) {
    if (this.body === null || this.body === undefined) {
      throw new Error('the response has no body (discardResponseBodies or responseType: none)');
    }
    return dig(JSON.parse(this.body), selector);
  }
  html() {
    throw new Error('Response.html() is not supported by loadpacer yet; use json() or a regular expression on body');
  }
}

function encodeForm(obj) {
  return Object.keys(obj)
    .map((k) => encodeURIComponent(k) + '=' + encodeURIComponent(obj[k] === undefined ? '' : String(obj[k])))
    .join('&');
}

function isFile(v) {
  return v && typeof v === 'object' && v.__file === true;
}

function encodeBody(body, headers) {
  if (body === null || body === undefined) return null;
  if (typeof body === 'string') return body;
  if (body instanceof ArrayBuffer) return body;
  if (typeof body === 'object') {
    const fields = Object.keys(body);
    if (fields.some((k) => isFile(body[k]))) {
      return host.multipart(body, headers);
    }
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    }
    return encodeForm(body);
  }
  return String(body);
}

function prepare(method, url, body, params) {
  const p = Object.assign({}, params || {});
  p.headers = Object.assign({}, p.headers || {});
  const expected = p.responseCallback !== undefined ? p.responseCallback : callback;
  p.expected = expected ? expected.__expected : null;
  delete p.responseCallback;
  const m = String(method).toUpperCase();
  let u = String(url);
  if (typeof url === 'object' && url !== null && url.url) {
    u = url.url;
    p.tags = Object.assign({ name: url.name }, p.tags || {});
  }
  const encoded = encodeBody(body, p.headers);
  return [m, u, encoded, p];
}

function wrap(r, call) {
  return new Response(r, { method: call[0], url: call[1], body: call[2], headers: call[3].headers });
}

export function request(method, url, body, params) {
  const call = prepare(method, url, body, params);
  return wrap(host.request(call[0], call[1], call[2], call[3]), call);
}

export function get(url, params) { return request('GET', url, null, params); }
export function head(url, params) { return request('HEAD', url, null, params); }
export function post(url, body, params) { return request('POST', url, body, params); }
export function put(url, body, params) { return request('PUT', url, body, params); }
export function patch(url, body, params) { return request('PATCH', url, body, params); }
export function del(url, body, params) { return request('DELETE', url, body, params); }
export function options(url, body, params) { return request('OPTIONS', url, body, params); }

export function batch(requests) {
  const list = Array.isArray(requests) ? requests.map((r, i) => [i, r]) : Object.keys(requests).map((k) => [k, requests[k]]);
  const calls = list.map(([, r]) => {
    if (typeof r === 'string') return prepare('GET', r, null, null);
    if (Array.isArray(r)) return prepare(r[0], r[1], r[2], r[3]);
    return prepare(r.method || 'GET', r.url, r.body, r.params);
  });
  // Sent at once, each on its own connection, as k6's batch does.
  const replies = host.batch(calls);
  const out = Array.isArray(requests) ? [] : {};
  list.forEach(([key], i) => { out[key] = wrap(replies[i], calls[i]); });
  return out;
}

export function file(data, filename, contentType) {
  return { __file: true, data, filename: filename || 'file', content_type: contentType || 'application/octet-stream' };
}

export function url(strings, ...values) {
  let u = '';
  strings.forEach((s, i) => { u += s + (i < values.length ? values[i] : ''); });
  const name = strings.map((s, i) => s + (i < values.length ? '${}' : '')).join('');
  return { url: u, name };
}

// The VU's own jar (k6 gives each VU one): cookies responses set are sent back by themselves.
const jar = {
  cookiesForURL(url) { return host.jarCookiesForURL(String(url)); },
  set(url, name, value, options) { host.jarSet(String(url), String(name), String(value), options && options.path ? String(options.path) : undefined); },
  clear(url) { host.jarClear(url === undefined ? undefined : String(url)); },
};

export function cookieJar() {
  return jar;
}

export const OCSP_STATUS_GOOD = 'good';

export default {
  request, get, head, post, put, patch, del, options, batch, file, url, cookieJar,
  expectedStatuses, setResponseCallback,
};
