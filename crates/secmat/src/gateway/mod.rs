//! The HTTP receiver adapter: `ANY /gateway/{channel}/{path…}` forwards the request to the
//! channel's `Address/{path…}` with `Authorization: Bearer <token>` from the shared token cache,
//! so that any HTTP client can call an OAuth2-protected API without knowing OAuth2.
//!
//! - The caller authenticates to secmat (role `AccessTokenRead`); its own `Authorization` and
//!   `Proxy-Authorization` never reach the receiver. Hop-by-hop headers are removed;
//!   `X-Forwarded-For`, `-Proto` and `-Host` are added.
//! - Bodies stream in both directions. A request body of at most [`REPLAY_LIMIT`] with a known
//!   length is kept, so that after a `401` from the receiver the token that was used can be
//!   evicted (compare-and-evict: 100 concurrent 401s cause one new token request) and the request
//!   sent once more with a new token. Larger or chunked bodies are streamed and a 401 is passed
//!   through. A second 401 goes back to the caller unchanged.
//! - The channel's timeout bounds the token fetch and the wait for the receiver's response
//!   headers (not the body: a 1 GiB download may take longer).
//! - Each HTTP thread has its own connection pool (HTTP/1.1, and HTTP/2 over TLS by ALPN), so a
//!   request is handled on one thread from start to end.
//! - Two ways in, one set of rules ([`prepare`], [`acquire`], [`forward_prepared`]): plain
//!   HTTP/1.1 requests with their body in hand come from [`crate::front`] through [`lane`], which
//!   writes a plain-`http` receiver's answer straight back; the rest come through hyper and
//!   [`forward_request`].
//! - Errors a caller can act on get their own status and a short JSON body: 404 (no such channel
//!   or credential), 400 (dynamic credential header missing), 502 (token refused, receiver
//!   unreachable or broken), 503 (token provider unreachable), 504 (token or receiver timeout).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secmat_core::channel::{ChannelSpec, CredentialRef};
use secmat_core::token_cache::LatencyHistogram;
use secmat_core::token_response::TransportKind;
use secmat_core::{CachedToken, TokenError};
use secmat_store::Store;
use secrecy::ExposeSecret;
use serde_json::json;
use tokio::time::Instant;

mod h1;
pub mod lane;

pub use h1::content_length;

use crate::auth::Role;
use crate::odata::ApiError;
use crate::state::AppState;
use crate::tokens::{Resolved, TokenFailure};

/// Request bodies up to this size (with a known length) are kept for one replay after a 401.
pub const REPLAY_LIMIT: u64 = 1024 * 1024;
/// Time to connect to a receiver.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a channel read from the store is trusted before it is compared again.
const REVALIDATE: Duration = Duration::from_secs(5);
/// Headers that describe one connection and must not be forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// Counters of one channel.
#[derive(Default)]
pub struct ChannelStats {
    /// Responses by status class: 1xx … 5xx (index 0 … 4).
    pub by_class: [AtomicU64; 5],
    /// Requests sent again after the receiver answered 401.
    pub retries: AtomicU64,
    /// Time to the receiver's response headers.
    pub latency: LatencyHistogram,
}

impl ChannelStats {
    fn count(&self, status: StatusCode) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
    }

    fn observe(&self, d: Duration) {
        self.latency.observe(d);
    }
}

/// A channel as the gateway knows it: its definition and its counters.
struct KnownChannel {
    spec: Arc<ChannelSpec>,
    stats: Arc<ChannelStats>,
    /// Its address split for the lean client, when it is plain `http`.
    plain: Option<Plain>,
    version: i64,
    checked_at: Instant,
}

/// The gateway's shared state: channels (cached from the store), statistics, TLS settings.
pub struct Gateway {
    store: Arc<dyn Store>,
    tls: rustls::ClientConfig,
    id: u64,
    channels: RwLock<HashMap<String, Arc<KnownChannel>>>,
    stats: RwLock<HashMap<String, Arc<ChannelStats>>>,
}

thread_local! {
    /// One connection pool per HTTP thread (and gateway), so that pooled connections are driven
    /// by the thread that uses them.
    static CLIENTS: std::cell::RefCell<HashMap<u64, HttpsClient>> = std::cell::RefCell::new(HashMap::new());
}

