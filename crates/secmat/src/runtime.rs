//! `/runtime/v1`: what consumers call at run time, as opposed to the management API.
//!
//! - `GET /runtime/v1/tokens/{Name}` (role `AccessTokenRead`): a valid access token for the
//!   credential, from the shared cache.
//! - `POST /runtime/v1/connectivity-tests/{Name}` (role `CredentialsRead`): one fresh token
//!   request that bypasses the cache; reports status, latency, lifetime and, for JWTs, the
//!   decoded (not verified) `iss`, `aud`, `scope` and `exp` claims. The token itself only with
//!   `?show_token=true`.
//!
//! Errors are RFC 6749-style JSON (`{"error","error_description"}`), made in one place
//! ([`RuntimeError`]): 401/403 for the caller, 404 for an unknown name, 502 when the provider
//! refused or answered nonsense (its own `error` and `error_description` are passed on), 503
//! when it could not be reached, 504 when it did not answer in time.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use secmat_core::clock::rfc3339;
use secmat_core::token_response::TransportKind;
use secmat_core::{Token, TokenError};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::auth::Role;
use crate::odata::ApiError;
use crate::state::AppState;
use crate::tokens::TokenFailure;

/// A runtime API error as JSON.
#[derive(Debug)]
pub struct RuntimeError {
    status: StatusCode,
    body: Value,
    www_authenticate: bool,
}

impl RuntimeError {
    fn new(status: StatusCode, error: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({"error": error, "error_description": description.into()}),
            www_authenticate: false,
        }
    }

    /// Maps a failure to get a token for `credential` to its status and body.
    pub fn from_failure(credential: &str, f: &TokenFailure) -> Self {
        let mut e = match f {
            TokenFailure::NotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "credential_not_found", f.to_string())
            }
            TokenFailure::Store(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the store is unavailable; try again later",
            ),
            TokenFailure::Sealed(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "credential_unusable",
                f.to_string(),
            ),
            TokenFailure::Provider(p) => Self::from_provider(p),
        };
        e.body["credential"] = json!(credential);
        e
    }

    fn from_provider(p: &TokenError) -> Self {
        match p {
            TokenError::Refused {
                status,
                error,
                description,
                uri,
                ..
            } => {
                let mut e = Self::new(
                    StatusCode::BAD_GATEWAY,
                    error,
                    description.clone().unwrap_or_else(|| {
                        format!("the authorization server refused with {error}")
                    }),
                );
                e.body["provider_status"] = json!(status);
                if let Some(uri) = uri {
                    e.body["error_uri"] = json!(uri);
                }
                e
            }
            TokenError::Transport {
                kind: TransportKind::Timeout,
                ..
            } => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "provider_timeout",
                p.to_string(),
            ),
            TokenError::Transport { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "provider_unreachable",
                p.to_string(),
            ),
            TokenError::Status { status, .. }
            | TokenError::Invalid { status, .. }
            | TokenError::TooLarge { status } => {
                let mut e = Self::new(StatusCode::BAD_GATEWAY, "bad_token_response", p.to_string());
                e.body["provider_status"] = json!(status);
                e
            }
            TokenError::Unusable(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "credential_unusable",
                p.to_string(),
            ),
        }
    }
}

impl From<ApiError> for RuntimeError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized(m) => Self {
                www_authenticate: true,
                ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
            },
            ApiError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "forbidden", m),
            ApiError::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            ),
            other => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                other.to_string(),
            ),
        }
    }
}

impl IntoResponse for RuntimeError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(self.body)).into_response();
        no_store(&mut res);
        if self.www_authenticate {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"secmat\", charset=\"UTF-8\""),
            );
        }
        res
    }
}

/// RFC 6749 §5.1: responses carrying tokens must not be cached.
fn no_store(res: &mut Response) {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    role: Role,
    what: &str,
) -> Result<(), RuntimeError> {
    let p = crate::api::authenticate(state, headers).await?;
    if p.has(role) {
        Ok(())
    } else {
        Err(forbidden(&p, role, what))
    }
}

fn forbidden(p: &crate::auth::Principal, role: Role, what: &str) -> RuntimeError {
    ApiError::Forbidden(format!(
        "User '{}' is not allowed to {what}: the role '{}' is required.",
        p.name,
        role.as_str()
    ))
    .into()
}

/// The token API's answer.
#[derive(serde::Serialize)]
struct TokenAnswer<'a> {
    access_token: &'a str,
    token_type: &'a str,
    expires_in: u64,
    expires_at: String,
    credential: &'a str,
}

/// `GET /runtime/v1/tokens/{Name}` — the hot path of every consumer: headers are read in place
/// (not copied) and the answer is serialised from borrowed fields.
pub async fn token(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    req: axum::extract::Request,
) -> Result<Response, RuntimeError> {
    let authorization = req.headers().get(header::AUTHORIZATION);
    token_for(
        &state,
        None,
        authorization.map(HeaderValue::as_bytes),
        &name,
    )
    .await
}

