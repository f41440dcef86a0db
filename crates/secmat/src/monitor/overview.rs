//! The home page and *Monitor → Integrations and APIs*: the *Runtime* selector and the *Manage
//! Security* section with its *Security Material* tile.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use maud::html;

use super::layout::{self, Frame, Nav};
use super::{Fields, RUNTIMES, Visitor, query};
use crate::auth::Role;
use crate::state::AppState;

/// The runtime a page was asked for: a known one, or `Err` with the unknown name (pages then
/// show `cloud` and say so).
pub fn runtime(q: &Fields) -> Result<&'static str, String> {
    match q.get("runtime").map(str::trim) {
        None | Some("") => Ok(RUNTIMES[0].0),
        Some(r) => RUNTIMES
            .iter()
            .find(|(id, _)| *id == r)
            .map(|(id, _)| *id)
            .ok_or_else(|| r.to_owned()),
    }
}

/// `GET /ui/`
pub async fn home(visitor: Visitor) -> Response {
    let roles: Vec<&str> = visitor
        .principal()
        .roles
        .iter()
        .map(|r| r.as_str())
        .collect();
    let content = html! {
        div.card {
            p { "Deploy OAuth2 client credentials once, under a name; every consumer then gets tokens for that name without ever seeing the secret." }
            @if visitor.may(Role::MonitoringDataRead) {
                p {
                    "To manage security material, choose "
                    a href="/ui/monitor/integrations?runtime=cloud" { "Monitor → Integrations and APIs" }
                    "."
                }
            } @else {
                p.message.info { "Your user has no role that the monitor uses (MonitoringDataRead, CredentialsEdit, CredentialsRead). Ask an administrator for one." }
            }
            p.meta {
                "Signed in as " strong { (visitor.principal().name) }
                @if !roles.is_empty() { " with the roles " (roles.join(", ")) "." }
            }
        }
    };
    let frame = Frame {
        title: "Home",
        visitor: Some(&visitor),
        nav: Nav::Home,
        crumbs: &[],
    };
    layout::respond(StatusCode::OK, layout::page(&frame, content))
}

/// `GET /ui/monitor/integrations?runtime=cloud`
pub async fn integrations(
    State(state): State<Arc<AppState>>,
    visitor: Visitor,
    uri: Uri,
) -> Response {
    if let Err(r) = visitor.require(Role::MonitoringDataRead, "monitor integrations and APIs") {
        return r;
    }
    let q = Fields::of_query(&uri);
    let (runtime, unknown) = match runtime(&q) {
        Ok(r) => (r, None),
        Err(name) => (RUNTIMES[0].0, Some(name)),
    };
    let count = match state.store.count_credentials(None).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "store failed");
            return layout::unavailable(Some(&visitor));
        }
    };
    let list_href = format!("/ui/security-material?{}", query(&[("runtime", runtime)]));
    let content = html! {
        form.filter-bar method="get" action="/ui/monitor/integrations" {
            div.field.inline {
                label for="runtime" { "Runtime" }
                select #runtime name="runtime"  aria-describedby="runtime-help" {
                    @for (id, label) in RUNTIMES {
                        option value=(id) selected[*id == runtime] { (label) }
                    }
                }
            }
            button.button type="submit" { "Apply" }
            p.help #runtime-help { "The runtime whose security material you manage. Edge Integration Cell runtimes appear here once they exist." }
        }
        @if let Some(name) = unknown {
            p.message.error-message role="alert" {
                "There is no runtime named '" (name) "'; showing " (runtime) "."
            }
        }
        section.section aria-labelledby="manage-security" {
            h2 #manage-security { "Manage Security" }
            ul.tiles {
                li {
                    a.tile href=(list_href) {
                        span.tile-title { "Security Material" }
                        span.tile-count { (count) }
                        span.tile-unit { @if count == 1 { "artifact" } @else { "artifacts" } }
                    }
                }
            }
        }
    };
    let frame = Frame {
        title: "Integrations and APIs",
        visitor: Some(&visitor),
        nav: Nav::Integrations,
        crumbs: &[("Home", "/ui/".to_owned())],
    };
    layout::respond(StatusCode::OK, layout::page(&frame, content))
}
