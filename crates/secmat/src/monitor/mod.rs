//! The web monitor (`/ui/…`): SAP Cloud Integration's *Monitor → Integrations and APIs → Manage
//! Security → Security Material* area, server-rendered, for people with a browser.
//!
//! # Layout
//!
//! - [`session`]: sign-in sessions (cookie, in-memory table, idle and absolute expiry, CSRF).
//! - [`layout`]: the page frame (shell bar, navigation, breadcrumbs) and error pages.
//! - [`signin`]: sign-in and sign-out.
//! - [`overview`]: the home page and *Integrations and APIs* (runtime selector, the *Security
//!   Material* tile).
//! - [`list`]: the *Security Material* list (filter, sort, keyset pagination).
//! - [`form`]: the *OAuth2 Client Credentials* form: form fields to a
//!   [`secmat_core::CredentialDraft`], each [`secmat_core::FieldError`] back to its input.
//! - [`edit`]: *Add*, *Edit* and *Delete*.
//! - [`detail`]: a credential's page and its connectivity test.
//! - `assets/`: the stylesheet and the small script (client-side checks, custom parameter rows),
//!   compiled into the binary.
//!
//! A request flows: [`router`] → the [`Visitor`] extractor (session cookie → [`Sessions`]; none
//! → redirect to sign-in) → a handler (role check, CSRF check on every `POST`) → for writes
//! [`crate::material`], the same single write path the API uses, after
//! [`secmat_core::CredentialDraft::validate`], the same rules.
//!
//! Pages work without JavaScript; the script only adds checks as the user types and adds or
//! removes parameter rows without a round trip. No inline script or style anywhere: the
//! `Content-Security-Policy` allows only this origin's own files.

mod detail;
mod edit;
mod form;
mod layout;
mod list;
mod overview;
pub mod session;
mod signin;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::auth::{Principal, Role};
use crate::state::AppState;
pub use session::Sessions;
use session::{COOKIE, CSRF_FIELD, Current, Lookup};

/// The monitor's routes (merged into [`crate::server::router`]).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(overview::home))
        .route("/ui/assets/{file}", get(asset))
        .route("/ui/signin", get(signin::form).post(signin::submit))
        .route("/ui/signout", axum::routing::post(signin::sign_out))
        .route("/ui/monitor/integrations", get(overview::integrations))
        .route("/ui/security-material", get(list::list))
        .route("/ui/security-material/add", get(edit::choose_type))
        .route(
            "/ui/security-material/add/oauth2-client-credentials",
            get(edit::add_form).post(edit::add_submit),
        )
        .route("/ui/security-material/view", get(detail::view))
        .route(
            "/ui/security-material/edit",
            get(edit::edit_form).post(edit::edit_submit),
        )
        .route(
            "/ui/security-material/delete",
            get(edit::delete_form).post(edit::delete_submit),
        )
        .route(
            "/ui/security-material/test",
            get(detail::test_get).post(detail::test_submit),
        )
        .route("/ui/{*rest}", get(not_found).post(not_found))
        .layer(middleware::map_response(security_headers))
}

/// `GET /`: browsers (no `X-CSRF-Token` header, accepting HTML) go to the monitor; everything
/// else, notably SAP clients fetching a CSRF token at the host root, gets [`crate::api::root`].
pub async fn root(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html && !headers.contains_key(crate::csrf::HEADER) {
        return Redirect::to("/ui/").into_response();
    }
    crate::api::root(State(state), headers).await
}

