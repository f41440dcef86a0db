//! The *OAuth2 Client Credentials* form: every attribute of the seed with its help text, and the
//! *Custom Parameter* table.
//!
//! The form does not judge input: it turns the posted fields into a
//! [`CredentialDraft`] and lets [`CredentialDraft::validate`] decide, then puts each
//! [`FieldError`] next to the input its `field` names (`TokenServiceUrl` → the Token Service URL
//! input, `CustomParameters[2].Key` → the Key cell of the third row, `CustomParameters[2]` → the
//! third row, `CustomParameters` → the table). Entered values are shown again, except the client
//! secret, which never leaves the server.
//!
//! Inputs are named as the API names the properties, so field errors map one to one. Custom
//! parameter rows post `cp_key`, `cp_value` and `cp_part` once per row, in order, so that the
//! script can add and remove rows without renumbering names. A row whose Key and Value are both
//! empty is an unused row and is dropped (the page offers a few empty rows without JavaScript);
//! a row with anything in it is validated.

use std::collections::HashMap;

use secmat_core::{CredentialDraft, CredentialSpec, CustomParameterDraft, FieldError};
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::Fields;

mod render;
pub use render::{FormView, Mode, render};

/// What kind of input an attribute has.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One line of text.
    Text,
    /// Several lines.
    TextArea,
    /// An absolute URL.
    Url,
    /// The write-only client secret.
    Secret,
    /// One of fixed values: (value, label).
    Choice(&'static [(&'static str, &'static str)]),
}

/// One attribute of the artifact as the form shows it.
pub struct Attr {
    /// The API's property name (also the input's `name`).
    pub api: &'static str,
    /// The label the seed uses.
    pub label: &'static str,
    /// The seed's description of the attribute.
    pub help: &'static str,
    /// Whether the form marks it required (validation decides).
    pub required: bool,
    /// Its input.
    pub kind: Kind,
}

/// *Grant Type* choices.
pub const GRANT_TYPES: &[(&str, &str)] = &[
    ("body", "Send as part of body"),
    ("url", "Send as part of URL"),
];
/// *Client Authentication* choices.
pub const CLIENT_AUTHENTICATIONS: &[(&str, &str)] = &[
    ("body", "Send as Body Parameter"),
    ("header", "Send as Request Header"),
];
/// *Content Type* choices.
pub const CONTENT_TYPES: &[(&str, &str)] = &[
    ("urlencoded", "application/x-www-form-urlencoded"),
    ("json", "application/json"),
];
/// *Send as Part of* choices.
pub const PARTS: &[(&str, &str)] = &[("body", "Body"), ("header", "Header"), ("url", "URL")];

/// Every attribute, in the order the form shows them.
pub const ATTRS: &[Attr] = &[
    Attr {
        api: "Name",
        label: "Name",
        help: "Name for the credentials. This name is also called \"alias\" when used in an adapter.",
        required: true,
        kind: Kind::Text,
    },
    Attr {
        api: "Description",
        label: "Description",
        help: "Description for the credentials.",
        required: false,
        kind: Kind::TextArea,
    },
    Attr {
        api: "TokenServiceUrl",
        label: "Token Service URL",
        help: "URL of the OAuth2 authorization server that issues the access token (http:// or https://).",
        required: true,
        kind: Kind::Url,
    },
    Attr {
        api: "GrantType",
        label: "Grant Type",
        help: "Where grant_type=client_credentials is sent: in the request body (the default for new credentials) or as a query parameter of the Token Service URL.",
        required: false,
        kind: Kind::Choice(GRANT_TYPES),
    },
    Attr {
        api: "ClientId",
        label: "Client ID",
        help: "ID of the client that you're connecting to.",
        required: true,
        kind: Kind::Text,
    },
    Attr {
        api: "ClientSecret",
        label: "Client Secret",
        help: "Secret key of the client that you're connecting to. It is encrypted when stored and can never be read back.",
        required: true,
        kind: Kind::Secret,
    },
    Attr {
        api: "ClientAuthentication",
        label: "Client Authentication",
        help: "How the Client ID and Client Secret are sent to the authorization server. By default, Send as Body Parameter sends them in the request body; Send as Request Header encodes them and sends them as an Authorization header.",
        required: false,
        kind: Kind::Choice(CLIENT_AUTHENTICATIONS),
    },
    Attr {
        api: "Scope",
        label: "Scope",
        help: "The OAuth2 scope information to be included in the request body. Separate several scopes with spaces.",
        required: false,
        kind: Kind::Text,
    },
    Attr {
        api: "ScopeContentType",
        label: "Content Type",
        help: "Request content type to indicate the media type of the token request.",
        required: false,
        kind: Kind::Choice(CONTENT_TYPES),
    },
    Attr {
        api: "Resource",
        label: "Resource",
        help: "The identifier of the application or service that shares the same client secret. The identifier varies depending on the service that you want to connect with.",
        required: false,
        kind: Kind::Text,
    },
    Attr {
        api: "Audience",
        label: "Audience",
        help: "The identifier of the application or service that shares the same client secret. The identifier varies depending on the service that you want to connect with.",
        required: false,
        kind: Kind::Text,
    },
];

