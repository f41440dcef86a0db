//! Sign-in and sign-out. The same users and roles as the API ([`crate::auth::AuthService`]);
//! a wrong user name and a wrong password get the same answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use secmat_store::UserRecord;
use zeroize::Zeroizing;

use super::layout::{self, Frame, Nav};
use super::session::{self, COOKIE, CSRF_FIELD, Lookup, SIGNIN_COOKIE};
use super::{Fields, Visitor};
use crate::auth::{AuthError, Principal, Role};
use crate::state::AppState;

/// Only pages of the monitor itself are followed after sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("/ui//") && !n.contains('\\') => n,
        _ => "/ui/",
    }
}

/// The principal a stored user stands for (roles the monitor does not know are ignored).
pub fn principal_of(user: &UserRecord) -> Principal {
    let mut roles: Vec<Role> = user.roles.iter().filter_map(|r| Role::parse(r)).collect();
    roles.sort();
    roles.dedup();
    Principal {
        name: user.name.clone(),
        roles,
    }
}

struct SignInPage<'a> {
    next: &'a str,
    user: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    token: &'a str,
}

fn render(p: &SignInPage<'_>) -> Markup {
    let content = html! {
        div.card.signin-card {
            @if let Some(n) = p.notice {
                p.message.info role="status" { (n) }
            }
            @if let Some(e) = p.error {
                p.message.error-message #signin-error role="alert" { (e) }
            }
            p.help.signin-intro { "Sign in with your secmat user to manage security material." }
            form method="post" action="/ui/signin" novalidate {
                input type="hidden" name=(CSRF_FIELD) value=(p.token);
                input type="hidden" name="next" value=(p.next);
                div.field {
                    label for="user" { "User name" }
                    input #user type="text" name="user" value=(p.user) autocomplete="username"
                        autocapitalize="none" spellcheck="false" required autofocus
                        aria-invalid=[p.error.map(|_| "true")]
                        aria-describedby=[p.error.map(|_| "signin-error")];
                }
                div.field {
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required
                        aria-invalid=[p.error.map(|_| "true")]
                        aria-describedby=[p.error.map(|_| "signin-error")];
                }
                div.actions {
                    button.button.primary type="submit" { "Sign in" }
                }
            }
        }
    };
    let frame = Frame {
        title: "Sign in",
        visitor: None,
        nav: Nav::None,
        crumbs: &[],
    };
    layout::page(&frame, content)
}

/// Answers with the sign-in page and a fresh double-submit token in its cookie.
fn page_response(
    status: StatusCode,
    headers: &HeaderMap,
    next: &str,
    user: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    let Ok(token) = session::random_token() else {
        return layout::error_page(
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in unavailable",
            "The server could not create a sign-in form (no randomness available). Try again.",
        );
    };
    let markup = render(&SignInPage {
        next,
        user,
        error,
        notice,
        token: &token,
    });
    let mut res = layout::respond(status, markup);
    let cookie = session::set_cookie(
        SIGNIN_COOKIE,
        Some(&token),
        "/ui/signin",
        session::is_https(headers),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// `GET /ui/signin[?next=…][&expired=1]`
pub async fn form(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let q = Fields::of_query(&uri);
    let next = safe_next(q.get("next"));
    let now = state.clock.now_millis();
    if let Lookup::Live(_) = state
        .sessions
        .lookup(session::cookie(&headers, COOKIE), now, false)
    {
        return Redirect::to(next).into_response();
    }
    let notice = q
        .get("expired")
        .map(|_| "Your session has expired. Sign in again to continue.");
    page_response(StatusCode::OK, &headers, next, "", None, notice)
}

/// `POST /ui/signin`
pub async fn submit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut fields = Fields::parse(&body);
    let next = safe_next(fields.get("next")).to_owned();
    let user = fields.get("user").unwrap_or("").to_owned();
    let password = Zeroizing::new(fields.take("password").unwrap_or_default());
    let sent = fields.get(CSRF_FIELD).unwrap_or("");
    let expected = session::cookie(&headers, SIGNIN_COOKIE).unwrap_or("");
    if expected.is_empty()
        || !bool::from(subtle::ConstantTimeEq::ct_eq(
            sent.as_bytes(),
            expected.as_bytes(),
        ))
    {
        return page_response(
            StatusCode::FORBIDDEN,
            &headers,
            &next,
            &user,
            Some("The sign-in form had expired. It has been renewed: sign in again."),
            None,
        );
    }
    let principal = match state.auth.verify(&user, &password).await {
        Ok(p) => p,
        Err(AuthError::Store) => {
            return page_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &headers,
                &next,
                &user,
                Some("The user store does not answer right now. Try again in a moment."),
                None,
            );
        }
        Err(_) => {
            return page_response(
                StatusCode::OK,
                &headers,
                &next,
                &user,
                Some("Wrong user name or password."),
                None,
            );
        }
    };
    // The password hash's fingerprint lets a later password change end this session.
    let tag = match state.store.get_user(&principal.name).await {
        Ok(Some(u)) => session::password_tag(&u.password_hash),
        _ => return layout::unavailable(None),
    };
    let now = state.clock.now_millis();
    let Ok((id, _)) = state.sessions.create(principal.clone(), tag, now) else {
        return layout::error_page(
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in unavailable",
            "The server could not create a session (no randomness available). Try again.",
        );
    };
    tracing::info!(user = %principal.name, "monitor sign-in");
    let secure = session::is_https(&headers);
    let mut res = Redirect::to(&next).into_response();
    for c in [
        session::set_cookie(COOKIE, Some(&id), "/ui", secure),
        session::set_cookie(SIGNIN_COOKIE, None, "/ui/signin", secure),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// `POST /ui/signout`
pub async fn sign_out(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    visitor: Visitor,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    if let Err(r) = visitor.check_csrf(&fields) {
        return r;
    }
    state.sessions.end(&visitor.session);
    tracing::info!(user = %visitor.principal().name, "monitor sign-out");
    let mut res = page_response(
        StatusCode::OK,
        &headers,
        "/ui/",
        "",
        None,
        Some("You have signed out."),
    );
    let c = session::set_cookie(COOKIE, None, "/ui", visitor.secure);
    if let Ok(v) = HeaderValue::from_str(&c) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_monitor_pages_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/ui/security-material?q=a")),
            "/ui/security-material?q=a"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/ui//evil",
            "/api/v1/",
            "/ui\\x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/ui/", "{bad}");
        }
        assert_eq!(safe_next(None), "/ui/");
    }
}