/// The policy for every monitor response: only this origin's own scripts, styles and images, no
/// framing, forms only to this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages show security material and carry CSRF tokens: never keep them in a cache.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// The stylesheet, the script and the icon, compiled in.
async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "monitor.css" => (
            include_str!("assets/monitor.css"),
            "text/css; charset=utf-8",
        ),
        "monitor.js" => (
            include_str!("assets/monitor.js"),
            "text/javascript; charset=utf-8",
        ),
        "icon.svg" => (include_str!("assets/icon.svg"), "image/svg+xml"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            // URLs carry the version (`?v=`), so a new release is fetched at once.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The query string that makes an asset URL change with every release.
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

async fn not_found(visitor: Option<Visitor>) -> Response {
    layout::error_page(
        visitor.as_ref(),
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
    )
}

/// A signed-in person, extracted from the session cookie. Handlers that take a `Visitor` are
/// only reached with a live session; without one the browser is sent to sign in (and back).
pub struct Visitor {
    /// The session.
    pub session: Current,
    /// Whether cookies must be `Secure` (the request came over HTTPS).
    pub secure: bool,
}

impl Visitor {
    /// Who is signed in.
    pub fn principal(&self) -> &Principal {
        &self.session.principal
    }

    /// Whether the user holds `role`.
    pub fn may(&self, role: Role) -> bool {
        self.session.principal.has(role)
    }

    /// A `403` page unless the user holds `role`; `what` says what it is needed for.
    #[allow(clippy::result_large_err)] // a Response, returned straight to axum
    pub fn require(&self, role: Role, what: &str) -> Result<(), Response> {
        if self.may(role) {
            Ok(())
        } else {
            Err(layout::error_page(
                Some(self),
                StatusCode::FORBIDDEN,
                "Not allowed",
                &format!(
                    "Your user '{}' is not allowed to {what}: this needs the role {}. Ask an administrator for it.",
                    self.principal().name,
                    role.as_str()
                ),
            ))
        }
    }

    /// A `403` page unless `fields` carry this session's CSRF token.
    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, fields: &Fields) -> Result<(), Response> {
        if self
            .session
            .csrf_matches(fields.get(CSRF_FIELD).unwrap_or(""))
        {
            Ok(())
        } else {
            Err(layout::error_page(
                Some(self),
                StatusCode::FORBIDDEN,
                "Form not accepted",
                "This form could not be accepted: its security token is missing or out of date \
                 (the page was open for too long, or the form was sent from another site). \
                 Nothing was changed. Go back, reload the page and send the form again.",
            ))
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        let now = state.clock.now_millis();
        let take_flash = parts.method == Method::GET;
        let sent = session::cookie(&parts.headers, COOKIE);
        let mut current = match state.sessions.lookup(sent, now, take_flash) {
            Lookup::Live(c) => *c,
            Lookup::Ended => return Err(to_sign_in(parts, true)),
            Lookup::None => return Err(to_sign_in(parts, false)),
        };
        if current.recheck_due {
            match state.store.get_user(&current.principal.name).await {
                Ok(Some(user))
                    if session::password_tag(&user.password_hash) == current.password_tag =>
                {
                    let p = Arc::new(signin::principal_of(&user));
                    state.sessions.rechecked(&current, p.clone(), now);
                    current.principal = p;
                }
                Ok(_) => {
                    tracing::info!(user = %current.principal.name, "monitor session ended: user removed or password changed");
                    state.sessions.end(&current);
                    return Err(to_sign_in(parts, true));
                }
                // The store is down: keep the session; the page reports the store's failure.
                Err(e) => tracing::warn!(error = %e, "could not recheck a monitor session"),
            }
        }
        Ok(Visitor {
            session: current,
            secure: session::is_https(&parts.headers),
        })
    }
}

impl axum::extract::OptionalFromRequestParts<Arc<AppState>> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Visitor as FromRequestParts<Arc<AppState>>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

/// `303` to the sign-in page, which sends the browser back here afterwards. A form that was
/// posted into an ended session is not replayed: the user comes back to the page with the form.
fn to_sign_in(parts: &Parts, ended: bool) -> Response {
    let back = parts
        .uri
        .path_and_query()
        .map_or("/ui/", |pq| pq.as_str())
        .to_owned();
    let mut q = vec![("next", back.as_str())];
    if ended {
        q.push(("expired", "1"));
    }
    Redirect::to(&format!("/ui/signin?{}", query(&q))).into_response()
}

/// `a=1&b=2`, form-urlencoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Decoded `application/x-www-form-urlencoded` pairs (a query string or a form body), in order;
/// repeated names are kept (the custom parameter rows repeat theirs).
#[derive(Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Parses `raw`.
    pub fn parse(raw: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(raw).into_owned().collect())
    }

    /// The request's query.
    pub fn of_query(uri: &axum::http::Uri) -> Self {
        Self::parse(uri.query().unwrap_or("").as_bytes())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Removes and returns the first value of `name` (for the secret: it leaves the pairs at
    /// once and is zeroized by its new owner).
    pub fn take(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(i).1)
    }
}

/// The only runtime that exists today (PRODUCT.md §6 adds edge runtimes later).
pub const RUNTIMES: &[(&str, &str)] = &[("cloud", "Cloud Integration (cloud)")];
