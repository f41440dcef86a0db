//! The HTTP server: routes, the access log, and how one connection is served
//! ([`serve_connection`], hyper's HTTP/1.1 server around the axum router). [`crate::loops`]
//! spreads connections over event loops.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::odata::ApiError;
use crate::shutdown::Shutdown;
use crate::state::AppState;
use crate::{api, gateway, metrics, runtime};

/// Every route secmat serves.
pub fn router(state: Arc<AppState>) -> Router {
    let routes = Router::new()
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
        );
    // The log filter is fixed at start-up: without the access log, the layer (a boxed future
    // per request) is left out altogether rather than skipped on every request.
    let routes = if tracing::enabled!(target: "secmat::access", tracing::Level::INFO) {
        routes.layer(middleware::from_fn(access_log))
    } else {
        routes
    };
    routes.with_state(state)
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

/// One line per request: method, path, status, duration. Never headers (they carry credentials)
/// and never the query string (it may carry anything a client put there).
async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    let status = res.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if path != "/healthz" && path != "/readyz" {
        tracing::info!(target: "secmat::access", %method, %path, status, duration_ms = format_args!("{ms:.2}"), "request");
    }
    res
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

/// Serves one connection: HTTP/1.1 with keep-alive, until the client closes it or `shutdown`
/// fires (then the request in flight is finished and the connection closed).
///
/// Each request gets the caller's address as axum's `ConnectInfo` (for `X-Forwarded-For`).
pub async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    shutdown: Shutdown,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(peer));
        tower_service::Service::call(&mut app.clone(), req)
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        }
        () = shutdown.wait() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