/// The token API's answer for credential `name` to the caller with `authorization` (what
/// [`token`] does; called directly by the server's fast paths, with the connection's
/// authentication memo).
pub async fn token_for(
    state: &AppState,
    memo: Option<&crate::auth::ConnectionMemo>,
    authorization: Option<&[u8]>,
    name: &str,
) -> Result<Response, RuntimeError> {
    let p = crate::api::authenticate_raw(state, memo, authorization).await?;
    if !p.has(Role::AccessTokenRead) {
        return Err(forbidden(&p, Role::AccessTokenRead, "obtain access tokens"));
    }
    let (_, t) = state
        .tokens
        .token(name)
        .await
        .map_err(|f| RuntimeError::from_failure(name, &f))?;
    let answer = TokenAnswer {
        access_token: t.token.access_token.expose_secret(),
        token_type: &t.token.token_type,
        expires_in: t.remaining(Instant::now()).as_secs(),
        expires_at: rfc3339(t.expires_at_unix_ms),
        credential: name,
    };
    let mut res = axum::Json(answer).into_response();
    no_store(&mut res);
    Ok(res)
}

/// Query of the connectivity test.
#[derive(serde::Deserialize, Default)]
pub struct TestQuery {
    /// Include the access token in the answer.
    #[serde(default)]
    show_token: bool,
}

/// `POST /runtime/v1/connectivity-tests/{Name}`
pub async fn connectivity_test(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<TestQuery>,
) -> Result<Response, RuntimeError> {
    authorize(
        &state,
        &headers,
        Role::CredentialsRead,
        "run connectivity tests",
    )
    .await?;
    let (result, latency) = state
        .tokens
        .fetch_uncached(&name)
        .await
        .map_err(|f| RuntimeError::from_failure(&name, &f))?;
    let latency_ms = (latency.as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
    let body = match result {
        Ok(token) => test_report(&name, &token, latency_ms, q.show_token),
        Err(e) => {
            let err = RuntimeError::from_provider(&e);
            let status = match &e {
                TokenError::Refused { status, .. }
                | TokenError::Status { status, .. }
                | TokenError::Invalid { status, .. }
                | TokenError::TooLarge { status } => json!(status),
                _ => Value::Null,
            };
            json!({
                "credential": name, "ok": false, "status": status, "latency_ms": latency_ms,
                "error": err.body["error"], "error_description": err.body["error_description"],
            })
        }
    };
    let mut res = axum::Json(body).into_response();
    no_store(&mut res);
    Ok(res)
}

fn test_report(name: &str, token: &Token, latency_ms: f64, show_token: bool) -> Value {
    let raw = token.access_token.expose_secret();
    let mut v = json!({
        "credential": name,
        "ok": true,
        "status": token.http_status,
        "latency_ms": latency_ms,
        "token_type": token.token_type,
        "expires_in": token.expires_in.map(|d| d.as_secs()),
        "scope": token.scope,
        "jwt": jwt_claims(raw),
    });
    if show_token {
        v["access_token"] = json!(raw);
    }
    v
}

/// The `iss`, `aud`, `scope` and `exp` claims of a JWT, decoded but not verified; `null` for an
/// opaque token.
pub fn jwt_claims(token: &str) -> Value {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Value::Null;
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
    else {
        return Value::Null;
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(claims)) => {
            let pick = |k: &str| claims.get(k).cloned().unwrap_or(Value::Null);
            let exp = pick("exp");
            let exp_at = exp.as_i64().map(|s| rfc3339(s.saturating_mul(1000)));
            json!({"iss": pick("iss"), "aud": pick("aud"), "scope": pick("scope"), "exp": exp, "exp_at": exp_at})
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_claims_are_decoded_and_opaque_tokens_are_not() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"iss":"https://idp","aud":["a","b"],"scope":"api:read","exp":1795750957,"sub":"x"}"#);
        let claims = jwt_claims(&format!("e30.{payload}.sig"));
        assert_eq!(claims["iss"], "https://idp");
        assert_eq!(claims["aud"], json!(["a", "b"]));
        assert_eq!(claims["scope"], "api:read");
        assert_eq!(claims["exp_at"], "2026-11-27T03:42:37Z");
        assert!(claims.get("sub").is_none());
        assert_eq!(jwt_claims("opaque-token"), Value::Null);
        assert_eq!(jwt_claims("a.!!!.c"), Value::Null);
    }

    #[test]
    fn provider_refusals_are_passed_on_as_502_with_their_error() {
        let e = RuntimeError::from_failure(
            "c",
            &TokenFailure::Provider(Arc::new(TokenError::Refused {
                status: 401,
                error: "invalid_client".into(),
                description: Some("bad secret".into()),
                uri: None,
                retry_after: None,
            })),
        );
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
        assert_eq!(e.body["error"], "invalid_client");
        assert_eq!(e.body["error_description"], "bad secret");
        assert_eq!(e.body["credential"], "c");
        let timeout = RuntimeError::from_provider(&TokenError::Transport {
            kind: TransportKind::Timeout,
            message: "t".into(),
        });
        assert_eq!(timeout.status, StatusCode::GATEWAY_TIMEOUT);
        let down = RuntimeError::from_provider(&TokenError::Transport {
            kind: TransportKind::Connect,
            message: "t".into(),
        });
        assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
