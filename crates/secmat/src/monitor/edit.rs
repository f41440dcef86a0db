//! *Add*, *Edit* and *Delete*. Every write goes through [`crate::material`] after
//! [`secmat_core::CredentialDraft::validate`], exactly as the API's do.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use secmat_core::validate::MAX_CUSTOM_PARAMETERS;
use secmat_store::StoreError;

use super::detail::{LIST, crumbs, load, missing, name_of, view_href};
use super::form::{self, CredentialForm, Errors, FormView, Mode};
use super::layout::{self, Frame, Nav, csrf_field};
use super::list::TYPE_LABEL;
use super::{Fields, Visitor, query};
use crate::auth::Role;
use crate::material::{self, MaterialError};
use crate::state::AppState;

pub async fn choose_type(visitor: Visitor) -> Response {
    if let Err(r) = visitor.require(Role::CredentialsEdit, "add security material") {
        return r;
    }
    let content = html! {
        div.card {
            h2.card-title #type-title { "Type" }
            ul.choice-list aria-labelledby="type-title" {
                li { a.button href="/ui/security-material/add/oauth2-client-credentials" { (TYPE_LABEL) } }
            }
        }
    };
    let c = crumbs();
    let frame = Frame {
        title: "Add Security Material",
        visitor: Some(&visitor),
        nav: Nav::Integrations,
        crumbs: &c,
    };
    layout::respond(StatusCode::OK, layout::page(&frame, content))
}

/// Renders the add or edit form.
fn form_page(
    visitor: &Visitor,
    status: StatusCode,
    mode: Mode<'_>,
    form: &CredentialForm,
    errors: &Errors,
    notice: Option<&str>,
) -> Response {
    let (title, action, cancel) = match mode {
        Mode::Add => (
            "Add OAuth2 Client Credentials".to_owned(),
            "/ui/security-material/add/oauth2-client-credentials".to_owned(),
            LIST.to_owned(),
        ),
        Mode::Edit(name) => (
            format!("Edit {name}"),
            format!("/ui/security-material/edit?{}", query(&[("name", name)])),
            view_href(name),
        ),
    };
    let content = form::render(&FormView {
        mode,
        form,
        errors,
        notice,
        action,
        cancel,
        csrf: csrf_field(visitor),
    });
    let c = crumbs();
    let frame = Frame {
        title: &title,
        visitor: Some(visitor),
        nav: Nav::Integrations,
        crumbs: &c,
    };
    layout::respond(status, layout::page(&frame, content))
}

/// `GET /ui/security-material/add/oauth2-client-credentials`
pub async fn add_form(visitor: Visitor) -> Response {
    if let Err(r) = visitor.require(Role::CredentialsEdit, "add security material") {
        return r;
    }
    form_page(
        &visitor,
        StatusCode::OK,
        Mode::Add,
        &CredentialForm::new(),
        &Errors::default(),
        None,
    )
}

/// What a form post asks for.
enum Action {
    Deploy,
    AddRow,
    DeleteRow(usize),
}

fn action_of(fields: &Fields) -> Action {
    match fields.get("action") {
        Some("add-row") => Action::AddRow,
        Some(a) => match a.strip_prefix("delete-row:").and_then(|i| i.parse().ok()) {
            Some(i) => Action::DeleteRow(i),
            None => Action::Deploy,
        },
        None => Action::Deploy,
    }
}

const SECRET_NOT_KEPT: &str =
    "The Client Secret is not kept when the form is shown again: enter it again before you deploy.";

