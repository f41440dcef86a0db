//! `/api/v1`: the subset of SAP Cloud Integration's *Security Content* OData V2 API that covers
//! the OAuth2 Client Credentials artifact, so that clients written for SAP work unchanged.
//!
//! Every request goes through [`dispatch`]: authenticate (401), hand out a CSRF token when asked
//! (`X-CSRF-Token: Fetch`), check the CSRF token on modifying methods (403 `Required`), parse the
//! resource path and route to [`credentials`]. Role checks happen in the handlers, next to what
//! they protect.

pub mod channels;
pub mod credentials;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::{Principal, Role};
use crate::csrf;
use crate::odata::{ApiError, MAX_BODY_BYTES, ResourcePath, parse_resource_path};
use crate::state::AppState;

/// The entity sets this service offers (its OData service document).
pub const ENTITY_SETS: &[&str] = &[credentials::ENTITY_SET, channels::ENTITY_SET];

/// Context every handler needs: who calls, and the service root's absolute URL for `__metadata`.
pub struct Call {
    /// The authenticated caller.
    pub principal: Arc<Principal>,
    /// `scheme://host/api/v1`
    pub service_root: String,
}

impl Call {
    /// `403` unless the caller holds `role`; `what` says what the role is needed for.
    pub fn require(&self, role: Role, what: &str) -> Result<(), ApiError> {
        if self.principal.has(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "User '{}' is not allowed to {what}: the role '{}' is required.",
                self.principal.name,
                role.as_str()
            )))
        }
    }
}

/// Authenticates a request from its `Authorization` header.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Arc<Principal>, ApiError> {
    authenticate_on(state, None, headers).await
}

/// [`authenticate`], with the connection's memo when the caller has one (the hot paths).
pub async fn authenticate_on(
    state: &AppState,
    memo: Option<&crate::auth::ConnectionMemo>,
    headers: &HeaderMap,
) -> Result<Arc<Principal>, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    authenticate_raw(state, memo, header).await
}

/// [`authenticate_on`] with the raw value of the `Authorization` header.
pub async fn authenticate_raw(
    state: &AppState,
    memo: Option<&crate::auth::ConnectionMemo>,
    header: Option<&[u8]>,
) -> Result<Arc<Principal>, ApiError> {
    let result = match memo {
        Some(memo) => state.auth.authenticate_on(memo, header).await,
        None => {
            state
                .auth
                .authenticate(header.map(|v| std::str::from_utf8(v).unwrap_or("")))
                .await
        }
    };
    result.map_err(|e| match e {
        crate::auth::AuthError::Store => ApiError::Unavailable,
        other => ApiError::Unauthorized(format!("Authentication failed: {other}.")),
    })
}

fn wants_csrf_token(headers: &HeaderMap) -> bool {
    headers
        .get(csrf::HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("fetch"))
}

/// Adds a fresh CSRF token to `res` when the request asked for one.
pub fn hand_out_csrf(
    state: &AppState,
    headers: &HeaderMap,
    principal: &Principal,
    res: &mut Response,
) {
    if wants_csrf_token(headers) {
        let token = state.csrf.issue(&principal.name, state.clock.now_millis());
        if let Ok(v) = HeaderValue::from_str(&token) {
            res.headers_mut().insert(csrf::HEADER, v);
        }
    }
}

fn check_csrf(
    state: &AppState,
    headers: &HeaderMap,
    principal: &Principal,
) -> Result<(), ApiError> {
    let token = headers
        .get(csrf::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if state
        .csrf
        .check(token, &principal.name, state.clock.now_millis())
    {
        Ok(())
    } else {
        Err(ApiError::CsrfRequired)
    }
}

/// `scheme://host` of this request, as the client addressed it.
pub fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{proto}://{host}")
}

/// `GET /` with `X-CSRF-Token: Fetch`: real SAP clients fetch their token at the host root.
pub async fn root(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !wants_csrf_token(&headers) {
        return (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "secmat: security material service and OAuth2 token broker.\nAPI: /api/v1 (SAP Security Content, OData V2). Health: /healthz, /readyz.\n",
        )
            .into_response();
    }
    match authenticate(&state, &headers).await {
        Ok(p) => {
            let mut res = StatusCode::OK.into_response();
            hand_out_csrf(&state, &headers, &p, &mut res);
            res
        }
        Err(e) => e.into_response(),
    }
}

/// Every request below `/api/v1`.
pub async fn dispatch(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let headers = req.headers().clone();
    let principal = match authenticate(&state, &headers).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    // Only reads hand out tokens: a write that sends `Fetch` is simply missing its token.
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let mut res = route(&state, principal.clone(), req)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if read {
        hand_out_csrf(&state, &headers, &principal, &mut res);
    }
    res
}

async fn route(
    state: &AppState,
    principal: Arc<Principal>,
    req: Request,
) -> Result<Response, ApiError> {
    let method = req.method().clone();
    let modifying = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if modifying {
        check_csrf(state, req.headers(), &principal)?;
    }
    let path = req.uri().path();
    let rest = path
        .strip_prefix("/api/v1")
        .unwrap_or(path)
        .trim_start_matches('/');
    let query = req.uri().query().map(str::to_owned);
    let call = Call {
        principal,
        service_root: format!("{}/api/v1", origin(req.headers())),
    };

    if rest.is_empty() {
        return match method {
            Method::GET | Method::HEAD => {
                Ok(axum::Json(json!({"d": {"EntitySets": ENTITY_SETS}})).into_response())
            }
            _ => Err(not_allowed(&method, "the service root")),
        };
    }
    let resource = parse_resource_path(rest)?;
    let set = match &resource {
        ResourcePath::Collection(s)
        | ResourcePath::Entity(s, _)
        | ResourcePath::Navigation(s, _, _) => s.as_str(),
    };
    let set = set.to_owned();
    if !ENTITY_SETS.contains(&set.as_str()) {
        return Err(ApiError::NotFound(format!(
            "Resource not found for the segment '{set}'."
        )));
    }
    let body = if modifying {
        Some(read_json(req).await?)
    } else {
        None
    };
    if set == channels::ENTITY_SET {
        channels::handle(state, &call, method, resource, query.as_deref(), body).await
    } else {
        credentials::handle(state, &call, method, resource, query.as_deref(), body).await
    }
}

/// `405` naming what is allowed.
pub fn not_allowed(method: &Method, what: &str) -> ApiError {
    ApiError::MethodNotAllowed(format!("The method {method} is not allowed on {what}."))
}

/// Reads a JSON request body of at most [`MAX_BODY_BYTES`]; `None` for an empty body.
async fn read_json(req: Request) -> Result<Option<Value>, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge);
    }
    let bytes = axum::body::to_bytes(Body::new(req.into_body()), MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if let Some(ct) = content_type
        && !ct.to_ascii_lowercase().contains("json")
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "The request body must be JSON (Content-Type: application/json), not '{ct}'."
        )));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError::BadRequest(format!("The request body is not valid JSON: {e}.")))
}