static GATEWAY_IDS: AtomicU64 = AtomicU64::new(1);

impl Gateway {
    /// A gateway reading channels from `store`; `extra_ca_pem` adds trusted CAs for receivers.
    pub fn new(store: Arc<dyn Store>, extra_ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = extra_ca_pem {
            use rustls_pki_types::pem::PemObject as _;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
                roots.add(
                    cert.map_err(|e| anyhow::anyhow!("the extra CA bundle is not valid PEM: {e}"))?,
                )?;
            }
        }
        // ALPN (h2, http/1.1) is set by hyper-rustls from `enable_all_versions`.
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            store,
            tls,
            id: GATEWAY_IDS.fetch_add(1, Ordering::Relaxed),
            channels: RwLock::new(HashMap::new()),
            stats: RwLock::new(HashMap::new()),
        })
    }

    fn client(&self) -> HttpsClient {
        CLIENTS.with(|clients| {
            clients
                .borrow_mut()
                .entry(self.id)
                .or_insert_with(|| {
                    let mut http = HttpConnector::new();
                    http.enforce_http(false);
                    http.set_nodelay(true);
                    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
                    let https = hyper_rustls::HttpsConnectorBuilder::new()
                        .with_tls_config(self.tls.clone())
                        .https_or_http()
                        .enable_all_versions()
                        .wrap_connector(http);
                    Client::builder(TokioExecutor::new())
                        .pool_idle_timeout(Duration::from_secs(90))
                        .pool_max_idle_per_host(1024)
                        .build(https)
                })
                .clone()
        })
    }

    /// The channel `name`, from memory or the store.
    async fn channel(&self, name: &str) -> Result<Option<Arc<KnownChannel>>, ApiError> {
        let now = Instant::now();
        let known = self.channels.read().ok().and_then(|m| m.get(name).cloned());
        if let Some(k) = &known
            && now < k.checked_at + REVALIDATE
        {
            return Ok(known);
        }
        let Some(record) = self.store.get_channel(name).await? else {
            self.forget(name);
            return Ok(None);
        };
        let spec = match known {
            Some(k) if k.version == record.version => k.spec.clone(),
            _ => Arc::new(record.spec.clone()),
        };
        let known = Arc::new(KnownChannel {
            plain: plain(&spec.address),
            spec,
            stats: self.stats(name),
            version: record.version,
            checked_at: now,
        });
        if let Ok(mut m) = self.channels.write() {
            m.insert(record.spec.name.clone(), known.clone());
        }
        Ok(Some(known))
    }

    /// Forgets a channel at once (after this node edited or deleted it).
    pub fn forget(&self, name: &str) {
        if let Ok(mut m) = self.channels.write() {
            m.remove(name);
        }
    }

    /// The statistics of `name` (created on first use).
    pub fn stats(&self, name: &str) -> Arc<ChannelStats> {
        if let Some(s) = self.stats.read().ok().and_then(|m| m.get(name).cloned()) {
            return s;
        }
        let mut m = match self.stats.write() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        m.entry(name.to_owned()).or_default().clone()
    }

    /// Calls `f` with every channel's statistics, for metrics.
    pub fn for_each_stats(&self, mut f: impl FnMut(&str, &ChannelStats)) {
        if let Ok(m) = self.stats.read() {
            for (name, s) in m.iter() {
                f(name, s);
            }
        }
    }
}

/// A gateway error as a short JSON body.
fn fail(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    let mut res = (
        status,
        axum::Json(json!({"error": error, "error_description": description.into()})),
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn token_failure(f: &TokenFailure, credential: &str) -> Response {
    match f {
        TokenFailure::NotFound(_) => {
            fail(StatusCode::NOT_FOUND, "credential_not_found", f.to_string())
        }
        TokenFailure::Store(_) => fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store is unavailable; try again later",
        ),
        TokenFailure::Sealed(_) => fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "credential_unusable",
            f.to_string(),
        ),
        TokenFailure::Provider(p) => match &**p {
            TokenError::Transport {
                kind: TransportKind::Timeout,
                ..
            } => fail(
                StatusCode::GATEWAY_TIMEOUT,
                "token_timeout",
                format!("no token for '{credential}': {p}"),
            ),
            TokenError::Transport { .. } => fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "token_provider_unreachable",
                format!("no token for '{credential}': {p}"),
            ),
            _ => fail(
                StatusCode::BAD_GATEWAY,
                "token_refused",
                format!("no token for '{credential}': {p}"),
            ),
        },
    }
}

