//! The form as HTML: sections of labelled inputs with their help texts and error slots, the
//! custom parameter table (with a template row for the script), and the error summary.

use maud::{Markup, html};
use secmat_core::validate::{MAX_CUSTOM_PARAMETERS, MAX_FIELD_CHARS, RESERVED_PARAMETER_KEYS};

use super::{ATTRS, Attr, CredentialForm, Errors, Kind, MIN_ROWS, PARTS, Row};

/// How the form groups the attributes (in [`ATTRS`]' order).
const SECTIONS: &[(&str, &[&str])] = &[
    ("General", &["Name", "Description"]),
    (
        "Token Service",
        &[
            "TokenServiceUrl",
            "GrantType",
            "ClientId",
            "ClientSecret",
            "ClientAuthentication",
        ],
    ),
    (
        "Token Request",
        &["Scope", "ScopeContentType", "Resource", "Audience"],
    ),
];

/// The seed's longer explanation of the client credentials, shown under the secret on request.
const OAUTH_EXPLAINED: &str = "OAuth2 uses a multiple step authentication pattern: client credentials (Client ID and Client Secret, as specified in the artifact) are used by the client application to initially request an access token. The access token is then used to authorize the client (for as long as the token is valid) to access the server's resources (for example, the resources that are used in the associated integration flow). In many OAuth2 scenarios, the access token is issued (or generated) by an authorization server.";

/// Whether the form adds or edits.
pub enum Mode<'a> {
    /// A new credential.
    Add,
    /// The credential of this name.
    Edit(&'a str),
}

/// Everything the form page shows besides the frame.
pub struct FormView<'a> {
    /// Add or edit.
    pub mode: Mode<'a>,
    /// The values.
    pub form: &'a CredentialForm,
    /// What validation (or the store) said.
    pub errors: &'a Errors,
    /// A note above the form (e.g. that the secret must be entered again).
    pub notice: Option<&'a str>,
    /// Where *Deploy* posts to.
    pub action: String,
    /// Where *Cancel* leads.
    pub cancel: String,
    /// The hidden CSRF field.
    pub csrf: Markup,
}

/// The form.
pub fn render(v: &FormView<'_>) -> Markup {
    let editing = matches!(v.mode, Mode::Edit(_));
    let e = v.errors;
    html! {
        @if editing {
            p.message.info #secret-notice role="note" { "Every time you edit an OAuth2 Client Credentials artifact, you must re-enter the Client Secret." }
        }
        @if let Some(n) = v.notice {
            p.message.info role="status" { (n) }
        }
        @if !e.is_empty() {
            div.error-summary #error-summary tabindex="-1" role="alert" aria-labelledby="error-summary-title" {
                h2 #error-summary-title {
                    "The credentials were not deployed. "
                    @if e.summary.len() == 1 { "Fix this problem:" } @else { "Fix these " (e.summary.len()) " problems:" }
                }
                ul {
                    @for (target, message) in &e.summary {
                        li { a href={ "#" (target) } { (message) } }
                    }
                }
            }
        }
        @if let Some(g) = e.general() {
            p.message.error-message #form-errors role="alert" { (g) }
        }
        form.credential-form #credential-form method="post" action=(v.action) novalidate
            data-max-chars=(MAX_FIELD_CHARS) {
            (v.csrf)
            p.help.required-note { "Fields marked " span.req aria-hidden="true" { "*" } span.sr-only { "required" } " are required." }
            @for (i, (title, names)) in SECTIONS.iter().enumerate() {
                section.card aria-labelledby={ "section-" (i) } {
                    h2.card-title id={ "section-" (i) } { (title) }
                    @if i == 0 {
                        div.field {
                            span.label #type-label { "Type" }
                            p.static-value aria-labelledby="type-label" { "OAuth2 Client Credentials" }
                        }
                    }
                    @for a in ATTRS.iter().filter(|a| names.contains(&a.api)) {
                        (field(a, v, editing))
                    }
                }
            }
            (parameters(v))
            div.form-actions {
                button.button.primary #deploy type="submit" name="action" value="deploy" { "Deploy" }
                a.button.transparent href=(v.cancel) { "Cancel" }
                p.error #form-client-errors role="alert" {}
            }
        }
    }
}