/// Reads a posted form. For the row buttons of a form posted without JavaScript the answer is
/// the same form again, with a row more or less (`Err`); for *Deploy* it is the form (`Ok`).
#[allow(clippy::result_large_err)] // a Response, returned straight to axum
fn row_action(
    visitor: &Visitor,
    mode: Mode<'_>,
    fields: &mut Fields,
) -> Result<CredentialForm, Response> {
    let action = action_of(fields);
    let delete = match action {
        Action::DeleteRow(i) => Some(i),
        _ => None,
    };
    let mut form = CredentialForm::from_fields(fields, delete);
    if let Mode::Edit(name) = mode {
        form.set("Name", name.to_owned());
    }
    if matches!(action, Action::Deploy) {
        return Ok(form);
    }
    let mut errors = Errors::default();
    if matches!(action, Action::AddRow) {
        if form.rows.len() >= MAX_CUSTOM_PARAMETERS {
            errors.add(
                "CustomParameters",
                &format!("You can add a maximum of {MAX_CUSTOM_PARAMETERS} custom parameters."),
            );
        } else {
            // The rendered table pads with empty rows; one more than it shows now.
            let shown = form.rows.len().max(form::MIN_ROWS);
            form.rows.resize(
                shown + 1,
                form::Row {
                    part: "body".into(),
                    ..Default::default()
                },
            );
        }
    }
    let notice = form.had_secret().then_some(SECRET_NOT_KEPT);
    Err(form_page(
        visitor,
        StatusCode::OK,
        mode,
        &form,
        &errors,
        notice,
    ))
}

/// Shows `errors` (from validation) on the form, values kept: `400`.
fn rejected(visitor: &Visitor, mode: Mode<'_>, form: &CredentialForm, errors: &Errors) -> Response {
    form_page(visitor, StatusCode::BAD_REQUEST, mode, form, errors, None)
}

