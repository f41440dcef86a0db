//! A scriptable fake authorization server for behaviour the real ones cannot be made to show on
//! demand (hanging, 5xx pages, refusals after N requests). Interoperability itself is proven
//! against the real servers in `interop.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What the fake answers to the n-th token request (1-based).
pub type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

/// One answer.
#[derive(Clone)]
pub enum Reply {
    /// `200` with token `tok-N` living `secs` seconds.
    Token(u64),
    /// An RFC 6749 error.
    Error(u16, &'static str),
    /// A status with a non-JSON body.
    Page(u16, &'static str),
    /// Never answers.
    Hang,
}

/// A running fake.
pub struct FakeIdp {
    /// `http://127.0.0.1:PORT/token`
    pub token_url: String,
    calls: Arc<AtomicUsize>,
    /// Headers of every request, in order.
    pub seen: Arc<std::sync::Mutex<Vec<(HeaderMap, String)>>>,
}

impl FakeIdp {
    /// A fake answering every request with a token of `secs` seconds.
    pub async fn tokens(secs: u64) -> Self {
        Self::scripted(move |_| Reply::Token(secs)).await
    }

    /// A fake following `script`.
    pub async fn scripted(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let (c, s) = (calls.clone(), seen.clone());
        let app = axum::Router::new().route(
            "/token",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (c, s, script) = (c.clone(), s.clone(), script.clone());
                async move {
                    let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                    s.lock().unwrap().push((headers, body));
                    reply(script(n), n).await
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            token_url: format!("http://{addr}/token"),
            calls,
            seen,
        }
    }

    /// Token requests received so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn reply(r: Reply, n: usize) -> Response {
    match r {
        Reply::Token(secs) => axum::Json(
            json!({"access_token": format!("tok-{n}"), "token_type": "bearer", "expires_in": secs}),
        )
        .into_response(),
        Reply::Error(status, error) => (
            StatusCode::from_u16(status).unwrap(),
            axum::Json(
                json!({"error": error, "error_description": format!("{error} from the fake")}),
            ),
        )
            .into_response(),
        Reply::Page(status, body) => (StatusCode::from_u16(status).unwrap(), body).into_response(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
    }
}