fn field(a: &Attr, v: &FormView<'_>, editing: bool) -> Markup {
    let id = format!("f-{}", a.api);
    let help_id = format!("{id}-help");
    let err_id = format!("{id}-error");
    let error = v.errors.at(&err_id);
    let invalid = error.as_ref().map(|_| "true");
    let describedby = format!("{help_id} {err_id}");
    let value = v.form.value(a.api);
    let name_locked = editing && a.api == "Name";
    html! {
        div.field #{ "field-" (a.api) } {
            label for=(id) {
                (a.label)
                @if a.required { span.req aria-hidden="true" { " *" } }
            }
            @match a.kind {
                Kind::Text | Kind::Url => {
                    input id=(id) name=(a.api) type=(if a.kind == Kind::Url { "url" } else { "text" })
                        value=(value) readonly[name_locked] required[a.required]
                        aria-required=[a.required.then_some("true")] aria-invalid=[invalid]
                        aria-describedby=(describedby) autocomplete="off" spellcheck="false"
                        data-label=(a.label) data-required[a.required] data-url[a.kind == Kind::Url];
                }
                Kind::TextArea => {
                    textarea id=(id) name=(a.api) rows="2" aria-invalid=[invalid]
                        aria-describedby=(describedby) data-label=(a.label) { (value) }
                }
                Kind::Secret => {
                    input id=(id) name=(a.api) type="password" value="" required
                        aria-required="true" aria-invalid=[invalid] aria-describedby=(describedby)
                        autocomplete="new-password" data-label=(a.label) data-required;
                }
                Kind::Choice(options) => {
                    select id=(id) name=(a.api) aria-invalid=[invalid] aria-describedby=(describedby) {
                        @for (val, label) in options {
                            option value=(val) selected[*val == value] { (label) }
                        }
                    }
                }
            }
            p.help id=(help_id) {
                (a.help)
                @if name_locked { " The name cannot be changed: consumers refer to the credentials by it." }
                @if a.kind == Kind::Secret && editing { " You must enter it again on every edit." }
            }
            @if a.kind == Kind::Secret {
                details.more {
                    summary { "How OAuth2 uses the client credentials" }
                    p { (OAUTH_EXPLAINED) }
                }
            }
            p.error id=(err_id) { @if let Some(m) = error { (m) } }
        }
    }
}

fn parameters(v: &FormView<'_>) -> Markup {
    let e = v.errors;
    let table_error = e.at("f-CustomParameters-error");
    let rows = v.form.rows.len().max(MIN_ROWS.min(MAX_CUSTOM_PARAMETERS));
    html! {
        div.card.params #f-CustomParameters tabindex="-1" role="group" aria-labelledby="params-title"
            aria-describedby="f-CustomParameters-help f-CustomParameters-error"
            data-max-rows=(MAX_CUSTOM_PARAMETERS) data-reserved=(RESERVED_PARAMETER_KEYS.join(" ")) {
            h2.card-title #params-title { "Custom Parameters" }
            div.help #f-CustomParameters-help {
                p { "Add or delete additional parameters in the custom parameter table, which includes three columns: Key, Value, and Send as Part of. Each custom parameter can be sent in the request body, request header, or request URL, depending on specific requirements." }
                ul {
                    li { "Duplicate combinations of Key, Value, and Send as Part of are not allowed." }
                    li { "The Key cannot be \"client_id\", \"client_secret\", or \"grant_type\"." }
                    li { "Fields cannot be empty or consist only of whitespace." }
                    li { "The maximum length of the fields is " (MAX_FIELD_CHARS) " characters." }
                    li { "You can add a maximum of " (MAX_CUSTOM_PARAMETERS) " key-value pairs." }
                }
            }
            p.error #f-CustomParameters-error { @if let Some(m) = table_error { (m) } }
            table.params-table {
                thead {
                    tr {
                        th scope="col" { "Key" }
                        th scope="col" { "Value" }
                        th scope="col" { "Send as Part of" }
                        th scope="col" { span.sr-only { "Actions" } }
                    }
                }
                tbody #cp-rows {
                    @for i in 0..rows {
                        (param_row(i, v.form.rows.get(i), e))
                    }
                }
            }
            template #cp-template { (param_row(0, None, &Errors::default())) }
            div.params-actions {
                button.button #cp-add type="submit" name="action" value="add-row" { "Add Parameter" }
            }
        }
    }
}

