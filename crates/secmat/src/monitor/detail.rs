//! A credential's detail page and its connectivity test, and what the pages about one credential
//! share (finding it by the `name` in the query, breadcrumbs).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use secmat_core::token_response::TransportKind;
use secmat_core::{CredentialSpec, TokenError};
use secmat_store::CredentialRecord;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::form;
use super::layout::{self, Frame, Nav, csrf_field};
use super::list::TYPE_LABEL;
use super::{Fields, Visitor, query};
use crate::auth::Role;
use crate::state::AppState;
use crate::tokens::TokenFailure;

pub(super) const LIST: &str = "/ui/security-material?runtime=cloud";

pub(super) fn crumbs() -> [(&'static str, String); 3] {
    [
        ("Home", "/ui/".to_owned()),
        (
            "Integrations and APIs",
            "/ui/monitor/integrations?runtime=cloud".to_owned(),
        ),
        ("Security Material", LIST.to_owned()),
    ]
}

pub(super) fn view_href(name: &str) -> String {
    format!("/ui/security-material/view?{}", query(&[("name", name)]))
}

pub(super) fn name_of(uri: &Uri) -> Option<String> {
    Fields::of_query(uri)
        .get("name")
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

pub(super) fn missing(visitor: &Visitor, name: &str) -> Response {
    layout::error_page(
        Some(visitor),
        StatusCode::NOT_FOUND,
        "Not found",
        &format!(
            "There are no OAuth2 Client Credentials named '{name}' (they may have just been deleted)."
        ),
    )
}

/// The stored credential `name`, or the page that explains why there is none.
#[allow(clippy::result_large_err)]
pub(super) async fn load(
    state: &AppState,
    visitor: &Visitor,
    uri: &Uri,
) -> Result<CredentialRecord, Response> {
    let Some(name) = name_of(uri) else {
        return Err(missing(visitor, ""));
    };
    match state.store.get_credential(&name).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(missing(visitor, &name)),
        Err(e) => {
            tracing::error!(error = %e, "store failed");
            Err(layout::unavailable(Some(visitor)))
        }
    }
}
fn or_dash(v: Option<&str>) -> Markup {
    match v {
        Some(s) if !s.is_empty() => html! { (s) },
        _ => html! { span.none { "Not set" } },
    }
}

fn label_of(options: &[(&str, &'static str)], value: &str) -> &'static str {
    options
        .iter()
        .find(|(v, _)| *v == value)
        .map_or("", |(_, l)| *l)
}

fn details(s: &CredentialSpec, rec: &CredentialRecord) -> Markup {
    html! {
        dl.details {
            div { dt { "Name" } dd { (s.name) } }
            div { dt { "Type" } dd { (TYPE_LABEL) } }
            div { dt { "Status" } dd { span.status.deployed { "Deployed" } } }
            div { dt { "Deployed By" } dd { (rec.deployed_by) } }
            div { dt { "Deployed On" } dd { (layout::time(rec.deployed_on)) } }
            div { dt { "Description" } dd { (or_dash(s.description.as_deref())) } }
            div { dt { "Token Service URL" } dd.mono { (s.token_service_url) } }
            div { dt { "Grant Type" } dd { (label_of(form::GRANT_TYPES, s.grant_type.as_str())) } }
            div { dt { "Client ID" } dd.mono { (s.client_id) } }
            div { dt { "Client Secret" } dd { span.none { "Hidden (it can never be read back)" } } }
            div { dt { "Client Authentication" } dd { (label_of(form::CLIENT_AUTHENTICATIONS, s.client_authentication.as_str())) } }
            div { dt { "Scope" } dd { (or_dash(s.scope.as_deref())) } }
            div { dt { "Content Type" } dd { (label_of(form::CONTENT_TYPES, s.scope_content_type.as_str())) } }
            div { dt { "Resource" } dd { (or_dash(s.resource.as_deref())) } }
            div { dt { "Audience" } dd { (or_dash(s.audience.as_deref())) } }
        }
        h2.card-title { "Custom Parameters" }
        @if s.custom_parameters.is_empty() {
            p.empty { "None." }
        } @else {
            div.table-scroll {
                table.list {
                    thead { tr { th scope="col" { "Key" } th scope="col" { "Value" } th scope="col" { "Send as Part of" } } }
                    tbody {
                        @for p in &s.custom_parameters {
                            tr { td.mono { (p.key) } td.mono { (p.value) } td { (label_of(form::PARTS, p.send_as_part_of.as_str())) } }
                        }
                    }
                }
            }
        }
    }
}

fn detail_page(visitor: &Visitor, rec: &CredentialRecord, test: Option<Markup>) -> Response {
    let name = &rec.spec.name;
    let q = query(&[("name", name)]);
    let content = html! {
        div.toolbar {
            div.toolbar-actions {
                @if visitor.may(Role::CredentialsEdit) {
                    a.button.primary href={ "/ui/security-material/edit?" (q) } { "Edit" }
                    a.button.danger href={ "/ui/security-material/delete?" (q) } { "Delete" }
                }
                @if visitor.may(Role::CredentialsRead) {
                    form.inline-form method="post" action={ "/ui/security-material/test?" (q) } {
                        (csrf_field(visitor))
                        button.button #connectivity-test type="submit" { "Test Connectivity" }
                    }
                }
            }
        }
        @if let Some(t) = test { (t) }
        div.card { (details(&rec.spec, rec)) }
    };
    let c = crumbs();
    let frame = Frame {
        title: name,
        visitor: Some(visitor),
        nav: Nav::Integrations,
        crumbs: &c,
    };
    layout::respond(StatusCode::OK, layout::page(&frame, content))
}

/// `GET /ui/security-material/view?name=…`
pub async fn view(State(state): State<Arc<AppState>>, visitor: Visitor, uri: Uri) -> Response {
    if let Err(r) = visitor.require(Role::MonitoringDataRead, "read security material") {
        return r;
    }
    match load(&state, &visitor, &uri).await {
        Ok(rec) => detail_page(&visitor, &rec, None),
        Err(page) => page,
    }
}

/// `GET /ui/security-material/test?name=…`: the test is a `POST`; a reload or a return from
/// sign-in lands on the detail page.
pub async fn test_get(uri: Uri) -> Response {
    let name = name_of(&uri).unwrap_or_default();
    Redirect::to(&view_href(&name)).into_response()
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(show).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn lifetime(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let words = match (h, m, s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, 0) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    };
    if secs >= 60 {
        format!("{secs} seconds ({words})")
    } else {
        format!("{secs} seconds")
    }
}

/// The failure in plain words, and the technical detail (never a secret: [`TokenError`]'s
/// messages are secret-free by contract).
fn failure_words(e: &TokenError) -> (String, Option<u16>) {
    match e {
        TokenError::Transport { kind: TransportKind::Connect, .. } => (
            "The token service could not be reached (connection refused, unknown host or TLS failure). Check the Token Service URL and the network.".into(),
            None,
        ),
        TokenError::Transport { kind: TransportKind::Timeout, .. } => ("The token service did not answer in time.".into(), None),
        TokenError::Transport { .. } => ("The connection to the token service failed.".into(), None),
        TokenError::Refused { status, error, .. } => (format!("The token service refused the request ({error}). Check the Client ID, the Client Secret and how they are sent."), Some(*status)),
        TokenError::Status { status, .. } => (format!("The token service answered with HTTP {status} instead of a token."), Some(*status)),
        TokenError::Invalid { status, .. } => ("The token service answered, but not with a usable token.".into(), Some(*status)),
        TokenError::TooLarge { status } => ("The token service's answer was larger than 1 MiB.".into(), Some(*status)),
        TokenError::Unusable(_) => ("These credentials cannot be used.".into(), None),
    }
}

/// `POST /ui/security-material/test?name=…`: one fresh token request, bypassing the cache.
/// Shows status, latency, lifetime, token type and decoded JWT claims; never the token.
pub async fn test_submit(
    State(state): State<Arc<AppState>>,
    visitor: Visitor,
    uri: Uri,
    body: Bytes,
) -> Response {
    if let Err(r) = visitor.require(Role::CredentialsRead, "run connectivity tests") {
        return r;
    }
    if let Err(r) = visitor.check_csrf(&Fields::parse(&body)) {
        return r;
    }
    let Some(name) = name_of(&uri) else {
        return missing(&visitor, "");
    };
    let (result, latency) = match state.tokens.fetch_uncached(&name).await {
        Ok(r) => r,
        Err(TokenFailure::NotFound(_)) => return missing(&visitor, &name),
        Err(TokenFailure::Store(e)) => {
            tracing::error!(error = %e, "store failed");
            return layout::unavailable(Some(&visitor));
        }
        Err(f @ (TokenFailure::Sealed(_) | TokenFailure::Provider(_))) => {
            return layout::error_page(
                Some(&visitor),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Connectivity test failed",
                &f.to_string(),
            );
        }
    };
    let ms = format!("{:.1} ms", latency.as_secs_f64() * 1000.0);
    let panel = match &result {
        Ok(token) => {
            let claims = crate::runtime::jwt_claims(token.access_token.expose_secret());
            html! {
                section.card.test-result.ok #test-result aria-labelledby="test-title" {
                    h2.card-title #test-title { "Connectivity test: success" }
                    p.message.success role="status" { "The token service issued an access token. The token itself is not shown." }
                    dl.details {
                        div { dt { "HTTP status" } dd { (token.http_status) } }
                        div { dt { "Latency" } dd { (ms) } }
                        div { dt { "Lifetime" } dd { @match token.expires_in { Some(d) => (lifetime(d.as_secs())), None => "Not stated by the token service" } } }
                        div { dt { "Token type" } dd { (token.token_type) } }
                        div { dt { "Granted scope" } dd { (or_dash(token.scope.as_deref())) } }
                    }
                    h3 { "JWT claims" }
                    @if claims.is_null() {
                        p.empty { "The token is opaque (not a JWT): there are no claims to decode." }
                    } @else {
                        dl.details {
                            div { dt { "Issuer (iss)" } dd.mono { (show(&claims["iss"])) } }
                            div { dt { "Audience (aud)" } dd.mono { (show(&claims["aud"])) } }
                            div { dt { "Scope (scope)" } dd.mono { (show(&claims["scope"])) } }
                            div { dt { "Expires (exp)" } dd.mono { (show(&claims["exp"])) @if let Some(at) = claims["exp_at"].as_str() { " (" (at) ")" } } }
                        }
                    }
                }
            }
        }
        Err(e) => {
            let (words, status) = failure_words(e);
            html! {
                section.card.test-result.failed #test-result aria-labelledby="test-title" {
                    h2.card-title #test-title { "Connectivity test: failed" }
                    p.message.error-message role="alert" { (words) }
                    dl.details {
                        div { dt { "HTTP status" } dd { @match status { Some(s) => (s), None => "No answer" } } }
                        div { dt { "Latency" } dd { (ms) } }
                        div { dt { "Details" } dd { (e.to_string()) } }
                    }
                }
            }
        }
    };
    if visitor.may(Role::MonitoringDataRead)
        && let Ok(Some(rec)) = state.store.get_credential(&name).await
    {
        return detail_page(&visitor, &rec, Some(panel));
    }
    let c = crumbs();
    let title = format!("Connectivity test of {name}");
    let frame = Frame {
        title: &title,
        visitor: Some(&visitor),
        nav: Nav::Integrations,
        crumbs: &c,
    };
    layout::respond(StatusCode::OK, layout::page(&frame, panel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(lifetime(3600), "3600 seconds (1 h)");
        assert_eq!(lifetime(5400), "5400 seconds (1 h 30 min)");
        assert_eq!(lifetime(90), "90 seconds (1 min 30 s)");
        assert_eq!(lifetime(30), "30 seconds");
    }
}
