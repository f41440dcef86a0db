//! Every rule an OAuth2 Client Credentials artifact must satisfy, enforced here and only here.
//!
//! Rules come from the seed (the custom parameter notes) and the product brief (§1). Each broken
//! rule becomes a [`FieldError`] that names the field as SAP's API spells it, e.g.
//! `CustomParameters[2].Key`, so every front end can show the message next to the right input.
//! Validation reports every broken rule at once, not only the first.

use std::collections::HashSet;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::artifact::{
    ClientAuthentication, CredentialSpec, CustomParameter, GrantType, NewCredential,
    ScopeContentType, SendAsPartOf,
};

/// Longest value of any text field, in characters (SAP's `MaxLength` and the seed's rule).
pub const MAX_FIELD_CHARS: usize = 1024;
/// Most custom parameters a credential may have (seed).
pub const MAX_CUSTOM_PARAMETERS: usize = 20;
/// Custom parameter keys the token request sets itself (seed; compared case-insensitively).
pub const RESERVED_PARAMETER_KEYS: &[&str] = &["client_id", "client_secret", "grant_type"];
/// Headers a `header` custom parameter may not set: secmat sets or frames them itself.
pub const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
];

/// One broken rule: which field, and what is wrong with it in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The field, as SAP's API names it (`Name`, `CustomParameters[0].Key`, …).
    pub field: String,
    /// What is wrong and, where it helps, what would be right. Never contains a secret.
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One custom parameter as a client sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomParameterDraft {
    /// `Key`
    pub key: Option<String>,
    /// `Value`
    pub value: Option<String>,
    /// `SendAsPartOf`
    pub send_as_part_of: Option<String>,
}

/// A credential as a client sent it: every field optional and unchecked.
#[derive(Debug, Default)]
pub struct CredentialDraft {
    /// `Name`
    pub name: Option<String>,
    /// `Description`
    pub description: Option<String>,
    /// `TokenServiceUrl`
    pub token_service_url: Option<String>,
    /// `ClientId`
    pub client_id: Option<String>,
    /// `ClientSecret`
    pub client_secret: Option<SecretString>,
    /// `ClientAuthentication`
    pub client_authentication: Option<String>,
    /// `Scope`
    pub scope: Option<String>,
    /// `ScopeContentType`
    pub scope_content_type: Option<String>,
    /// `Resource`
    pub resource: Option<String>,
    /// `Audience`
    pub audience: Option<String>,
    /// `GrantType` (secmat's extension)
    pub grant_type: Option<String>,
    /// `CustomParameters`
    pub custom_parameters: Vec<CustomParameterDraft>,
}

/// Properties a client may send back unchanged from a read; they are ignored on write.
const READ_ONLY_PROPERTIES: &[&str] = &["__metadata", "SecurityArtifactDescriptor"];