/// The rows the page offers at least, so that parameters can be entered without JavaScript.
pub const MIN_ROWS: usize = 3;

/// One row of the custom parameter table as entered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    /// Key
    pub key: String,
    /// Value
    pub value: String,
    /// Send as Part of (`body`, `header`, `url`)
    pub part: String,
}

impl Row {
    fn unused(&self) -> bool {
        self.key.is_empty() && self.value.is_empty()
    }
}

/// The form's values. The secret is held only to build the draft; it is never rendered.
#[derive(Default)]
pub struct CredentialForm {
    values: HashMap<&'static str, String>,
    /// The custom parameter rows, unused ones dropped.
    pub rows: Vec<Row>,
    secret: Option<SecretString>,
}

impl CredentialForm {
    /// An empty form with the defaults for new credentials.
    pub fn new() -> Self {
        let mut f = Self::default();
        for (api, v) in [
            ("GrantType", "body"),
            ("ClientAuthentication", "body"),
            ("ScopeContentType", "urlencoded"),
        ] {
            f.values.insert(api, v.to_owned());
        }
        f
    }

    /// The form prefilled with a stored credential (the secret stays empty).
    pub fn from_spec(s: &CredentialSpec) -> Self {
        let mut f = Self::default();
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        for (api, v) in [
            ("Name", s.name.clone()),
            ("Description", opt(&s.description)),
            ("TokenServiceUrl", s.token_service_url.clone()),
            ("ClientId", s.client_id.clone()),
            (
                "ClientAuthentication",
                s.client_authentication.as_str().to_owned(),
            ),
            ("Scope", opt(&s.scope)),
            ("ScopeContentType", s.scope_content_type.as_str().to_owned()),
            ("Resource", opt(&s.resource)),
            ("Audience", opt(&s.audience)),
            ("GrantType", s.grant_type.as_str().to_owned()),
        ] {
            f.values.insert(api, v);
        }
        f.rows = s
            .custom_parameters
            .iter()
            .map(|p| Row {
                key: p.key.clone(),
                value: p.value.clone(),
                part: p.send_as_part_of.as_str().to_owned(),
            })
            .collect();
        f
    }

    /// The form as posted. `delete_row` removes that row (as numbered on the page that was
    /// posted) before unused rows are dropped. The secret is taken out of `fields`.
    pub fn from_fields(fields: &mut Fields, delete_row: Option<usize>) -> Self {
        let mut f = Self::default();
        for a in ATTRS.iter().filter(|a| a.kind != Kind::Secret) {
            f.values
                .insert(a.api, fields.get(a.api).unwrap_or("").to_owned());
        }
        let secret = Zeroizing::new(fields.take("ClientSecret").unwrap_or_default());
        if !secret.is_empty() {
            f.secret = Some(SecretString::from(secret.as_str()));
        }
        let keys: Vec<&str> = fields.all("cp_key").collect();
        let values: Vec<&str> = fields.all("cp_value").collect();
        let parts: Vec<&str> = fields.all("cp_part").collect();
        let n = keys.len().max(values.len()).max(parts.len());
        let at = |v: &[&str], i: usize| v.get(i).copied().unwrap_or("").to_owned();
        f.rows = (0..n)
            .filter(|i| Some(*i) != delete_row)
            .map(|i| Row {
                key: at(&keys, i),
                value: at(&values, i),
                part: at(&parts, i),
            })
            .filter(|r| !r.unused())
            .collect();
        f
    }

    /// Whether a secret was entered (it is not shown again, so the page says so).
    pub fn had_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// A value as entered.
    pub fn value(&self, api: &str) -> &str {
        self.values.get(api).map_or("", String::as_str)
    }

    /// Sets a value (the name of an edited credential comes from the page, not the form).
    pub fn set(&mut self, api: &'static str, value: String) {
        self.values.insert(api, value);
    }

    /// The draft that validation judges. Takes the secret out of the form.
    pub fn take_draft(&mut self) -> CredentialDraft {
        let client_secret = self.secret.take();
        let v = |api: &str| Some(self.value(api).to_owned());
        CredentialDraft {
            name: v("Name"),
            description: v("Description"),
            token_service_url: v("TokenServiceUrl"),
            client_id: v("ClientId"),
            client_secret,
            client_authentication: v("ClientAuthentication"),
            scope: v("Scope"),
            scope_content_type: v("ScopeContentType"),
            resource: v("Resource"),
            audience: v("Audience"),
            grant_type: v("GrantType"),
            custom_parameters: self
                .rows
                .iter()
                .map(|r| CustomParameterDraft {
                    key: Some(r.key.clone()),
                    value: Some(r.value.clone()),
                    send_as_part_of: Some(r.part.clone()),
                })
                .collect(),
        }
    }
}

