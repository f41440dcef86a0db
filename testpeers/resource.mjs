// A small protected resource server: accepts `Authorization: Bearer <JWT>` when
// the JWT verifies against one of the JWKS in RS_JWKS and has not expired
// (jose jwtVerify, no clock tolerance), and echoes the request as JSON.
//
//   node resource.mjs PORT    (0 = any free port; prints `listening on 127.0.0.1:PORT`)
//
// env: RS_JWKS  comma-separated JWKS URLs (e.g. http://127.0.0.1:PORT/jwks of oidc.mjs
//               or mock.mjs). Without it every token is rejected.
//
// GET|POST|... /any/path  200 {ok, method, path, query, headers, body_bytes, token:{claims}}
// /status/NNN             answers NNN after authentication (below 200: 400), same echo body
// ?delay_ms=N             waits N ms (at most 120000) before answering, after authentication
// /hang, /hang/...        never answers (no authentication needed)
// POST /upload            counts the body bytes as they stream in (any path does)
// GET /download?bytes=N   streams N bytes of application/octet-stream
// POST /__peer/revoke     body: a token or a jti (raw, or form/JSON `token=` / `jti=`);
//                         that token is rejected from then on
// GET /__peer/stats, GET /__peer/requests, POST /__peer/reset
import http from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Recorder, announce, listen, portArg, readAll, sendJson } from './lib.mjs';

const jwks = (process.env.RS_JWKS || '').split(',').map((s) => s.trim()).filter(Boolean)
  .map((url) => ({ url, set: createRemoteJWKSet(new URL(url), { cooldownDuration: 0 }) }));
const revoked = new Set();
const rec = new Recorder('resource');
const CHALLENGE = 'Bearer realm="testpeers"';

async function verify(token) {
  if (revoked.has(token)) return { ok: false, reasons: ['revoked'] };
  const reasons = [];
  for (const { url, set } of jwks) {
    try {
      const { payload } = await jwtVerify(token, set);
      if (payload.jti !== undefined && revoked.has(payload.jti)) return { ok: false, reasons: ['revoked'] };
      return { ok: true, claims: payload };
    } catch (e) {
      reasons.push(`${url}: ${e.code || e.message}`);
    }
  }
  if (jwks.length === 0) reasons.push('RS_JWKS is not set');
  return { ok: false, reasons };
}

function revokedValue(text, contentType) {
  const t = text.trim();
  if (/^application\/json\b/i.test(contentType || '')) {
    try {
      const j = JSON.parse(t);
      return typeof j === 'string' ? j : (j.token ?? j.jti);
    } catch { return t; }
  }
  if (/^(token|jti)=/.test(t)) {
    const p = new URLSearchParams(t);
    return p.get('token') ?? p.get('jti');
  }
  return t;
}

async function streamBytes(res, n) {
  const chunk = Buffer.alloc(64 * 1024, 0x61); // 'a'
  let left = n;
  while (left > 0 && !res.destroyed) {
    const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
    left -= part.length;
    if (!res.write(part)) {
      await new Promise((resolve) => {
        const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  res.end();
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  const query = Object.fromEntries(url.searchParams);
  const base = { method: req.method, path, query, headers: { ...req.headers } };

  if (path === '/__peer/revoke' && req.method === 'POST') {
    const value = revokedValue((await readAll(req)).toString('utf8'), req.headers['content-type']);
    if (value) revoked.add(value);
    sendJson(res, value ? 200 : 400, value ? { revoked: value } : { error: 'empty body' });
    return;
  }
  const peer = rec.handle(req.method, path);
  if (peer) {
    req.resume();
    sendJson(res, peer.status, peer.body);
    return;
  }
  if (path === '/hang' || path.startsWith('/hang/')) {
    rec.record({ ...base, auth: null, client_id: null, status: null, body_bytes: null, error: null });
    req.resume();
    return; // never answered; the client has to give up
  }

  const authz = req.headers.authorization || '';
  const m = /^Bearer +(\S+) *$/i.exec(authz);
  const auth = m ? 'bearer' : authz ? 'other' : 'none';
  const v = m ? await verify(m[1]) : { ok: false, reasons: [authz ? 'not a Bearer authorization' : 'no Authorization header'] };
  if (!v.ok) {
    req.resume();
    rec.record({ ...base, auth, client_id: null, status: 401, body_bytes: null, error: 'invalid_token' });
    // RFC 6750 3.1: no error code when the request carried no token at all
    const challenge = m ? `${CHALLENGE}, error="invalid_token"` : CHALLENGE;
    sendJson(res, 401, { error: m ? 'invalid_token' : 'unauthorized', reasons: v.reasons }, { 'www-authenticate': challenge });
    return;
  }

  let bodyBytes = 0;
  for await (const c of req) bodyBytes += c.length; // counted, never buffered
  const delay = Math.min(Math.max(Number(url.searchParams.get('delay_ms')) || 0, 0), 120_000);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));

  const claims = v.claims;
  const client_id = claims.client_id ?? claims.sub ?? null;
  const forced = /^\/status\/(\d{3})$/.exec(path);
  let status = forced ? Number(forced[1]) : 200;
  if (status < 200) status = 400;

  if (path === '/download' && !forced) {
    const n = Math.max(0, Math.floor(Number(url.searchParams.get('bytes')) || 0));
    rec.record({ ...base, auth, client_id, status, body_bytes: bodyBytes, error: null });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
    await streamBytes(res, n);
    return;
  }

  rec.record({ ...base, auth, client_id, status, body_bytes: bodyBytes, error: null });
  if (status === 204 || status === 304) {
    res.writeHead(status).end();
    return;
  }
  sendJson(res, status, { ok: status < 400, ...base, body_bytes: bodyBytes, token: claims });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch(() => {
    // typically the client went away mid-body; never let that take the peer down
    if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: 'peer_error' });
    else res.destroy();
  });
});
server.keepAliveTimeout = 65_000;

announce(await listen(server, portArg()));
