//! OData V2 on the wire, as SAP's *Security Content* API speaks it: verbose JSON envelopes
//! (`{"d":{…}}`, `{"d":{"results":[…]}}`), `/Date(ms)/` dates, key literals such as
//! `OAuth2ClientCredentials('It''s a name')`, system query options, and the error envelope
//! `{"error":{"code","message":{"lang","value"}}}`. Every API error becomes a response here, in
//! one place ([`ApiError`]'s `IntoResponse`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use secmat_core::{FieldError, UnixMillis};
use serde_json::{Value, json};

/// Largest request body accepted, in bytes (bigger ones get `413`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest page a collection answers with; more is offered through `__next`.
pub const MAX_PAGE: u32 = 1000;

/// Every error the API can answer with. Details that could hold secrets or internals are logged,
/// never sent.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request (query option, key literal, JSON).
    #[error("{0}")]
    BadRequest(String),
    /// The artifact broke validation rules; each names its field.
    #[error("{}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join(" "))]
    Validation(Vec<FieldError>),
    /// No or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the role is missing.
    #[error("{0}")]
    Forbidden(String),
    /// A modifying request without a valid CSRF token.
    #[error(
        "CSRF token validation failed. Fetch a token with a GET request carrying the header 'X-CSRF-Token: Fetch' and send it back in 'X-CSRF-Token'."
    )]
    CsrfRequired,
    /// No such resource or entity.
    #[error("{0}")]
    NotFound(String),
    /// Name taken, or a concurrent change.
    #[error("{0}")]
    Conflict(String),
    /// Body larger than [`MAX_BODY_BYTES`].
    #[error("The request body is larger than the limit of 1 MiB.")]
    PayloadTooLarge,
    /// A body that is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Method not allowed on this resource.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A query option secmat does not implement.
    #[error("{0}")]
    NotImplemented(String),
    /// The store is unreachable or failed; details are in the server log.
    #[error(
        "The service is temporarily unavailable; try again later (details are in the server log)."
    )]
    Unavailable,
    /// A bug or corrupt data; details are in the server log.
    #[error("Internal error (details are in the server log).")]
    Internal,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::CsrfRequired => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OData error envelope. Validation errors also list each field in SAP Gateway's
    /// `innererror.errordetails` (`target` = the field), so a UI can place every message.
    pub fn body(&self) -> Value {
        let status = self.status();
        let code = if matches!(self, ApiError::CsrfRequired) {
            "CSRF Token Required".to_owned()
        } else {
            status.canonical_reason().unwrap_or("Error").to_owned()
        };
        let mut error = json!({"code": code, "message": {"lang": "en", "value": self.to_string()}});
        if let ApiError::Validation(errors) = self {
            error["innererror"] = json!({"errordetails": errors.iter().map(|e| json!({
                "code": "InvalidProperty", "target": e.field, "message": e.message, "severity": "error",
            })).collect::<Vec<_>>()});
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status(), axum::Json(self.body())).into_response();
        let h = res.headers_mut();
        match self {
            ApiError::Unauthorized(_) => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"secmat\", charset=\"UTF-8\""),
                );
            }
            ApiError::CsrfRequired => {
                h.insert(crate::csrf::HEADER, HeaderValue::from_static("Required"));
            }
            // The rest of the body is not read: tell the client not to reuse the connection.
            ApiError::PayloadTooLarge => {
                h.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        res
    }
}

impl From<secmat_store::StoreError> for ApiError {
    fn from(e: secmat_store::StoreError) -> Self {
        use secmat_store::StoreError as S;
        match e {
            S::Conflict(_) => {
                ApiError::Conflict("Entity with the specified name already exist.".into())
            }
            S::NotFound(name) => {
                ApiError::NotFound(format!("Entity with the name '{name}' does not exist."))
            }
            S::Stale(name) => ApiError::Conflict(format!(
                "'{name}' was changed by someone else while this request ran; read it again and retry."
            )),
            S::Database(_) => {
                tracing::error!(error = %e, "store failed");
                ApiError::Unavailable
            }
            S::Corrupt(_) => {
                tracing::error!(error = %e, "stored data is corrupt");
                ApiError::Internal
            }
        }
    }
}

