//! The *OAuth2 Client Credentials* artifact (SAP: `com.sap.hci.api.OAuth2ClientCredential`).
//!
//! Field names and values follow SAP's public *Security Content* API; see
//! `CredentialSpec` for what each field means. The client secret is not part of
//! [`CredentialSpec`]: it is write-only and travels separately as a [`SecretString`].

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// How the client authenticates at the token endpoint (UI: *Client Authentication*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuthentication {
    /// *Send as Body Parameter* (the default): `client_id` and `client_secret` in the body.
    #[default]
    Body,
    /// *Send as Request Header*: RFC 6749 §2.3.1 HTTP Basic.
    Header,
}

/// The media type of the token request body (UI: *Content Type*; API: `ScopeContentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeContentType {
    /// `application/x-www-form-urlencoded` (the default, and what RFC 6749 prescribes).
    #[default]
    Urlencoded,
    /// `application/json`: the same parameters as one flat JSON object of strings.
    Json,
}

/// Where `grant_type=client_credentials` goes (UI: *Grant Type*; not in SAP's API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantType {
    /// In the request body (the default for new credentials).
    #[default]
    Body,
    /// Appended to the Token Service URL's query.
    Url,
}

/// Where a custom parameter is sent (UI: *Send as Part of*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendAsPartOf {
    /// A body parameter of the token request.
    Body,
    /// A request header.
    Header,
    /// A query parameter of the Token Service URL.
    Url,
}

macro_rules! wire_names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value's wire name, in declaration order (for messages and help texts).
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The value as SAP's API writes it.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }

            /// Parses a wire name in any letter case.
            pub fn parse(s: &str) -> Option<Self> {
                $(if s.eq_ignore_ascii_case($name) { return Some(Self::$variant); })+
                None
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_names!(ClientAuthentication { Body => "body", Header => "header" });
wire_names!(ScopeContentType { Urlencoded => "urlencoded", Json => "json" });
wire_names!(GrantType { Body => "body", Url => "url" });
wire_names!(SendAsPartOf { Body => "body", Header => "header", Url => "url" });

/// One row of the *Custom Parameter* table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomParameter {
    /// Parameter (or header) name.
    pub key: String,
    /// Its value.
    pub value: String,
    /// Body, header or URL.
    pub send_as_part_of: SendAsPartOf,
}

/// Everything about a credential except its secret: validated, typed, safe to show and to log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialSpec {
    /// The alias consumers use; unique, case-sensitive.
    pub name: String,
    /// Free text for people.
    pub description: Option<String>,
    /// Absolute `http(s)` URL of the authorization server's token endpoint.
    pub token_service_url: String,
    /// The client's id at the authorization server.
    pub client_id: String,
    /// Body parameters or HTTP Basic.
    pub client_authentication: ClientAuthentication,
    /// Space-separated scopes; sent only when set.
    pub scope: Option<String>,
    /// Form-urlencoded or JSON request body.
    pub scope_content_type: ScopeContentType,
    /// RFC 8707 `resource`; sent only when set.
    pub resource: Option<String>,
    /// `audience` (Auth0 and others); sent only when set.
    pub audience: Option<String>,
    /// Grant type in the body or in the URL.
    pub grant_type: GrantType,
    /// Extra parameters (at most 20).
    pub custom_parameters: Vec<CustomParameter>,
}

/// A validated credential ready to be stored: its spec and its client secret.
#[derive(Debug)]
pub struct NewCredential {
    /// The non-secret part.
    pub spec: CredentialSpec,
    /// The client secret; sealed before it is stored, never returned.
    pub client_secret: SecretString,
}

/// The artifact's type as SAP's `SecurityArtifactDescriptor.Type` names it.
pub const ARTIFACT_TYPE: &str = "CREDENTIALS";
