//! The HTTP server: routes, the access log, and [`run`], which takes its listener and shutdown
//! signal from the caller (so tests bind port 0 and stop it when they like).

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::odata::ApiError;
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

/// Binds a listener with `SO_REUSEPORT`, so that several event loops can each accept on their
/// own socket for the same address (the kernel spreads connections among them). Must be called
/// within a Tokio runtime.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Serves `state` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