impl From<crate::material::MaterialError> for ApiError {
    fn from(e: crate::material::MaterialError) -> Self {
        use crate::material::MaterialError as M;
        match e {
            M::NotFound(_) => ApiError::NotFound(e.to_string()),
            M::Store(s) => s.into(),
            M::Seal => ApiError::Internal,
        }
    }
}

/// `/Date(ms)/`, OData V2's JSON date.
pub fn date(ms: UnixMillis) -> String {
    format!("/Date({ms})/")
}

/// Characters escaped in a key literal inside a URI path (everything but unreserved and `'`).
const KEY_ESCAPE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'(')
    .add(b')')
    .add(b'+')
    .add(b',')
    .add(b';')
    .add(b'=')
    .add(b'&')
    .add(b':')
    .add(b'@')
    .add(b'$')
    .add(b'!')
    .add(b'*');

/// `Set('Name')` for a URI, with `'` doubled and the rest percent-encoded.
pub fn key_path(entity_set: &str, name: &str) -> String {
    let doubled = name.replace('\'', "''");
    format!(
        "{entity_set}('{}')",
        utf8_percent_encode(&doubled, KEY_ESCAPE)
    )
}

/// A resource path below the service root, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum ResourcePath {
    /// `/EntitySet`
    Collection(String),
    /// `/EntitySet('key')`
    Entity(String, String),
    /// `/EntitySet('key')/Navigation`
    Navigation(String, String, String),
}

/// Parses the raw (still percent-encoded) path below `/api/v1/`. Percent-decoding happens first,
/// then the key literal is read: `'…'` with `''` standing for `'`; `Set(Name='…')` works too.
pub fn parse_resource_path(raw: &str) -> Result<ResourcePath, ApiError> {
    let bad = |why: &str| ApiError::BadRequest(format!("Invalid resource path: {why}."));
    let path = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| bad("the path is not valid UTF-8 after percent-decoding"))?;
    let path = path.trim_end_matches('/');
    let Some(open) = path.find('(') else {
        if path.is_empty() || path.contains('/') {
            return Err(bad("expected /EntitySet or /EntitySet('Name')"));
        }
        return Ok(ResourcePath::Collection(path.to_owned()));
    };
    let set = &path[..open];
    let mut rest = &path[open + 1..];
    if let Some(r) = rest.strip_prefix("Name=") {
        rest = r;
    }
    let mut chars = rest.char_indices();
    if !matches!(chars.next(), Some((_, '\''))) {
        return Err(bad("the key must be a quoted string such as ('My name')"));
    }
    let mut key = String::new();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if rest[i + 1..].starts_with('\'') {
                key.push('\'');
                chars.next();
            } else {
                end = Some(i + 1);
                break;
            }
        } else {
            key.push(c);
        }
    }
    let end = end.ok_or_else(|| bad("the key literal is missing its closing quote"))?;
    let after = rest[end..]
        .strip_prefix(')')
        .ok_or_else(|| bad("expected ')' after the key literal"))?;
    match after {
        "" => Ok(ResourcePath::Entity(set.to_owned(), key)),
        nav if nav.starts_with('/') && !nav[1..].contains('/') && nav.len() > 1 => Ok(
            ResourcePath::Navigation(set.to_owned(), key, nav[1..].to_owned()),
        ),
        _ => Err(bad("unexpected text after the key")),
    }
}

/// The system query options secmat understands, read from a raw query string.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// `$expand=CustomParameters`
    pub expand_custom_parameters: bool,
    /// `$top`
    pub top: Option<u32>,
    /// `$skip`
    pub skip: u64,
    /// `$skiptoken` (secmat's server-driven paging: the last name of the previous page)
    pub skiptoken: Option<String>,
    /// `$inlinecount=allpages`
    pub inline_count: bool,
}