/// Splits `/gateway/{channel}/{rest}` (raw, percent-encoded) into the decoded channel name and
/// the rest of the path, still encoded, with a leading `/` (or empty).
fn split_path(path: &str) -> Option<(String, &str)> {
    let after = path.strip_prefix("/gateway/")?;
    let (channel, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    let channel = percent_encoding::percent_decode_str(channel)
        .decode_utf8()
        .ok()?
        .into_owned();
    (!channel.is_empty()).then_some((channel, rest))
}

/// A plain-`http` address split into its authority and what follows it (path, query), as
/// [`h1::Target`] wants them.
struct Plain {
    authority: String,
    rest: String,
}

/// [`Plain`] of `address`, if it is `http://` without user info or fragment (anything else goes
/// through hyper-util's client).
fn plain(address: &str) -> Option<Plain> {
    let scheme = address.get(..7)?;
    if !scheme.eq_ignore_ascii_case("http://") || address.contains(['@', '#']) {
        return None;
    }
    let after = &address[7..];
    let end = after.find(['/', '?']).unwrap_or(after.len());
    (end > 0).then(|| Plain {
        authority: after[..end].to_owned(),
        rest: after[end..].to_owned(),
    })
}

/// The receiver's URI: the channel's address, the rest of the caller's path, its query.
fn upstream_uri(address: &str, rest: &str, query: Option<&str>) -> Result<Uri, Box<Response>> {
    let mut s = String::with_capacity(address.len() + rest.len() + query.map_or(0, str::len) + 1);
    s.push_str(address);
    s.push_str(rest);
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    s.parse().map_err(|_| {
        Box::new(fail(
            StatusCode::BAD_REQUEST,
            "bad_path",
            "the path cannot be forwarded",
        ))
    })
}

/// Turns the caller's headers into the receiver's, in place: hop-by-hop headers, the caller's
/// credentials, `Host` and `skip` (the dynamic credential header) go; `X-Forwarded-For`, `-Proto`
/// and `-Host` come. The bearer token is added per attempt.
fn forwarded_headers(headers: &mut HeaderMap, skip: Option<&str>, peer: SocketAddr) {
    strip_hop_by_hop(headers);
    let host = headers.remove(header::HOST);
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::PROXY_AUTHORIZATION);
    if let Some(skip) = skip {
        headers.remove(skip);
    }
    let prior = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let xff = forwarded_for(prior, peer);
    headers.insert(X_FORWARDED_FOR, xff);
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST, host);
    }
}

thread_local! {
    /// The last caller address and the last token as header values: most requests repeat them,
    /// and a cloned value shares its bytes.
    static LAST_PEER: std::cell::RefCell<Option<(std::net::IpAddr, HeaderValue)>> = const { std::cell::RefCell::new(None) };
    static LAST_BEARER: std::cell::RefCell<Option<(Arc<CachedToken>, HeaderValue)>> = const { std::cell::RefCell::new(None) };
}

/// `X-Forwarded-For`: every value the caller sent, in order, then the caller's address.
fn forwarded_for<'a>(prior: impl Iterator<Item = &'a str>, peer: SocketAddr) -> HeaderValue {
    let mut prior = prior.peekable();
    if prior.peek().is_none() {
        return peer_value(peer.ip());
    }
    let mut chain = prior.collect::<Vec<_>>().join(", ");
    chain.push_str(", ");
    chain.push_str(&peer.ip().to_string());
    HeaderValue::from_str(&chain).unwrap_or_else(|_| peer_value(peer.ip()))
}