impl CredentialDraft {
    /// Reads a draft from an OData V2 JSON object (`{"Name": …, "CustomParameters": [...]}`).
    ///
    /// Text properties may be strings or `null`; `CustomParameters` may be an array or OData V2's
    /// `{"results": [...]}`. Read-only properties (`__metadata`, `SecurityArtifactDescriptor`) are
    /// ignored, so a client can send back what it read; any other unknown property is an error,
    /// because silently dropping a misspelt field would store something the user did not mean.
    pub fn from_json(value: Value) -> Result<Self, Vec<FieldError>> {
        let Value::Object(map) = value else {
            return Err(vec![FieldError::new(
                "",
                "The request body must be a JSON object with the credential's properties.",
            )]);
        };
        let mut draft = Self::default();
        let mut errors = Vec::new();
        for (key, value) in map {
            let slot = match key.as_str() {
                "Name" => &mut draft.name,
                "Description" => &mut draft.description,
                "TokenServiceUrl" => &mut draft.token_service_url,
                "ClientId" => &mut draft.client_id,
                "ClientAuthentication" => &mut draft.client_authentication,
                "Scope" => &mut draft.scope,
                "ScopeContentType" => &mut draft.scope_content_type,
                "Resource" => &mut draft.resource,
                "Audience" => &mut draft.audience,
                "GrantType" => &mut draft.grant_type,
                "ClientSecret" => {
                    match text(&key, value) {
                        Ok(s) => draft.client_secret = s.map(SecretString::from),
                        Err(e) => errors.push(e),
                    }
                    continue;
                }
                "CustomParameters" => {
                    match custom_parameters(value) {
                        Ok(p) => draft.custom_parameters = p,
                        Err(e) => errors.extend(e),
                    }
                    continue;
                }
                k if READ_ONLY_PROPERTIES.contains(&k) => continue,
                _ => {
                    errors.push(FieldError::new(
                        key.clone(),
                        format!("Property '{key}' is not a property of OAuth2ClientCredential."),
                    ));
                    continue;
                }
            };
            match text(&key, value) {
                Ok(s) => *slot = s,
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(draft)
        } else {
            Err(errors)
        }
    }

    /// Applies every rule; returns the typed credential or every broken rule.
    pub fn validate(self) -> Result<NewCredential, Vec<FieldError>> {
        let mut errors = Vec::new();
        let e = &mut errors;

        let name = required(e, "Name", self.name);
        if let Some(n) = &name {
            if n.trim() != n {
                e.push(FieldError::new(
                    "Name",
                    "Property 'Name' must not begin or end with white space.",
                ));
            }
            if n.chars().any(char::is_control) {
                e.push(FieldError::new(
                    "Name",
                    "Property 'Name' must not contain control characters (such as tabs or line breaks).",
                ));
            }
        }
        let description = optional(e, "Description", self.description);
        let token_service_url = required(e, "TokenServiceUrl", self.token_service_url);
        if let Some(u) = &token_service_url
            && let Err(m) = check_token_url(u)
        {
            e.push(FieldError::new("TokenServiceUrl", m));
        }
        let client_id = required(e, "ClientId", self.client_id);
        let secret_ok = match &self.client_secret {
            Some(s) if !s.expose_secret().is_empty() => {
                if s.expose_secret().chars().count() > MAX_FIELD_CHARS {
                    e.push(too_long("ClientSecret"));
                    false
                } else {
                    true
                }
            }
            _ => {
                e.push(FieldError::new(
                    "ClientSecret",
                    "Property 'ClientSecret' cannot be empty. Enter a valid value (the client secret must be entered again on every edit).",
                ));
                false
            }
        };
        let client_authentication = choice(
            e,
            "ClientAuthentication",
            self.client_authentication,
            ClientAuthentication::parse,
            ClientAuthentication::NAMES,
        );
        let scope = optional(e, "Scope", self.scope);
        let scope_content_type = choice(
            e,
            "ScopeContentType",
            self.scope_content_type,
            ScopeContentType::parse,
            ScopeContentType::NAMES,
        );
        let resource = optional(e, "Resource", self.resource);
        let audience = optional(e, "Audience", self.audience);
        let grant_type = choice(
            e,
            "GrantType",
            self.grant_type,
            GrantType::parse,
            GrantType::NAMES,
        );
        let custom_parameters = check_custom_parameters(e, self.custom_parameters);
        let set = [
            ("scope", scope.is_some()),
            ("resource", resource.is_some()),
            ("audience", audience.is_some()),
        ];
        check_body_collisions(e, &custom_parameters, scope_content_type, &set);

        match (name, token_service_url, client_id, self.client_secret) {
            (Some(name), Some(token_service_url), Some(client_id), Some(client_secret))
                if errors.is_empty() && secret_ok =>
            {
                Ok(NewCredential {
                    spec: CredentialSpec {
                        name,
                        description,
                        token_service_url,
                        client_id,
                        client_authentication,
                        scope,
                        scope_content_type,
                        resource,
                        audience,
                        grant_type,
                        custom_parameters,
                    },
                    client_secret,
                })
            }
            _ => Err(errors),
        }
    }
}

fn text(key: &str, value: Value) -> Result<Option<String>, FieldError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(FieldError::new(
            key,
            format!("Property '{key}' must be a string or null."),
        )),
    }
}

