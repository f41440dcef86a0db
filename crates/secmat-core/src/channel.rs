//! The HTTP receiver channel: secmat's counterpart of an HTTP receiver adapter configured with
//! *OAuth2 Client Credentials*. A channel `{Name, Address, CredentialName, Timeout}` forwards
//! `/gateway/{Name}/{path…}` to `Address/{path…}` with `Authorization: Bearer <token>`.
//!
//! `CredentialName` is a fixed credential name, or `${header.NAME}`: read from the incoming
//! request's header `NAME`, as SAP's HTTP adapter allows.

use serde_json::Value;

use crate::validate::{FieldError, MAX_FIELD_CHARS};

/// Longest channel name (it is a URL path segment).
pub const MAX_CHANNEL_NAME: usize = 128;
/// Default timeout in milliseconds (SAP's HTTP adapter default).
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// Longest timeout accepted (one hour).
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// A validated channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Unique name; letters, digits and `-._~` (it appears in the gateway URL).
    pub name: String,
    /// Absolute `http(s)` URL the channel forwards to; no query, no fragment.
    pub address: String,
    /// A credential name, or `${header.NAME}`.
    pub credential_name: String,
    /// Bounds the token fetch and the wait for the receiver's answer, in milliseconds.
    pub timeout_ms: u64,
}

/// Which credential a request through the channel uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialRef<'a> {
    /// Always this credential.
    Fixed(&'a str),
    /// The credential named by this request header (which is then not forwarded).
    Header(&'a str),
}

impl ChannelSpec {
    /// How the credential is chosen.
    pub fn credential(&self) -> CredentialRef<'_> {
        match dynamic_header(&self.credential_name) {
            Some(h) => CredentialRef::Header(h),
            None => CredentialRef::Fixed(&self.credential_name),
        }
    }
}

fn dynamic_header(s: &str) -> Option<&str> {
    s.strip_prefix("${header.")?.strip_suffix('}')
}

/// A channel as a client sent it (OData V2 JSON, SAP-style property names).
#[derive(Debug, Default, Clone)]
pub struct ChannelDraft {
    /// `Name`
    pub name: Option<String>,
    /// `Address`
    pub address: Option<String>,
    /// `CredentialName`
    pub credential_name: Option<String>,
    /// `Timeout` (milliseconds)
    pub timeout_ms: Option<i64>,
}

impl ChannelDraft {
    /// Reads a draft from a JSON object; unknown properties are errors, read-only ones
    /// (`__metadata`, `ModifiedBy`, `ModifiedOn`) are ignored.
    pub fn from_json(value: Value) -> Result<Self, Vec<FieldError>> {
        let Value::Object(map) = value else {
            return Err(vec![err(
                "",
                "The request body must be a JSON object with the channel's properties.",
            )]);
        };
        let mut d = Self::default();
        let mut errors = Vec::new();
        for (key, value) in map {
            let slot = match key.as_str() {
                "Name" => &mut d.name,
                "Address" => &mut d.address,
                "CredentialName" => &mut d.credential_name,
                "Timeout" => {
                    match value {
                        Value::Null => {}
                        Value::Number(n) if n.as_i64().is_some() => d.timeout_ms = n.as_i64(),
                        Value::String(s) if s.trim().parse::<i64>().is_ok() => {
                            d.timeout_ms = s.trim().parse().ok()
                        }
                        _ => errors.push(err(
                            "Timeout",
                            "Property 'Timeout' must be a whole number of milliseconds.",
                        )),
                    }
                    continue;
                }
                "__metadata" | "ModifiedBy" | "ModifiedOn" => continue,
                _ => {
                    errors.push(err(
                        &key,
                        &format!("Property '{key}' is not a property of HttpReceiverChannel."),
                    ));
                    continue;
                }
            };
            match value {
                Value::Null => {}
                Value::String(s) => *slot = Some(s),
                _ => errors.push(err(
                    &key,
                    &format!("Property '{key}' must be a string or null."),
                )),
            }
        }
        if errors.is_empty() {
            Ok(d)
        } else {
            Err(errors)
        }
    }