fn peer_value(ip: std::net::IpAddr) -> HeaderValue {
    LAST_PEER.with_borrow_mut(|last| match last {
        Some((seen, v)) if *seen == ip => v.clone(),
        _ => {
            let v = HeaderValue::from_str(&ip.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
            *last = Some((ip, v.clone()));
            v
        }
    })
}

/// `Bearer <token>`, marked sensitive (kept out of hyper's debug output).
fn bearer(token: &Arc<CachedToken>) -> Result<HeaderValue, Box<Response>> {
    LAST_BEARER.with_borrow_mut(|last| {
        if let Some((seen, v)) = last.as_ref()
            && Arc::ptr_eq(seen, token)
        {
            return Ok(v.clone());
        }
        let text = zeroize::Zeroizing::new(format!(
            "Bearer {}",
            token.token.access_token.expose_secret()
        ));
        let mut v = HeaderValue::from_str(&text).map_err(|_| {
            Box::new(fail(
                StatusCode::BAD_GATEWAY,
                "token_unusable",
                "the access token cannot be sent in a header",
            ))
        })?;
        v.set_sensitive(true);
        *last = Some((token.clone(), v.clone()));
        Ok(v)
    })
}

/// How a request reaches the receiver: plain HTTP with the body in hand through the lean client
/// ([`h1`], no URI needed), everything else through hyper-util's.
enum Route<'a> {
    Lean(h1::Target<'a>),
    Hyper(Uri),
}

/// A request body: kept (replayable) or streamed through once.
enum Payload {
    Kept(Bytes),
    Stream(Body),
}

async fn payload(
    req_headers: &HeaderMap,
    method: &Method,
    body: Body,
) -> Result<Payload, Response> {
    let length = req_headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let chunked = req_headers.contains_key(header::TRANSFER_ENCODING);
    match (length, chunked) {
        (Some(n), false) if n <= REPLAY_LIMIT => {
            let bytes = body
                .collect()
                .await
                .map_err(|_| {
                    fail(
                        StatusCode::BAD_REQUEST,
                        "body_incomplete",
                        "the request body ended early",
                    )
                })?
                .to_bytes();
            Ok(Payload::Kept(bytes))
        }
        // HTTP/1.1 without Content-Length and Transfer-Encoding: no body.
        (None, false) if method != Method::CONNECT => Ok(Payload::Kept(Bytes::new())),
        _ => Ok(Payload::Stream(body)),
    }
}

/// `ANY /gateway/{channel}/{path…}`
pub async fn forward(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    forward_request(&state, peer, None, req).await
}

/// Forwards `req` from `peer` (what [`forward`] does; called directly by the server's fast path,
/// with the connection's authentication memo).
pub async fn forward_request(
    state: &AppState,
    peer: SocketAddr,
    memo: Option<&crate::auth::ConnectionMemo>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let authorization = parts.headers.get(header::AUTHORIZATION);
    let prepared = prepare(
        state,
        memo,
        parts.uri.path(),
        authorization.map(HeaderValue::as_bytes),
        |h| {
            let v = parts.headers.get(h)?.to_str().ok()?;
            Some(v.to_owned())
        },
    )
    .await;
    match prepared {
        Ok(p) => forward_prepared(state, peer, &p, parts, body).await,
        Err(res) => res,
    }
}

/// A gateway request checked and resolved, before anything is sent: the caller may use the
/// gateway, the channel exists, the credential is named.
struct Prepared {
    /// The channel's name (decoded).
    name: String,
    /// Where the rest of the path starts in the request's path.
    rest_at: usize,
    known: Arc<KnownChannel>,
    /// The credential named by the request's header, for a dynamic channel.
    dynamic: Option<String>,
    /// When the token and the receiver's answer must be there.
    deadline: Instant,
}

impl Prepared {
    fn credential(&self) -> &str {
        match (&self.dynamic, self.known.spec.credential()) {
            (Some(d), _) => d,
            (None, CredentialRef::Fixed(c) | CredentialRef::Header(c)) => c,
        }
    }

    /// The header that named the credential, which is not forwarded.
    fn skip(&self) -> Option<&str> {
        match self.known.spec.credential() {
            CredentialRef::Header(h) => Some(h),
            CredentialRef::Fixed(_) => None,
        }
    }
}

/// Checks a gateway request: the path names a channel, the caller (`authorization`) has the
/// role `AccessTokenRead`, the channel exists, and a dynamic channel's credential header
/// (looked up with `header`) is there. Every refusal is the response to send.
async fn prepare(
    state: &AppState,
    memo: Option<&crate::auth::ConnectionMemo>,
    path: &str,
    authorization: Option<&[u8]>,
    header: impl FnOnce(&str) -> Option<String>,
) -> Result<Prepared, Response> {
    let Some((name, rest)) = split_path(path) else {
        return Err(fail(
            StatusCode::NOT_FOUND,
            "channel_not_found",
            "use /gateway/{channel}/{path}",
        ));
    };
    let rest_at = path.len() - rest.len();
    let principal = crate::api::authenticate_raw(state, memo, authorization)
        .await
        .map_err(|e| crate::runtime::RuntimeError::from(e).into_response())?;
    if !principal.has(Role::AccessTokenRead) {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "User '{}' is not allowed to use the HTTP adapter: the role 'AccessTokenRead' is required.",
                principal.name
            ),
        ));
    }
    let known = match state.gateway.channel(&name).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(fail(
                StatusCode::NOT_FOUND,
                "channel_not_found",
                format!("there is no HTTP receiver channel named '{name}'"),
            ));
        }
        Err(e) => return Err(e.into_response()),
    };
    let dynamic = match known.spec.credential() {
        CredentialRef::Fixed(_) => None,
        CredentialRef::Header(h) => match header(h).filter(|v| !v.is_empty()) {
            Some(v) => Some(v),
            None => {
                return Err(fail(
                    StatusCode::BAD_REQUEST,
                    "credential_header_missing",
                    format!(
                        "channel '{name}' takes the credential name from the header '{h}', which the request does not have"
                    ),
                ));
            }
        },
    };
    let deadline = Instant::now() + Duration::from_millis(known.spec.timeout_ms);
    Ok(Prepared {
        name,
        rest_at,
        known,
        dynamic,
        deadline,
    })
}

