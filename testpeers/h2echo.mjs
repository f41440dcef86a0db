// An HTTPS receiver speaking HTTP/2 (and HTTP/1.1 for clients without ALPN h2), for testing
// that secmat's gateway reaches TLS receivers behind a private CA over HTTP/2. It checks no
// token; it echoes what arrived.
//
//   TLS_KEY=key.pem TLS_CERT=cert.pem node h2echo.mjs PORT    (0 = any free port)
//
// Answers every request 200 {http_version, method, path, authorization: "bearer"|"other"|"none"}.
import fs from 'node:fs';
import http2 from 'node:http2';
import { announce, listen, portArg } from './lib.mjs';

const server = http2.createSecureServer(
  { key: fs.readFileSync(process.env.TLS_KEY), cert: fs.readFileSync(process.env.TLS_CERT), allowHTTP1: true },
  (req, res) => {
    const authz = req.headers.authorization || '';
    const body = JSON.stringify({
      http_version: req.httpVersion,
      method: req.method,
      path: req.url,
      authorization: /^Bearer \S+$/.test(authz) ? 'bearer' : authz ? 'other' : 'none',
    });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  },
);

announce(await listen(server, portArg()));
