// Shared bits of the test peers: the port argument, the `listening on` line,
// and the /__peer/* request recorder. No OAuth logic lives here.

export const HOST = '127.0.0.1';
const MAX_RECORDS = 10_000;

// `node X.mjs PORT` (0 = any free port)
export function portArg() {
  const port = Number(process.argv[2] ?? process.env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error('usage: node <peer>.mjs PORT   (0 = pick a free port)');
    process.exit(2);
  }
  return port;
}

export function envSeconds(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`${name} must be a positive whole number of seconds, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
}

// Listens on HOST:port and resolves to the real port.
export function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

// The one line a starter waits for. With PEER_STDIN_LIFELINE=1 the peer exits
// when its stdin closes, so it cannot outlive a parent that died without
// cleaning up (the Rust harness sets it and keeps a pipe open).
export function announce(port) {
  process.stdout.write(`listening on ${HOST}:${port}\n`);
  if (process.env.PEER_STDIN_LIFELINE === '1') {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  }
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
}

export function queryObject(searchParams) {
  return Object.fromEntries(searchParams);
}

// Which client authentication was on the wire. `params` is the parsed body.
// The Basic id is form-urldecoded as RFC 6749 2.3.1 requires; basic_raw_id is
// the id exactly as it appeared in the header.
export function classifyAuth(headers, params) {
  const authz = headers.authorization;
  let basicRawId = null;
  if (typeof authz === 'string' && /^basic /i.test(authz)) {
    const decoded = Buffer.from(authz.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    basicRawId = i < 0 ? decoded : decoded.slice(0, i);
  }
  const hasSecretInBody = params != null && typeof params === 'object' && params.client_secret !== undefined;
  let auth = 'none';
  if (basicRawId !== null) auth = hasSecretInBody ? 'basic+post' : 'basic';
  else if (hasSecretInBody) auth = 'post';
  let clientId = params != null && typeof params.client_id === 'string' ? params.client_id : null;
  if (basicRawId !== null) {
    try {
      clientId = decodeURIComponent(basicRawId.replace(/\+/g, '%20'));
    } catch {
      clientId = basicRawId;
    }
  }
  return { auth, client_id: clientId, basic_raw_id: basicRawId };
}

// Parses a request body the way the peer's content type says: JSON or form.
export function parseBody(contentType, buf) {
  const text = buf.toString('utf8');
  if (text === '') return {};
  if (/^application\/json\b/i.test(contentType || '')) {
    try {
      return JSON.parse(text);
    } catch {
      return { _unparsed: text };
    }
  }
  return Object.fromEntries(new URLSearchParams(text));
}

// Counters and recorded requests behind GET /__peer/stats, GET /__peer/requests
// and POST /__peer/reset. kind: 'token' (authorization servers) or 'resource'.
export class Recorder {
  constructor(kind) {
    this.kind = kind;
    this.reset();
  }

  reset() {
    this.total = 0;
    this.success = 0;
    this.errors = 0;
    this.byClient = {};
    this.byAuth = {};
    this.records = [];
  }

  // rec.status: the HTTP status, or null for a request that is never answered.
  record(rec) {
    this.total += 1;
    if (rec.status != null) {
      if (rec.status >= 200 && rec.status < 300) this.success += 1;
      else this.errors += 1;
    }
    if (rec.client_id) this.byClient[rec.client_id] = (this.byClient[rec.client_id] || 0) + 1;
    if (rec.auth) this.byAuth[rec.auth] = (this.byAuth[rec.auth] || 0) + 1;
    this.records.push({ n: this.total, ...rec });
    if (this.records.length > MAX_RECORDS) this.records.shift();
  }

  stats() {
    const k = this.kind;
    return {
      [`${k}_requests`]: this.total,
      [`${k}_success`]: this.success,
      [`${k}_errors`]: this.errors,
      by_client: this.byClient,
      by_auth: this.byAuth,
    };
  }

  // {status, body} for a /__peer/* path, null for any other path.
  handle(method, path) {
    if (!path.startsWith('/__peer/')) return null;
    const key = `${method} ${path}`;
    if (key === 'GET /__peer/stats') return { status: 200, body: this.stats() };
    if (key === 'GET /__peer/requests') return { status: 200, body: { requests: this.records } };
    if (key === 'POST /__peer/reset') {
      this.reset();
      return { status: 200, body: this.stats() };
    }
    return { status: 404, body: { error: 'unknown peer endpoint' } };
  }
}

export async function readAll(stream, limit = 1 << 20) {
  const chunks = [];
  let n = 0;
  for await (const c of stream) {
    n += c.length;
    if (n > limit) throw new Error('body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export function sendJson(res, status, body, headers = {}) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers });
  res.end(data);
}