/// A token for `p`'s credential within its deadline, and the `Authorization` value carrying it.
/// A token in the cache is taken without arming the deadline's timer.
async fn acquire(
    state: &AppState,
    p: &Prepared,
) -> Result<(Arc<Resolved>, Arc<CachedToken>, HeaderValue), Response> {
    let credential = p.credential();
    let mut fetch = std::pin::pin!(state.tokens.token(credential));
    let first = {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        fetch.as_mut().poll(&mut cx)
    };
    let result = match first {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => match tokio::time::timeout_at(p.deadline, fetch).await {
            Ok(r) => r,
            Err(_) => {
                return Err(fail(
                    StatusCode::GATEWAY_TIMEOUT,
                    "token_timeout",
                    format!("no token for '{credential}' within the channel's timeout"),
                ));
            }
        },
    };
    let (resolved, token) = result.map_err(|f| token_failure(&f, credential))?;
    let value = bearer(&token).map_err(|r| *r)?;
    Ok((resolved, token, value))
}

/// The answer when the receiver could not be reached (`why`, never a secret).
fn unreachable(p: &Prepared, why: &str) -> Response {
    p.known.stats.count(StatusCode::BAD_GATEWAY);
    tracing::info!(channel = %p.name, error = %why, "receiver unreachable");
    fail(
        StatusCode::BAD_GATEWAY,
        "receiver_unreachable",
        format!(
            "the receiver of channel '{}' could not be reached: {why}",
            p.name
        ),
    )
}

/// The answer when the receiver did not answer within the channel's timeout.
fn receiver_timeout(p: &Prepared) -> Response {
    p.known.stats.count(StatusCode::GATEWAY_TIMEOUT);
    fail(
        StatusCode::GATEWAY_TIMEOUT,
        "receiver_timeout",
        format!(
            "the receiver of channel '{}' did not answer within {} ms",
            p.name, p.known.spec.timeout_ms
        ),
    )
}

