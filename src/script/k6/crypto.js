// The `k6/crypto` module: digests and HMACs computed natively, encoded here.
const host = globalThis.__loadpacer;
import encoding from 'k6/encoding';

function encode(buffer, outputEncoding) {
  switch (outputEncoding) {
    case 'hex': {
      const bytes = new Uint8Array(buffer);
      let s = '';
      for (let i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
      return s;
    }
    case 'base64': return encoding.b64encode(buffer, 'std');
    case 'base64url': return encoding.b64encode(buffer, 'url');
    case 'base64rawurl': return encoding.b64encode(buffer, 'rawurl');
    case 'binary': case undefined: case null: return buffer;
    default: throw new TypeError(`output encoding ${outputEncoding}: use hex, base64, base64url, base64rawurl or binary`);
  }
}

class Hasher {
  constructor(algorithm, key) {
    this.algorithm = String(algorithm);
    this.key = key;
    this.parts = [];
  }
  update(input) {
    this.parts.push(input);
    return this;
  }
  digest(outputEncoding) {
    return encode(host.digest(this.algorithm, this.key === undefined ? null : this.key, this.parts), outputEncoding);
  }
}

export function createHash(algorithm) { return new Hasher(algorithm); }
export function createHMAC(algorithm, secret) { return new Hasher(algorithm, secret); }
export function hmac(algorithm, secret, data, outputEncoding) { return createHMAC(algorithm, secret).update(data).digest(outputEncoding); }
export function md5(input, outputEncoding) { return createHash('md5').update(input).digest(outputEncoding); }
export function sha1(input, outputEncoding) { return createHash('sha1').update(input).digest(outputEncoding); }
export function sha256(input, outputEncoding) { return createHash('sha256').update(input).digest(outputEncoding); }
export function sha384(input, outputEncoding) { return createHash('sha384').update(input).digest(outputEncoding); }
export function sha512(input, outputEncoding) { return createHash('sha512').update(input).digest(outputEncoding); }
export function randomBytes(size) { return host.randomBytes(Number(size)); }

export default { createHash, createHMAC, hmac, md5, sha1, sha256, sha384, sha512, randomBytes };