    /// Applies every rule. Whether a fixed credential exists is the caller's check (it needs
    /// the store).
    pub fn validate(self) -> Result<ChannelSpec, Vec<FieldError>> {
        let mut e = Vec::new();
        let name = self.name.unwrap_or_default();
        if name.is_empty() {
            e.push(err(
                "Name",
                "Property 'Name' cannot be empty. Enter a valid value.",
            ));
        } else if name.chars().count() > MAX_CHANNEL_NAME
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        {
            e.push(err("Name", &format!("Property 'Name' may only contain letters, digits and - . _ ~ (at most {MAX_CHANNEL_NAME} characters): it is part of the gateway URL.")));
        }
        let address = self.address.unwrap_or_default();
        if address.trim().is_empty() {
            e.push(err(
                "Address",
                "Property 'Address' cannot be empty. Enter a valid value.",
            ));
        } else if address.chars().count() > MAX_FIELD_CHARS {
            e.push(err(
                "Address",
                "Property 'Address' is longer than the maximum of 1024 characters.",
            ));
        } else {
            match url::Url::parse(&address) {
                Err(x) => e.push(err(
                    "Address",
                    &format!(
                        "Property 'Address' must be an absolute http:// or https:// URL ({x})."
                    ),
                )),
                Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                    e.push(err(
                        "Address",
                        "Property 'Address' must use http:// or https://.",
                    ));
                }
                Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                    e.push(err("Address", "Property 'Address' must name a host."))
                }
                Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                    e.push(err(
                        "Address",
                        "Property 'Address' must not contain user information.",
                    ));
                }
                Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                    e.push(err("Address", "Property 'Address' must not have a query or a fragment; the caller's query is forwarded."));
                }
                Ok(_) => {}
            }
        }
        let credential_name = self.credential_name.unwrap_or_default();
        if credential_name.trim().is_empty() {
            e.push(err("CredentialName", "Property 'CredentialName' cannot be empty: name a deployed credential, or ${header.NAME}."));
        } else if credential_name.chars().count() > MAX_FIELD_CHARS {
            e.push(err(
                "CredentialName",
                "Property 'CredentialName' is longer than the maximum of 1024 characters.",
            ));
        } else if credential_name.starts_with("${") {
            let ok = dynamic_header(&credential_name).is_some_and(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            });
            if !ok {
                e.push(err("CredentialName", "Property 'CredentialName' must be a credential name or ${header.NAME} with a valid header name, e.g. ${header.X-Credential}."));
            }
        }
        let timeout_ms = match self.timeout_ms {
            None => DEFAULT_TIMEOUT_MS,
            Some(t) if t >= 1 && t as u64 <= MAX_TIMEOUT_MS => t as u64,
            Some(_) => {
                e.push(err(
                    "Timeout",
                    &format!(
                        "Property 'Timeout' must be between 1 and {MAX_TIMEOUT_MS} milliseconds."
                    ),
                ));
                DEFAULT_TIMEOUT_MS
            }
        };
        if e.is_empty() {
            Ok(ChannelSpec {
                name,
                address: address.trim_end_matches('/').to_owned(),
                credential_name,
                timeout_ms,
            })
        } else {
            Err(e)
        }
    }
}

fn err(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(v: Value) -> Result<ChannelSpec, Vec<FieldError>> {
        ChannelDraft::from_json(v)?.validate()
    }

    fn fields(v: Value) -> Vec<String> {
        check(v).unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_valid_channel_gets_the_default_timeout_and_loses_a_trailing_slash() {
        let c = check(json!({"Name": "sf-api", "Address": "https://api.example.com/odata/", "CredentialName": "SF"})).unwrap();
        assert_eq!(c.address, "https://api.example.com/odata");
        assert_eq!(c.timeout_ms, 60_000);
        assert_eq!(c.credential(), CredentialRef::Fixed("SF"));
    }

    #[test]
    fn dynamic_credential_names_read_a_header() {
        let c = check(json!({"Name": "d", "Address": "http://h", "CredentialName": "${header.X-Credential}", "Timeout": "1500"})).unwrap();
        assert_eq!(c.credential(), CredentialRef::Header("X-Credential"));
        assert_eq!(c.timeout_ms, 1500);
        assert_eq!(
            fields(json!({"Name": "d", "Address": "http://h", "CredentialName": "${header.}"})),
            ["CredentialName"]
        );
        assert_eq!(
            fields(json!({"Name": "d", "Address": "http://h", "CredentialName": "${header.a b}"})),
            ["CredentialName"]
        );
    }

    #[test]
    fn every_rule_names_its_field() {
        assert_eq!(fields(json!({})), ["Name", "Address", "CredentialName"]);
        assert_eq!(
            fields(json!({"Name": "a b", "Address": "ftp://h", "CredentialName": "c"})),
            ["Name", "Address"]
        );
        assert_eq!(
            fields(json!({"Name": "a", "Address": "http://h/?q=1", "CredentialName": "c"})),
            ["Address"]
        );
        assert_eq!(
            fields(json!({"Name": "a", "Address": "http://u:p@h", "CredentialName": "c"})),
            ["Address"]
        );
        assert_eq!(
            fields(json!({"Name": "a", "Address": "/relative", "CredentialName": "c"})),
            ["Address"]
        );
        assert_eq!(
            fields(
                json!({"Name": "a", "Address": "http://h", "CredentialName": "c", "Timeout": 0})
            ),
            ["Timeout"]
        );
        assert_eq!(
            fields(
                json!({"Name": "a", "Address": "http://h", "CredentialName": "c", "Timeout": "soon"})
            ),
            ["Timeout"]
        );
        assert_eq!(
            fields(json!({"Name": "a", "Address": "http://h", "CredentialName": "c", "Extra": 1})),
            ["Extra"]
        );
        assert_eq!(
            fields(json!({"Name": "x".repeat(129), "Address": "http://h", "CredentialName": "c"})),
            ["Name"]
        );
    }
}