/// The receiver answered 401 to `token`: evict it unless someone already did, and count the
/// retry that follows.
fn rejected(state: &AppState, p: &Prepared, resolved: &Resolved, token: &CachedToken) {
    if state.tokens.reject(resolved, token) {
        tracing::info!(credential = %resolved.name, "receiver rejected the token (401); evicted it");
    }
    p.known.stats.retries.fetch_add(1, Ordering::Relaxed);
}

/// Sends a prepared request to its receiver (the lean client for plain `http` and a body in
/// hand, hyper-util's otherwise), replaying it once after a 401 when its body was kept.
async fn forward_prepared(
    state: &AppState,
    peer: SocketAddr,
    p: &Prepared,
    mut parts: axum::http::request::Parts,
    body: Body,
) -> Response {
    let (channel, stats) = (&p.known.spec, &p.known.stats);
    let mut payload = match payload(&parts.headers, &parts.method, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let rest = &parts.uri.path()[p.rest_at..];
    let query = parts.uri.query();
    let route = match (&p.known.plain, &payload) {
        (Some(plain), Payload::Kept(_)) => Route::Lean(h1::Target {
            authority: &plain.authority,
            path: [
                &plain.rest,
                rest,
                if query.is_some() { "?" } else { "" },
                query.unwrap_or(""),
            ],
        }),
        _ => match upstream_uri(&channel.address, rest, query) {
            Ok(u) => Route::Hyper(u),
            Err(r) => return *r,
        },
    };
    let mut headers = std::mem::take(&mut parts.headers);
    forwarded_headers(&mut headers, p.skip(), peer);
    let mut retried = false;
    loop {
        let (resolved, token, value) = match acquire(state, p).await {
            Ok(t) => t,
            Err(r) => return r,
        };
        headers.insert(header::AUTHORIZATION, value);
        let (replay, stream) = match std::mem::replace(&mut payload, Payload::Kept(Bytes::new())) {
            Payload::Kept(b) => (Some(b), None),
            Payload::Stream(s) => (None, Some(s)),
        };
        let started = Instant::now();
        let sent = async {
            match &route {
                // The payload stays `Kept` across a replay, so a lean route always has its body.
                Route::Lean(target) => {
                    let empty = Bytes::new();
                    let kept = replay.as_ref().unwrap_or(&empty);
                    h1::send(&parts.method, target, &headers, kept, CONNECT_TIMEOUT)
                        .await
                        .map_err(|e| e.to_string())
                }
                Route::Hyper(uri) => {
                    let body = match (&replay, stream) {
                        (_, Some(stream)) => stream,
                        (Some(kept), None) => Body::from(kept.clone()),
                        (None, None) => Body::empty(),
                    };
                    let mut upstream = Request::new(body);
                    *upstream.method_mut() = parts.method.clone();
                    *upstream.uri_mut() = uri.clone();
                    *upstream.headers_mut() = headers.clone();
                    state
                        .gateway
                        .client()
                        .request(upstream)
                        .await
                        .map(|res| res.map(Body::new))
                        .map_err(|e| {
                            std::error::Error::source(&e)
                                .map_or_else(|| e.to_string(), |s| s.to_string())
                        })
                }
            }
        };
        let res = match tokio::time::timeout_at(p.deadline, sent).await {
            Ok(Ok(res)) => res,
            Ok(Err(why)) => return unreachable(p, &why),
            Err(_) => return receiver_timeout(p),
        };
        stats.observe(started.elapsed());
        if res.status() == StatusCode::UNAUTHORIZED
            && !retried
            && let Some(kept) = replay
        {
            // Try once more with whatever token the cache has now.
            rejected(state, p, &resolved, &token);
            payload = Payload::Kept(kept);
            retried = true;
            continue;
        }
        stats.count(res.status());
        return respond(res);
    }
}

fn respond(res: Response) -> Response {
    let (mut parts, body) = res.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, body)
}

/// The headers of one message that describe its connection (RFC 9110 §7.6.1): the fixed list
/// and those its `Connection` header names.
pub struct Hop<'a> {
    listed: Vec<&'a [u8]>,
}

