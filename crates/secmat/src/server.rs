//! The HTTP server: routes ([`router`]) and the service in front of them ([`App`]: the two hot
//! paths dispatched directly, the access log). [`crate::front`] serves each connection (the
//! gateway's fast lane, then hyper's HTTP/1.1 server with [`App`]); [`crate::loops`] spreads
//! connections over event loops.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::auth::ConnectionMemo;
use crate::odata::ApiError;
use crate::state::AppState;
use crate::{api, gateway, metrics, runtime};

/// Every route secmat serves. (`/gateway/…` and `GET /runtime/v1/tokens/{name}` are answered by
/// [`App`] before the router sees them, with the same handlers.)
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(crate::monitor::root))
        .merge(crate::monitor::router())
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1", any(api::dispatch))
        .route("/api/v1/", any(api::dispatch))
        .route("/api/v1/{*rest}", any(api::dispatch))
        .route("/runtime/v1/tokens/{name}", get(runtime::token))
        .route(
            "/runtime/v1/connectivity-tests/{name}",
            axum::routing::post(runtime::connectivity_test),
        )
        .route("/metrics", get(metrics::metrics))
        .route("/gateway/{*rest}", any(gateway::forward))
        .route(
            "/api/{*rest}",
            any(|| async {
                ApiError::NotFound("No such API; the Security Content API is at /api/v1.".into())
            }),
        )
        .with_state(state)
}

/// What serves every request: the router, except for the two hot paths, which go straight to
/// their handlers (no routing table, no per-request boxing or extensions); the access log
/// around both.
pub struct App {
    router: Router,
    state: Arc<AppState>,
    /// Fixed at start-up with the log filter.
    pub access_log: bool,
}

impl App {
    /// Serves `state`.
    pub fn new(state: Arc<AppState>) -> Arc<Self> {
        Arc::new(Self {
            router: router(state.clone()),
            state,
            access_log: tracing::enabled!(target: "secmat::access", tracing::Level::INFO),
        })
    }

    /// Answers one request from `peer` on the connection `memo` belongs to.
    pub async fn handle(
        &self,
        peer: SocketAddr,
        memo: &ConnectionMemo,
        req: hyper::Request<Incoming>,
    ) -> Response {
        if !self.access_log {
            return self.dispatch(peer, memo, req).await;
        }
        // One line per request: method, path, status, duration. Never headers (they carry
        // credentials) and never the query string (it may carry anything a client put there).
        let started = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let res = self.dispatch(peer, memo, req).await;
        self.log(&method, &path, res.status(), started);
        res
    }

    /// The state served.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Writes the access log line of a request (not for the health checks).
    pub fn log(&self, method: &Method, path: &str, status: StatusCode, started: Instant) {
        if path != "/healthz" && path != "/readyz" {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            tracing::info!(target: "secmat::access", %method, %path, status = status.as_u16(), duration_ms = format_args!("{ms:.2}"), "request");
        }
    }

    async fn dispatch(
        &self,
        peer: SocketAddr,
        memo: &ConnectionMemo,
        req: hyper::Request<Incoming>,
    ) -> Response {
        let path = req.uri().path();
        if path.starts_with("/gateway/") {
            return gateway::forward_request(&self.state, peer, Some(memo), req.map(Body::new))
                .await;
        }
        if req.method() == Method::GET
            && let Some(name) = token_name(path)
        {
            let authorization = req.headers().get(axum::http::header::AUTHORIZATION);
            let authorization = authorization.map(axum::http::HeaderValue::as_bytes);
            return runtime::token_for(&self.state, Some(memo), authorization, &name)
                .await
                .into_response();
        }
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(peer));
        match tower_service::Service::call(&mut self.router.clone(), req).await {
            Ok(res) => res,
            Err(never) => match never {},
        }
    }
}

/// The credential name of `/runtime/v1/tokens/{name}`, decoded as the router would; `None`
/// when the path is anything else (the router then answers).
pub fn token_name(path: &str) -> Option<std::borrow::Cow<'_, str>> {
    let name = path.strip_prefix("/runtime/v1/tokens/")?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    percent_encoding::percent_decode_str(name)
        .decode_utf8()
        .ok()
}

/// Ready when the store answers.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ready\n".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}

/// Binds the listening socket (`SO_REUSEADDR`, so a restart does not wait for old connections).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