fn custom_parameters(value: Value) -> Result<Vec<CustomParameterDraft>, Vec<FieldError>> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        Value::Object(mut m) if m.contains_key("results") => match m.remove("results") {
            Some(Value::Array(items)) => items,
            _ => return Err(vec![not_a_list()]),
        },
        _ => return Err(vec![not_a_list()]),
    };
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(map) = item else {
            errors.push(FieldError::new(
                format!("CustomParameters[{i}]"),
                format!(
                    "Custom parameter {} must be an object with Key, Value and SendAsPartOf.",
                    i + 1
                ),
            ));
            continue;
        };
        match custom_parameter(i, map) {
            Ok(p) => out.push(p),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn custom_parameter(
    i: usize,
    map: Map<String, Value>,
) -> Result<CustomParameterDraft, Vec<FieldError>> {
    let mut p = CustomParameterDraft::default();
    let mut errors = Vec::new();
    for (key, value) in map {
        let field = format!("CustomParameters[{i}].{key}");
        let slot = match key.as_str() {
            "Key" => &mut p.key,
            "Value" => &mut p.value,
            "SendAsPartOf" => &mut p.send_as_part_of,
            "__metadata" => continue,
            _ => {
                errors.push(FieldError::new(
                    field,
                    format!("Property '{key}' is not a property of a custom parameter (Key, Value, SendAsPartOf)."),
                ));
                continue;
            }
        };
        match text(&field, value) {
            Ok(s) => *slot = s,
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(p)
    } else {
        Err(errors)
    }
}

fn not_a_list() -> FieldError {
    FieldError::new(
        "CustomParameters",
        "Property 'CustomParameters' must be a list of {Key, Value, SendAsPartOf} objects.",
    )
}

fn too_long(field: &str) -> FieldError {
    FieldError::new(
        field,
        format!("Property '{field}' is longer than the maximum of {MAX_FIELD_CHARS} characters."),
    )
}

fn required(e: &mut Vec<FieldError>, field: &str, v: Option<String>) -> Option<String> {
    match v {
        Some(s) if !s.trim().is_empty() => {
            if s.chars().count() > MAX_FIELD_CHARS {
                e.push(too_long(field));
            }
            Some(s)
        }
        _ => {
            e.push(FieldError::new(
                field,
                format!("Property '{field}' cannot be empty. Enter a valid value."),
            ));
            None
        }
    }
}

/// An optional text field: absent, `null`, empty and white-space-only all mean "not set" (SAP's
/// own migration tool sends `""` for unset fields).
fn optional(e: &mut Vec<FieldError>, field: &str, v: Option<String>) -> Option<String> {
    let s = v.filter(|s| !s.trim().is_empty())?;
    if s.chars().count() > MAX_FIELD_CHARS {
        e.push(too_long(field));
    }
    Some(s)
}

fn choice<T: Default>(
    e: &mut Vec<FieldError>,
    field: &str,
    v: Option<String>,
    parse: fn(&str) -> Option<T>,
    names: &[&str],
) -> T {
    match v.as_deref().map(str::trim) {
        None | Some("") => T::default(),
        Some(s) => parse(s).unwrap_or_else(|| {
            e.push(FieldError::new(
                field,
                format!(
                    "Property '{field}' must be one of: {} (got '{}').",
                    names.join(", "),
                    excerpt(s)
                ),
            ));
            T::default()
        }),
    }
}

/// At most 40 characters of a rejected value, for messages.
fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

fn check_token_url(raw: &str) -> Result<(), String> {
    let field = "TokenServiceUrl";
    let url = url::Url::parse(raw.trim()).map_err(|err| {
        format!("Property '{field}' must be an absolute http:// or https:// URL ({err}).")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "Property '{field}' must use http:// or https://, not '{}:'.",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("Property '{field}' must name a host."));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "Property '{field}' must not contain user information; put the client id and secret in ClientId and ClientSecret."
        ));
    }
    if url.fragment().is_some() {
        return Err(format!(
            "Property '{field}' must not contain a fragment ('#…')."
        ));
    }
    if raw.trim() != raw {
        return Err(format!(
            "Property '{field}' must not begin or end with white space."
        ));
    }
    Ok(())
}

/// RFC 9110 `token` characters, the only ones allowed in a header name.
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Visible ASCII, spaces and tabs, or non-ASCII (obs-text): no CR, LF or other control bytes.
fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || b >= 0x20 && b != 0x7f)
}