/// One row. Ids carry the row number; the script renumbers them when rows come and go.
fn param_row(i: usize, row: Option<&Row>, e: &Errors) -> Markup {
    let n = i + 1;
    let empty = Row::default();
    let r = row.unwrap_or(&empty);
    let id = |cell: &str| format!("cp-{i}-{cell}");
    let row_error = e.at(&format!("cp-{i}-error"));
    let cell_error = |cell: &str| e.at(&format!("cp-{i}-{cell}-error"));
    let describedby = |cell: &str| format!("cp-{i}-{cell}-error cp-{i}-error");
    let (key_err, value_err, part_err) =
        (cell_error("key"), cell_error("value"), cell_error("part"));
    let invalid = |m: &Option<String>| (m.is_some() || row_error.is_some()).then_some("true");
    html! {
        tr.param-row #{ "cp-" (i) } {
            td data-cell="key" {
                label.cell-label for=(id("key")) { "Key" span.sr-only { ", parameter " (n) } }
                input id=(id("key")) name="cp_key" type="text" value=(r.key) autocomplete="off"
                    spellcheck="false" aria-invalid=[invalid(&key_err)] aria-describedby=(describedby("key"));
                p.error id=(id("key-error")) { @if let Some(m) = &key_err { (m) } }
                p.error id=(id("error")) { @if let Some(m) = &row_error { (m) } }
            }
            td data-cell="value" {
                label.cell-label for=(id("value")) { "Value" span.sr-only { ", parameter " (n) } }
                input id=(id("value")) name="cp_value" type="text" value=(r.value) autocomplete="off"
                    spellcheck="false" aria-invalid=[invalid(&value_err)] aria-describedby=(describedby("value"));
                p.error id=(id("value-error")) { @if let Some(m) = &value_err { (m) } }
            }
            td data-cell="part" {
                label.cell-label for=(id("part")) { "Send as Part of" span.sr-only { ", parameter " (n) } }
                select id=(id("part")) name="cp_part" aria-invalid=[invalid(&part_err)] aria-describedby=(describedby("part")) {
                    @for (val, label) in PARTS {
                        option value=(val) selected[r.part.eq_ignore_ascii_case(val)] { (label) }
                    }
                    @if !r.part.is_empty() && !PARTS.iter().any(|(v, _)| r.part.eq_ignore_ascii_case(v)) {
                        option value=(r.part) selected { (r.part) }
                    }
                }
                p.error id=(id("part-error")) { @if let Some(m) = &part_err { (m) } }
            }
            td.row-actions {
                button.button.transparent.danger type="submit" name="action" value={ "delete-row:" (i) }
                    data-delete-row { "Delete" span.sr-only { " parameter " (n) } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attribute_is_in_exactly_one_section() {
        for a in ATTRS {
            let n = SECTIONS
                .iter()
                .filter(|(_, names)| names.contains(&a.api))
                .count();
            assert_eq!(n, 1, "{}", a.api);
        }
        let listed: usize = SECTIONS.iter().map(|(_, names)| names.len()).sum();
        assert_eq!(listed, ATTRS.len());
    }
}