impl<'a> Hop<'a> {
    /// The hop-by-hop headers among `fields`.
    pub fn of(fields: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Self {
        let mut listed = Vec::new();
        for (name, value) in fields {
            if name.eq_ignore_ascii_case(b"connection") {
                listed.extend(
                    value
                        .split(|b| *b == b',')
                        .map(<[u8]>::trim_ascii)
                        .filter(|n| !n.is_empty()),
                );
            }
        }
        Self { listed }
    }

    /// Whether the header `name` is one of them.
    pub fn is_hop(&self, name: &[u8]) -> bool {
        HOP_BY_HOP
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
            || self.listed.iter().any(|l| name.eq_ignore_ascii_case(l))
    }
}

/// Removes the headers that describe one connection (RFC 9110 §7.6.1): the fixed list and those
/// named in `Connection`. Most messages carry none, so it looks before removing (each removal
/// is a lookup).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if !headers.keys().any(|n| HOP_BY_HOP.contains(&n.as_str())) {
        return;
    }
    let hop: Vec<HeaderName> = {
        let fields = || {
            headers
                .iter()
                .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
        };
        let hop = Hop::of(fields());
        fields()
            .filter(|(n, _)| hop.is_hop(n))
            .filter_map(|(n, _)| HeaderName::from_bytes(n).ok())
            .collect()
    };
    for n in hop {
        headers.remove(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_paths_split_into_a_decoded_channel_and_an_encoded_rest() {
        assert_eq!(
            split_path("/gateway/api/v1/items"),
            Some(("api".into(), "/v1/items"))
        );
        assert_eq!(split_path("/gateway/api"), Some(("api".into(), "")));
        assert_eq!(
            split_path("/gateway/a%7Eb/x%2Fy"),
            Some(("a~b".into(), "/x%2Fy"))
        );
        assert_eq!(split_path("/gateway/"), None);
        assert_eq!(split_path("/other"), None);
    }

    #[test]
    fn plain_http_addresses_split_into_authority_and_the_rest() {
        let p = plain("http://h:8080/base?k=v").unwrap();
        assert_eq!(
            (p.authority.as_str(), p.rest.as_str()),
            ("h:8080", "/base?k=v")
        );
        let p = plain("HTTP://[::1]").unwrap();
        assert_eq!((p.authority.as_str(), p.rest.as_str()), ("[::1]", ""));
        assert!(
            plain("https://h/x").is_none(),
            "TLS goes through hyper-util"
        );
        assert!(plain("http://user@h/x").is_none());
        assert!(plain("http:///x").is_none());
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_are_stripped() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("connection", "X-A, keep-alive"),
            ("x-a", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("x-b", "2"),
        ] {
            h.append(n, HeaderValue::from_static(v));
        }
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-b"]);
        let mut plain = HeaderMap::new();
        plain.insert("x-c", HeaderValue::from_static("3"));
        strip_hop_by_hop(&mut plain);
        assert_eq!(plain.len(), 1);
    }

    #[test]
    fn forwarded_for_keeps_every_prior_value_and_appends_the_caller() {
        let peer: SocketAddr = "10.0.0.9:1234".parse().unwrap();
        assert_eq!(forwarded_for(std::iter::empty(), peer), "10.0.0.9");
        assert_eq!(
            forwarded_for(["1.1.1.1", "2.2.2.2, 3.3.3.3"].into_iter(), peer),
            "1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9"
        );
        let mut h = HeaderMap::new();
        h.append(X_FORWARDED_FOR, HeaderValue::from_static("1.1.1.1"));
        h.append(X_FORWARDED_FOR, HeaderValue::from_static("2.2.2.2"));
        forwarded_headers(&mut h, None, peer);
        assert_eq!(h.get_all(X_FORWARDED_FOR).iter().count(), 1);
        assert_eq!(h[X_FORWARDED_FOR], "1.1.1.1, 2.2.2.2, 10.0.0.9");
    }

    #[test]
    fn upstream_uris_keep_path_and_query() {
        assert_eq!(
            upstream_uri("http://h:1/base", "/a%20b", Some("x=1&y"))
                .unwrap()
                .to_string(),
            "http://h:1/base/a%20b?x=1&y"
        );
        assert_eq!(
            upstream_uri("https://h", "", None).unwrap().to_string(),
            "https://h/"
        );
    }
}