fn check_custom_parameters(
    e: &mut Vec<FieldError>,
    drafts: Vec<CustomParameterDraft>,
) -> Vec<CustomParameter> {
    if drafts.len() > MAX_CUSTOM_PARAMETERS {
        e.push(FieldError::new(
            "CustomParameters",
            format!(
                "You can add a maximum of {MAX_CUSTOM_PARAMETERS} custom parameters ({} given).",
                drafts.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(drafts.len());
    let mut seen = HashSet::new();
    for (i, d) in drafts.into_iter().enumerate() {
        let n = i + 1;
        let mut field_ok = |name: &str, v: Option<String>| -> Option<String> {
            let field = format!("CustomParameters[{i}].{name}");
            match v {
                Some(s) if !s.trim().is_empty() => {
                    if s.chars().count() > MAX_FIELD_CHARS {
                        e.push(FieldError::new(
                            field,
                            format!("Custom parameter {n}: {name} is longer than the maximum of {MAX_FIELD_CHARS} characters."),
                        ));
                        None
                    } else {
                        Some(s)
                    }
                }
                _ => {
                    e.push(FieldError::new(
                        field,
                        format!("Custom parameter {n}: {name} cannot be empty or consist only of white space."),
                    ));
                    None
                }
            }
        };
        let key = field_ok("Key", d.key);
        let value = field_ok("Value", d.value);
        let part = field_ok("SendAsPartOf", d.send_as_part_of);
        let part = part.and_then(|p| {
            SendAsPartOf::parse(p.trim()).or_else(|| {
                e.push(FieldError::new(
                    format!("CustomParameters[{i}].SendAsPartOf"),
                    format!(
                        "Custom parameter {n}: SendAsPartOf must be one of: body, header, url (got '{}').",
                        excerpt(&p)
                    ),
                ));
                None
            })
        });
        let key_field = format!("CustomParameters[{i}].Key");
        if let Some(k) = &key
            && RESERVED_PARAMETER_KEYS
                .iter()
                .any(|r| k.trim().eq_ignore_ascii_case(r))
        {
            e.push(FieldError::new(
                    key_field.clone(),
                    format!("Custom parameter {n}: the Key cannot be \"client_id\", \"client_secret\" or \"grant_type\"."),
                ));
        }
        let (Some(key), Some(value), Some(part)) = (key, value, part) else {
            continue;
        };
        if part == SendAsPartOf::Header {
            if !is_header_name(&key) {
                e.push(FieldError::new(
                    key_field.clone(),
                    format!("Custom parameter {n}: '{}' is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only).", excerpt(&key)),
                ));
            } else if RESERVED_HEADERS.iter().any(|h| key.eq_ignore_ascii_case(h)) {
                e.push(FieldError::new(
                    key_field.clone(),
                    format!("Custom parameter {n}: header '{key}' is set by secmat itself and cannot be a custom parameter."),
                ));
            }
            if !is_header_value(&value) {
                e.push(FieldError::new(
                    format!("CustomParameters[{i}].Value"),
                    format!("Custom parameter {n}: a header value must not contain line breaks or control characters."),
                ));
            }
        }
        // Header names are case-insensitive on the wire, so `X-A` and `x-a` collide there.
        let dedup_key = if part == SendAsPartOf::Header {
            key.to_ascii_lowercase()
        } else {
            key.clone()
        };
        if !seen.insert((dedup_key, value.clone(), part)) {
            e.push(FieldError::new(
                format!("CustomParameters[{i}]"),
                format!("Custom parameter {n}: duplicate combinations of Key, Value and SendAsPartOf are not allowed."),
            ));
        }
        out.push(CustomParameter {
            key,
            value,
            send_as_part_of: part,
        });
    }
    out
}

/// RFC 6749 §3.1: a parameter must not be sent twice — except `resource`, which RFC 8707 allows
/// to repeat in a form body. A JSON object cannot repeat a key at all. So a body custom parameter
/// may not repeat a field that is set (`scope`, `audience`; `resource` only in JSON), and in a JSON
/// body two custom parameters may not share a key.
fn check_body_collisions(
    e: &mut Vec<FieldError>,
    params: &[CustomParameter],
    content_type: ScopeContentType,
    set: &[(&str, bool)],
) {
    let json = content_type == ScopeContentType::Json;
    let mut keys = HashSet::new();
    for (i, p) in params
        .iter()
        .enumerate()
        .filter(|(_, p)| p.send_as_part_of == SendAsPartOf::Body)
    {
        let n = i + 1;
        let field = format!("CustomParameters[{i}].Key");
        if let Some((name, _)) = set.iter().find(|(name, is_set)| *is_set && p.key == *name)
            && (*name != "resource" || json)
        {
            let prop = match *name {
                "scope" => "Scope",
                "audience" => "Audience",
                _ => "Resource",
            };
            e.push(FieldError::new(
                    field.clone(),
                    format!("Custom parameter {n}: '{name}' is already sent from the {prop} field; a token request must not repeat it."),
                ));
        }
        if json && !keys.insert(p.key.as_str()) {
            e.push(FieldError::new(
                field,
                format!(
                    "Custom parameter {n}: a JSON request body cannot repeat the key '{}'.",
                    excerpt(&p.key)
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests;