/// A failed write, on the form (the entered values are kept).
fn write_failed(
    visitor: &Visitor,
    mode: Mode<'_>,
    form: &CredentialForm,
    e: MaterialError,
) -> Response {
    let mut errors = Errors::default();
    let status = match &e {
        MaterialError::Store(StoreError::Conflict(_)) => {
            errors.add("Name", "A credential with this name already exists. Choose another name, or edit the existing credential.");
            StatusCode::CONFLICT
        }
        MaterialError::Store(StoreError::Stale(_)) => {
            errors.add("", "Someone else changed these credentials while you were editing them. Nothing was saved: open them again and repeat your change.");
            StatusCode::CONFLICT
        }
        MaterialError::NotFound(_) | MaterialError::Store(StoreError::NotFound(_)) => {
            errors.add(
                "",
                "These credentials no longer exist (someone deleted them). Nothing was saved.",
            );
            StatusCode::NOT_FOUND
        }
        MaterialError::Store(_) | MaterialError::Seal => {
            tracing::error!(error = %e, "monitor write failed");
            errors.add("", "The credentials could not be stored: the store does not answer or failed. Nothing was deployed. Try again in a moment.");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    form_page(visitor, status, mode, form, &errors, None)
}

/// `POST /ui/security-material/add/oauth2-client-credentials`
pub async fn add_submit(
    State(state): State<Arc<AppState>>,
    visitor: Visitor,
    body: Bytes,
) -> Response {
    if let Err(r) = visitor.require(Role::CredentialsEdit, "add security material") {
        return r;
    }
    let mut fields = Fields::parse(&body);
    if let Err(r) = visitor.check_csrf(&fields) {
        return r;
    }
    let mut form = match row_action(&visitor, Mode::Add, &mut fields) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let new = match form.take_draft().validate() {
        Ok(n) => n,
        Err(errors) => {
            return rejected(
                &visitor,
                Mode::Add,
                &form,
                &Errors::from_field_errors(&errors),
            );
        }
    };
    let name = new.spec.name.clone();
    match material::create(&state, &visitor.principal().name, new).await {
        Ok(()) => {
            state.sessions.set_flash(
                &visitor.session,
                format!("OAuth2 Client Credentials “{name}” deployed."),
            );
            Redirect::to(LIST).into_response()
        }
        Err(e) => write_failed(&visitor, Mode::Add, &form, e),
    }
}

/// `GET /ui/security-material/edit?name=…`
pub async fn edit_form(State(state): State<Arc<AppState>>, visitor: Visitor, uri: Uri) -> Response {
    if let Err(r) = visitor.require(Role::CredentialsEdit, "edit security material") {
        return r;
    }
    let rec = match load(&state, &visitor, &uri).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let form = CredentialForm::from_spec(&rec.spec);
    form_page(
        &visitor,
        StatusCode::OK,
        Mode::Edit(&rec.spec.name),
        &form,
        &Errors::default(),
        None,
    )
}

/// `POST /ui/security-material/edit?name=…`
pub async fn edit_submit(
    State(state): State<Arc<AppState>>,
    visitor: Visitor,
    uri: Uri,
    body: Bytes,
) -> Response {
    if let Err(r) = visitor.require(Role::CredentialsEdit, "edit security material") {
        return r;
    }
    let mut fields = Fields::parse(&body);
    if let Err(r) = visitor.check_csrf(&fields) {
        return r;
    }
    let Some(name) = name_of(&uri) else {
        return missing(&visitor, "");
    };
    let mut form = match row_action(&visitor, Mode::Edit(&name), &mut fields) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let new = match form.take_draft().validate() {
        Ok(n) => n,
        Err(errors) => {
            return rejected(
                &visitor,
                Mode::Edit(&name),
                &form,
                &Errors::from_field_errors(&errors),
            );
        }
    };
    match material::replace(&state, &visitor.principal().name, new).await {
        Ok(()) => {
            state.sessions.set_flash(
                &visitor.session,
                format!("OAuth2 Client Credentials “{name}” edited and deployed."),
            );
            Redirect::to(&view_href(&name)).into_response()
        }
        Err(e) => write_failed(&visitor, Mode::Edit(&name), &form, e),
    }
}

/// `GET /ui/security-material/delete?name=…`: asks before deleting.
pub async fn delete_form(
    State(state): State<Arc<AppState>>,
    visitor: Visitor,
    uri: Uri,
) -> Response {
    if let Err(r) = visitor.require(Role::CredentialsEdit, "delete security material") {
        return r;
    }
    let rec = match load(&state, &visitor, &uri).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let name = &rec.spec.name;
    let content = html! {
        div.card.confirm {
            p { "Do you really want to delete the OAuth2 Client Credentials " strong { "“" (name) "”" } "?" }
            p.help { "Consumers that use this name get no more tokens, and its cached tokens are dropped at once. This cannot be undone." }
            form method="post" action={ "/ui/security-material/delete?" (query(&[("name", name)])) } {
                (csrf_field(&visitor))
                div.form-actions {
                    button.button.danger-solid #confirm-delete type="submit" { "Delete" }
                    a.button.transparent href=(view_href(name)) { "Cancel" }
                }
            }
        }
    };
    let c = crumbs();
    let title = format!("Delete {name}");
    let frame = Frame {
        title: &title,
        visitor: Some(&visitor),
        nav: Nav::Integrations,
        crumbs: &c,
    };
    layout::respond(StatusCode::OK, layout::page(&frame, content))
}

/// `POST /ui/security-material/delete?name=…`
pub async fn delete_submit(
    State(state): State<Arc<AppState>>,
    visitor: Visitor,
    uri: Uri,
    body: Bytes,
) -> Response {
    if let Err(r) = visitor.require(Role::CredentialsEdit, "delete security material") {
        return r;
    }
    if let Err(r) = visitor.check_csrf(&Fields::parse(&body)) {
        return r;
    }
    let Some(name) = name_of(&uri) else {
        return missing(&visitor, "");
    };
    match material::delete(&state, &visitor.principal().name, &name).await {
        Ok(()) => {
            state.sessions.set_flash(
                &visitor.session,
                format!("OAuth2 Client Credentials “{name}” deleted."),
            );
            Redirect::to(LIST).into_response()
        }
        Err(MaterialError::NotFound(_) | MaterialError::Store(StoreError::NotFound(_))) => {
            missing(&visitor, &name)
        }
        Err(e) => {
            tracing::error!(error = %e, "monitor delete failed");
            layout::unavailable(Some(&visitor))
        }
    }
}
