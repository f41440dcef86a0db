// panva/oidc-provider as a client_credentials-only authorization server.
// The library does all the OAuth work; this file is configuration plus the
// /__peer/* recorder.
//
//   node oidc.mjs PORT        (0 = any free port; prints `listening on 127.0.0.1:PORT`)
//
// env: TOKEN_TTL (s, default 3600), SHORT_TTL (s, default 5; client short-client),
//      OIDC_DEFAULT_RESOURCE (default urn:peers:api; empty = no default, then a
//        request without `resource` gets an opaque token),
//      PEER_STRICT_AUTH=1 (401 invalid_client when the auth method on the wire is
//        not the client's registered one; the library itself accepts either.
//        Checked after the library has answered, so its own errors come first).
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { Provider, errors } from 'oidc-provider';
import { Recorder, announce, classifyAuth, envSeconds, listen, parseBody, portArg, readAll } from './lib.mjs';

const TOKEN_TTL = envSeconds('TOKEN_TTL', 3600);
const SHORT_TTL = envSeconds('SHORT_TTL', 5);
const DEFAULT_RESOURCE = process.env.OIDC_DEFAULT_RESOURCE ?? 'urn:peers:api';
const STRICT = process.env.PEER_STRICT_AUTH === '1';
const SCOPES = 'api:read api:write admin';
const SPECIAL_SECRET = 's3c:r%t+/=&?';

const clients = [
  ['basic-client', 'basic-secret', 'client_secret_basic'],
  ['post-client', 'post-secret', 'client_secret_post'],
  ['short-client', 'short-secret', 'client_secret_basic'],
  ['special-client', SPECIAL_SECRET, 'client_secret_basic'],
  ['special-post-client', SPECIAL_SECRET, 'client_secret_post'],
].map(([client_id, client_secret, token_endpoint_auth_method]) => ({
  client_id,
  client_secret,
  token_endpoint_auth_method,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
}));
const registered = Object.fromEntries(clients.map((c) => [c.client_id, c.token_endpoint_auth_method]));
const ttlFor = (client) => (client?.clientId === 'short-client' ? SHORT_TTL : TOKEN_TTL);

// The issuer must contain the real port, so bind first and build the provider after.
const server = http.createServer();
const port = await listen(server, portArg());
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `peer-${randomUUID().slice(0, 8)}`, alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: ['testpeers-not-a-secret'] },
  scopes: ['openid'],
  clientBasedCORS: () => false,
  renderError: (ctx, out) => { ctx.type = 'json'; ctx.body = out; },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf || DEFAULT_RESOURCE || undefined,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, resource, client) => {
        if (resource.includes('forbidden')) throw new errors.InvalidTarget();
        return {
          scope: SCOPES,
          audience: resource,
          accessTokenTTL: ttlFor(client),
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: {
    ClientCredentials: (_ctx, _token, client) => ttlFor(client),
    AccessToken: () => TOKEN_TTL,
  },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const rec = new Recorder('token');

provider.use(async (ctx, next) => {
  const peer = rec.handle(ctx.method, ctx.path);
  if (peer) {
    ctx.status = peer.status;
    ctx.body = peer.body;
    return;
  }
  if (ctx.path !== '/token') return next();
  try {
    await next();
  } finally {
    let params = ctx.oidc?.body;
    if (params === undefined) {
      // the library rejected the request before reading the body (e.g. a JSON body)
      params = {};
      if (ctx.req.readable && !ctx.req.readableEnded) {
        try { params = parseBody(ctx.get('content-type'), await readAll(ctx.req)); } catch { /* keep {} */ }
      }
    }
    params = { ...params };
    const { auth, client_id, basic_raw_id } = classifyAuth(ctx.headers, params);
    // strict mode only turns a success into a failure; the library's own errors stand
    if (STRICT && registered[client_id] && ctx.status < 300) {
      const used = { basic: 'client_secret_basic', post: 'client_secret_post' }[auth] ?? auth;
      if (used !== registered[client_id]) {
        ctx.status = 401;
        if (auth.startsWith('basic')) ctx.set('www-authenticate', `Basic realm="${issuer}", error="invalid_client"`);
        ctx.body = {
          error: 'invalid_client',
          error_description: `client ${client_id} is registered for ${registered[client_id]} but used ${used} (PEER_STRICT_AUTH)`,
        };
      }
    }
    let body = ctx.body;
    if (typeof body === 'string') { try { body = JSON.parse(body); } catch { /* not JSON */ } }
    rec.record({
      method: ctx.method,
      path: ctx.path,
      query: { ...ctx.query },
      headers: { ...ctx.headers },
      params,
      auth,
      client_id,
      basic_raw_id,
      grant_type: params.grant_type ?? null,
      content_type: ctx.get('content-type') || null,
      status: ctx.status,
      error: body && typeof body === 'object' && body.error ? body.error : null,
    });
  }
});

server.on('request', provider.callback());
announce(port);