impl QueryOptions {
    /// Parses `query`; unknown `$` options are rejected, other parameters ignored (OData allows
    /// custom query options).
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut o = QueryOptions::default();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "$expand" => {
                    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        if item != "CustomParameters" {
                            return Err(ApiError::BadRequest(format!(
                                "$expand: '{item}' is not a navigation property; only 'CustomParameters' can be expanded."
                            )));
                        }
                        o.expand_custom_parameters = true;
                    }
                }
                "$top" => o.top = Some(v.parse().map_err(|_| number_error("$top"))?),
                "$skip" => o.skip = v.parse().map_err(|_| number_error("$skip"))?,
                "$skiptoken" => o.skiptoken = Some(v.into_owned()),
                "$format" if v.eq_ignore_ascii_case("json") => {}
                "$format" => {
                    return Err(ApiError::BadRequest(format!(
                        "$format: only 'json' is supported, not '{v}'."
                    )));
                }
                "$inlinecount" if v == "allpages" => o.inline_count = true,
                "$inlinecount" if v == "none" => {}
                "$inlinecount" => {
                    return Err(ApiError::BadRequest(
                        "$inlinecount must be 'allpages' or 'none'.".into(),
                    ));
                }
                k if k.starts_with('$') => {
                    return Err(ApiError::NotImplemented(format!("{k} is not supported.")));
                }
                _ => {}
            }
        }
        Ok(o)
    }
}

fn number_error(option: &str) -> ApiError {
    ApiError::BadRequest(format!("{option} must be a non-negative whole number."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_literals_handle_quotes_spaces_slashes_and_non_ascii() {
        for name in [
            "plain",
            "with space",
            "it's",
            "''",
            "a/b",
            "ünï €",
            "a')b",
            "x%2Fy",
            "(paren)",
        ] {
            let path = key_path("OAuth2ClientCredentials", name);
            assert_eq!(
                parse_resource_path(&path).unwrap(),
                ResourcePath::Entity("OAuth2ClientCredentials".into(), name.into()),
                "{path}"
            );
        }
    }

    #[test]
    fn resource_paths_parse() {
        assert_eq!(
            parse_resource_path("Set").unwrap(),
            ResourcePath::Collection("Set".into())
        );
        assert_eq!(
            parse_resource_path("Set('a')/CustomParameters").unwrap(),
            ResourcePath::Navigation("Set".into(), "a".into(), "CustomParameters".into())
        );
        assert_eq!(
            parse_resource_path("Set(Name='a')").unwrap(),
            ResourcePath::Entity("Set".into(), "a".into())
        );
        assert_eq!(
            parse_resource_path("Set('it%27%27s')").unwrap(),
            ResourcePath::Entity("Set".into(), "it's".into())
        );
        for bad in [
            "Set(a)",
            "Set('a'",
            "Set('a')x",
            "a/b",
            "Set('a')/b/c",
            "%FF",
        ] {
            assert!(parse_resource_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_options_parse_and_reject_what_is_unsupported() {
        let o = QueryOptions::parse(Some(
            "$expand=CustomParameters&$top=5&$skip=2&$format=json&$inlinecount=allpages&x=1",
        ))
        .unwrap();
        assert_eq!(
            o,
            QueryOptions {
                expand_custom_parameters: true,
                top: Some(5),
                skip: 2,
                skiptoken: None,
                inline_count: true
            }
        );
        assert!(matches!(
            QueryOptions::parse(Some("$top=-1")),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            QueryOptions::parse(Some("$expand=Foo")),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            QueryOptions::parse(Some("$format=xml")),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            QueryOptions::parse(Some("$filter=Name eq 'a'")),
            Err(ApiError::NotImplemented(_))
        ));
    }

    #[test]
    fn validation_errors_list_every_field() {
        let e = ApiError::Validation(vec![
            FieldError {
                field: "Name".into(),
                message: "a.".into(),
            },
            FieldError {
                field: "ClientId".into(),
                message: "b.".into(),
            },
        ]);
        let b = e.body();
        assert_eq!(b["error"]["message"]["value"], "a. b.");
        assert_eq!(
            b["error"]["innererror"]["errordetails"][1]["target"],
            "ClientId"
        );
    }
}
