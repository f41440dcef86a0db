//! The frame every monitor page shares: a skip link, the shell bar (product, user, sign-out), the
//! side navigation (only what the user's roles allow), breadcrumbs, a one-time message, and the
//! page's own content. Also the error page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::session::CSRF_FIELD;
use super::{ASSET_VERSION, Visitor};
use crate::auth::Role;

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The home page.
    Home,
    /// *Monitor → Integrations and APIs* and everything below it.
    Integrations,
    /// Pages outside the navigation (sign-in, errors).
    None,
}

/// What a page says about itself to the frame.
pub struct Frame<'a> {
    /// The `<title>` and the `<h1>`.
    pub title: &'a str,
    /// Who is signed in (`None` on the sign-in page).
    pub visitor: Option<&'a Visitor>,
    /// The navigation entry to mark as current.
    pub nav: Nav,
    /// Breadcrumbs above the title: (label, link); the page itself is not repeated.
    pub crumbs: &'a [(&'a str, String)],
}

/// A whole HTML document around `content`.
pub fn page(f: &Frame<'_>, content: Markup) -> Markup {
    let flash = f.visitor.and_then(|v| v.session.flash.as_deref());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (f.title) " – secmat" }
                link rel="icon" href={ "/ui/assets/icon.svg?v=" (ASSET_VERSION) } type="image/svg+xml";
                link rel="stylesheet" href={ "/ui/assets/monitor.css?v=" (ASSET_VERSION) };
                script src={ "/ui/assets/monitor.js?v=" (ASSET_VERSION) } defer {}
            }
            body {
                a.skip-link href="#main" { "Skip to main content" }
                (shell_bar(f.visitor))
                div.layout.bare[f.visitor.is_none()] {
                    @if let Some(v) = f.visitor {
                        (side_nav(v, f.nav))
                    }
                    main #main tabindex="-1" {
                        @if !f.crumbs.is_empty() {
                            nav.crumbs aria-label="Breadcrumb" {
                                ol {
                                    @for (label, href) in f.crumbs {
                                        li { a href=(href) { (label) } }
                                    }
                                    li aria-current="page" { (f.title) }
                                }
                            }
                        }
                        h1 { (f.title) }
                        @if let Some(message) = flash {
                            div.message.success role="status" { (message) }
                        }
                        (content)
                    }
                }
            }
        }
    }
}

fn shell_bar(visitor: Option<&Visitor>) -> Markup {
    html! {
        header.shell {
            a.brand href="/ui/" {
                img src={ "/ui/assets/icon.svg?v=" (ASSET_VERSION) } alt="" width="24" height="24";
                span { "secmat" }
            }
            span.product { "Security Material" }
            @if let Some(v) = visitor {
                div.user {
                    span.user-name title="Signed in user" { (v.principal().name) }
                    form method="post" action="/ui/signout" {
                        (csrf_field(v))
                        button.shell-button type="submit" { "Sign out" }
                    }
                }
            }
        }
    }
}

fn side_nav(v: &Visitor, current: Nav) -> Markup {
    let here = |n: Nav| (n == current).then_some("page");
    html! {
        nav.side aria-label="Main" {
            ul {
                li { a href="/ui/" aria-current=[here(Nav::Home)] { "Home" } }
                @if v.may(Role::MonitoringDataRead) {
                    li.group {
                        span.group-label #nav-monitor { "Monitor" }
                        ul aria-labelledby="nav-monitor" {
                            li {
                                a href="/ui/monitor/integrations?runtime=cloud" aria-current=[here(Nav::Integrations)] {
                                    "Integrations and APIs"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The hidden field with the session's CSRF token; every form has one.
pub fn csrf_field(v: &Visitor) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(v.session.csrf); }
}

/// `markup` as a `200 text/html` response.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, markup).into_response()
}

/// A page that explains what went wrong, in plain words, with a way on.
pub fn error_page(
    visitor: Option<&Visitor>,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    let content = html! {
        div.card {
            p.message.error-message role="alert" { (message) }
            p {
                @if visitor.is_some() {
                    a.button href="/ui/" { "Go to the home page" }
                } @else {
                    a.button href="/ui/signin" { "Sign in" }
                }
            }
        }
    };
    let frame = Frame {
        title,
        visitor,
        nav: Nav::None,
        crumbs: &[],
    };
    respond(status, page(&frame, content))
}

/// The page for a store that does not answer.
pub fn unavailable(visitor: Option<&Visitor>) -> Response {
    error_page(
        visitor,
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The store that holds the security material does not answer right now. Nothing was \
         changed. Try again in a moment; if it persists, the server log says why.",
    )
}

/// `UTC` time for people: `2026-11-27 03:45:26 UTC`, in a `<time>` element.
pub fn time(ms: secmat_core::UnixMillis) -> Markup {
    let iso = secmat_core::clock::rfc3339(ms);
    let readable = iso.replacen('T', " ", 1).replace('Z', " UTC");
    html! { time datetime=(iso) { (readable) } }
}