/// Messages placed next to the inputs they concern, and listed in a summary at the top.
#[derive(Default)]
pub struct Errors {
    by_target: HashMap<String, Vec<String>>,
    /// (input id to jump to, message), in the order validation reported them.
    pub summary: Vec<(String, String)>,
}

/// The id of the input (or row, or table) a `field` of a [`FieldError`] names, and the id of the
/// element that shows its message.
fn target_of(field: &str) -> (String, String) {
    if let Some(rest) = field.strip_prefix("CustomParameters[")
        && let Some((i, tail)) = rest.split_once(']')
        && let Ok(i) = i.parse::<usize>()
    {
        return match tail {
            ".Key" => (format!("cp-{i}-key"), format!("cp-{i}-key-error")),
            ".Value" => (format!("cp-{i}-value"), format!("cp-{i}-value-error")),
            ".SendAsPartOf" => (format!("cp-{i}-part"), format!("cp-{i}-part-error")),
            _ => (format!("cp-{i}-key"), format!("cp-{i}-error")),
        };
    }
    match ATTRS.iter().find(|a| a.api == field) {
        Some(a) => (format!("f-{}", a.api), format!("f-{}-error", a.api)),
        None if field.starts_with("CustomParameters") => (
            "f-CustomParameters".into(),
            "f-CustomParameters-error".into(),
        ),
        None => ("form-errors".into(), "form-errors".into()),
    }
}

/// The API's message in the form's words: "Property 'TokenServiceUrl' …" → "Token Service URL …".
fn in_form_words(message: &str) -> String {
    let mut m = message.to_owned();
    for a in ATTRS {
        m = m.replace(&format!("Property '{}'", a.api), a.label);
    }
    m.replace("SendAsPartOf", "Send as Part of")
}

impl Errors {
    /// Places every error.
    pub fn from_field_errors(errors: &[FieldError]) -> Self {
        let mut out = Self::default();
        for e in errors {
            out.add(&e.field, &in_form_words(&e.message));
        }
        out
    }

    /// Adds one message for `field` (an API field name, as in [`FieldError::field`]).
    pub fn add(&mut self, field: &str, message: &str) {
        let (input, slot) = target_of(field);
        self.by_target
            .entry(slot)
            .or_default()
            .push(message.to_owned());
        self.summary.push((input, message.to_owned()));
    }

    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.summary.is_empty()
    }

    fn at(&self, slot: &str) -> Option<String> {
        self.by_target.get(slot).map(|m| m.join(" "))
    }

    /// Messages that belong to no input.
    fn general(&self) -> Option<String> {
        self.at("form-errors")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_land_next_to_their_inputs() {
        assert_eq!(target_of("Name").1, "f-Name-error");
        assert_eq!(target_of("CustomParameters[2].Key").1, "cp-2-key-error");
        assert_eq!(
            target_of("CustomParameters[0].SendAsPartOf").1,
            "cp-0-part-error"
        );
        assert_eq!(
            target_of("CustomParameters[3]"),
            ("cp-3-key".into(), "cp-3-error".into())
        );
        assert_eq!(target_of("CustomParameters").1, "f-CustomParameters-error");
        assert_eq!(target_of("").1, "form-errors");
    }

    #[test]
    fn messages_use_the_forms_labels() {
        assert_eq!(
            in_form_words("Property 'TokenServiceUrl' cannot be empty. Enter a valid value."),
            "Token Service URL cannot be empty. Enter a valid value."
        );
    }

    #[test]
    fn unused_rows_are_dropped_and_the_secret_is_taken_out() {
        let mut f = Fields::parse(
            b"Name=a&ClientSecret=s3&cp_key=k&cp_value=v&cp_part=body&cp_key=&cp_value=&cp_part=body&cp_key=+&cp_value=&cp_part=url",
        );
        let mut form = CredentialForm::from_fields(&mut f, None);
        assert!(f.get("ClientSecret").is_none());
        assert_eq!(
            form.rows.len(),
            2,
            "the empty row is dropped, the blank one is kept"
        );
        assert!(form.had_secret());
        let draft = form.take_draft();
        assert!(draft.client_secret.is_some());
        assert!(!form.had_secret());
        let errors = draft.validate().unwrap_err();
        assert!(errors.iter().any(|e| e.field == "CustomParameters[1].Key"));
    }

    #[test]
    fn a_deleted_row_is_removed_by_its_position_on_the_page() {
        let mut f =
            Fields::parse(b"cp_key=a&cp_value=1&cp_part=body&cp_key=b&cp_value=2&cp_part=body");
        let form = CredentialForm::from_fields(&mut f, Some(0));
        assert_eq!(form.rows.len(), 1);
        assert_eq!(form.rows[0].key, "b");
    }
}
