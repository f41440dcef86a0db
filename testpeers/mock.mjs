// axa-group/oauth2-mock-server: a permissive authorization server that signs
// RS256 JWTs for any client (it authenticates nobody) and accepts form or JSON
// token requests. This file adds the /__peer/* recorder and the TTL options
// through the library's own events.
//
//   node mock.mjs PORT        (0 = any free port; prints `listening on 127.0.0.1:PORT`)
//
// env: TOKEN_TTL (s, default 3600; the library hard-codes 3600),
//      SHORT_TTL (s, default 5; applied when the client id is short-client)
import http from 'node:http';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';
import { Recorder, announce, classifyAuth, envSeconds, listen, portArg } from './lib.mjs';

const TOKEN_TTL = envSeconds('TOKEN_TTL', 3600);
const SHORT_TTL = envSeconds('SHORT_TTL', 5);

const issuer = new OAuth2Issuer();
await issuer.keys.generate('RS256');
const service = new OAuth2Service(issuer);

const bodyOf = (req) => (req.body && typeof req.body === 'object' ? req.body : {});
const ttlFor = (req) => (classifyAuth(req.headers, bodyOf(req)).client_id === 'short-client' ? SHORT_TTL : TOKEN_TTL);
service.on('beforeTokenSigning', (token, req) => {
  token.payload.exp = token.payload.iat + ttlFor(req);
});
service.on('beforeResponse', (response, req) => {
  if (response.body?.expires_in !== undefined) response.body.expires_in = ttlFor(req);
});

const rec = new Recorder('token');
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const peer = rec.handle(req.method, url.pathname);
  if (peer) {
    const data = JSON.stringify(peer.body);
    res.writeHead(peer.status, { 'content-type': 'application/json' }).end(data);
    return;
  }
  if (url.pathname.replace(/\/$/, '') === '/token') {
    // Record just before the answer goes out (the body is parsed by then), so
    // a client that reads /__peer/stats after its answer always sees its request.
    const writeHead = res.writeHead;
    res.writeHead = function recordingWriteHead(status, ...rest) {
      res.writeHead = writeHead;
      const params = { ...bodyOf(req) };
      const { auth, client_id, basic_raw_id } = classifyAuth(req.headers, params);
      rec.record({
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: { ...req.headers },
        params,
        auth,
        client_id,
        basic_raw_id,
        grant_type: params.grant_type ?? null,
        content_type: req.headers['content-type'] ?? null,
        status,
      });
      return writeHead.call(this, status, ...rest);
    };
  }
  service.requestHandler(req, res);
});

const port = await listen(server, portArg());
issuer.url = `http://127.0.0.1:${port}`;
announce(port);
