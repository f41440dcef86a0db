//! Reading the token endpoint's answer (RFC 6749 §5.1 and §5.2), defensively: the body comes
//! from a server secmat does not control.
//!
//! - Success needs `access_token`; `token_type` is compared case-insensitively (missing means
//!   `Bearer`, which is what every such server means); `expires_in` may be a number or a numeric
//!   string (Azure AD sends strings); missing means "unknown", and the cache applies its default.
//! - `error`, `error_description`, `error_uri` become [`TokenError::Refused`].
//! - Anything else becomes a clear error quoting the status and, for error pages only, a short
//!   excerpt with known secrets removed. A successful body is never quoted: it holds a token.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;

/// Largest response body read from a token endpoint.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Longest lifetime believed (longer `expires_in` values are capped to it).
pub const MAX_LIFETIME: Duration = Duration::from_secs(366 * 24 * 3600);
const EXCERPT_CHARS: usize = 160;

/// An access token as the authorization server issued it.
#[derive(Debug, Clone)]
pub struct Token {
    /// The token itself; never logged.
    pub access_token: SecretString,
    /// `token_type` as sent (usually `Bearer`).
    pub token_type: String,
    /// `expires_in`, when the server said.
    pub expires_in: Option<Duration>,
    /// `scope` granted, when the server said.
    pub scope: Option<String>,
    /// The HTTP status it came with (2xx).
    pub http_status: u16,
}

/// How a transport failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Could not connect (refused, DNS, TLS handshake).
    Connect,
    /// No (complete) answer within the timeout.
    Timeout,
    /// Any other I/O problem.
    Other,
}

/// Why no token was obtained. Messages never contain the client secret or a token.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The authorization server refused with an RFC 6749 §5.2 error.
    #[error("the authorization server refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// HTTP status.
        status: u16,
        /// `error`, e.g. `invalid_client`.
        error: String,
        /// `error_description`.
        description: Option<String>,
        /// `error_uri`.
        uri: Option<String>,
        /// `Retry-After` in seconds, when sent (e.g. with 429 or 503).
        retry_after: Option<u64>,
    },
    /// An HTTP error status without an RFC 6749 error body.
    #[error("the token endpoint answered HTTP {status}{}", excerpt_suffix(excerpt))]
    Status {
        /// HTTP status.
        status: u16,
        /// A short, secret-free excerpt of the body.
        excerpt: String,
        /// `Retry-After` in seconds, when sent.
        retry_after: Option<u64>,
    },
    /// A success status with a body that is not a usable token response.
    #[error("the token endpoint answered HTTP {status} with an unusable token response: {reason}")]
    Invalid {
        /// HTTP status.
        status: u16,
        /// What is wrong, without quoting the body.
        reason: String,
    },
    /// The body exceeded [`MAX_RESPONSE_BYTES`].
    #[error("the token endpoint's answer (HTTP {status}) is larger than 1 MiB")]
    TooLarge {
        /// HTTP status.
        status: u16,
    },
    /// The request did not get an answer.
    #[error("the token endpoint could not be reached: {message}")]
    Transport {
        /// What kind of failure.
        kind: TransportKind,
        /// Details, secret-free.
        message: String,
    },
    /// The credential cannot be used (e.g. its secret cannot be opened).
    #[error("the credential cannot be used: {0}")]
    Unusable(String),
}

fn excerpt_suffix(e: &str) -> String {
    if e.is_empty() {
        String::new()
    } else {
        format!(": {e}")
    }
}

impl TokenError {
    /// Whether trying again later may help (network, 5xx, 429, timeouts), as opposed to a
    /// definitive refusal that would only hammer the identity provider.
    pub fn is_transient(&self) -> bool {
        match self {
            TokenError::Refused { status, .. } | TokenError::Status { status, .. } => {
                *status == 429 || *status == 408 || *status >= 500
            }
            TokenError::Invalid { status, .. } | TokenError::TooLarge { status } => *status >= 500,
            TokenError::Transport { .. } => true,
            TokenError::Unusable(_) => false,
        }
    }

    /// The server's `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TokenError::Refused { retry_after, .. } | TokenError::Status { retry_after, .. } => {
                retry_after.map(Duration::from_secs)
            }
            _ => None,
        }
    }
}

/// Parses a token endpoint answer. `redact` lists strings (the client secret and its encodings)
/// that must never appear in an excerpt, whatever a misbehaving server echoes back.
pub fn parse(
    status: u16,
    retry_after: Option<u64>,
    body: &[u8],
    redact: &[&str],
) -> Result<Token, TokenError> {
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(TokenError::TooLarge { status });
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if !(200..300).contains(&status) {
        if let Some(Value::Object(o)) = &json
            && let Some(error) = o.get("error").and_then(Value::as_str)
        {
            let text = |k: &str| o.get(k).and_then(Value::as_str).map(|s| clean(s, redact));
            return Err(TokenError::Refused {
                status,
                error: clean(error, redact),
                description: text("error_description"),
                uri: text("error_uri"),
                retry_after,
            });
        }
        return Err(TokenError::Status {
            status,
            excerpt: excerpt(body, redact),
            retry_after,
        });
    }
    let invalid = |reason: &str| TokenError::Invalid {
        status,
        reason: reason.to_owned(),
    };
    let Some(Value::Object(o)) = json else {
        return Err(invalid("the body is not a JSON object"));
    };
    // Some servers answer 200 with an error object.
    if let Some(error) = o.get("error").and_then(Value::as_str) {
        let text = |k: &str| o.get(k).and_then(Value::as_str).map(|s| clean(s, redact));
        return Err(TokenError::Refused {
            status,
            error: clean(error, redact),
            description: text("error_description"),
            uri: text("error_uri"),
            retry_after,
        });
    }
    let access_token = match o.get("access_token") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(invalid("access_token is empty")),
        Some(_) => return Err(invalid("access_token is not a string")),
        None => return Err(invalid("access_token is missing")),
    };
    let token_type = match o.get("token_type") {
        None | Some(Value::Null) => "Bearer".to_owned(),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_owned(),
        Some(Value::String(t)) if !t.is_empty() && t.len() <= 64 => t.clone(),
        Some(_) => return Err(invalid("token_type is not a short string")),
    };
    let expires_in = match o.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            lifetime(v).ok_or_else(|| invalid("expires_in is not a positive number of seconds"))?,
        ),
    };
    let scope = o.get("scope").and_then(Value::as_str).map(str::to_owned);
    Ok(Token {
        access_token: SecretString::from(access_token),
        token_type,
        expires_in,
        scope,
        http_status: status,
    })
}

fn lifetime(v: &Value) -> Option<Duration> {
    let secs = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !secs.is_finite() || secs < 1.0 {
        return None;
    }
    Some(Duration::from_secs(secs as u64).min(MAX_LIFETIME))
}

fn clean(s: &str, redact: &[&str]) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(EXCERPT_CHARS * 2)
        .collect();
    for r in redact.iter().filter(|r| r.len() >= 3) {
        out = out.replace(r, "[redacted]");
    }
    out
}

/// A short, single-line excerpt of an error body with known secrets removed.
fn excerpt(body: &[u8], redact: &[&str]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cleaned = clean(&flat, redact);
    let mut out: String = cleaned.chars().take(EXCERPT_CHARS).collect();
    if cleaned.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use secrecy::ExposeSecret;

    use super::*;

    fn ok(body: &str) -> Token {
        parse(200, None, body.as_bytes(), &[]).unwrap()
    }

    fn err(status: u16, body: &str) -> TokenError {
        parse(status, None, body.as_bytes(), &["s3cret-value"]).unwrap_err()
    }

    #[test]
    fn a_standard_answer_parses() {
        let t =
            ok(r#"{"access_token":"abc","token_type":"bearer","expires_in":3600,"scope":"a b"}"#);
        assert_eq!(t.access_token.expose_secret(), "abc");
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_in, Some(Duration::from_secs(3600)));
        assert_eq!(t.scope.as_deref(), Some("a b"));
    }

    #[test]
    fn expires_in_may_be_a_string_or_missing() {
        assert_eq!(
            ok(r#"{"access_token":"a","token_type":"Bearer","expires_in":"3599"}"#).expires_in,
            Some(Duration::from_secs(3599))
        );
        assert_eq!(
            ok(r#"{"access_token":"a","token_type":"Bearer","expires_in":59.9}"#).expires_in,
            Some(Duration::from_secs(59))
        );
        assert_eq!(
            ok(r#"{"access_token":"a","token_type":"Bearer"}"#).expires_in,
            None
        );
        assert_eq!(
            ok(r#"{"access_token":"a","token_type":"Bearer","expires_in":1e12}"#).expires_in,
            Some(MAX_LIFETIME)
        );
        for bad in ["\"soon\"", "0", "-5", "true", "[]"] {
            assert!(
                matches!(
                    err(
                        200,
                        &format!(r#"{{"access_token":"a","expires_in":{bad}}}"#)
                    ),
                    TokenError::Invalid { .. }
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn token_type_is_case_insensitive_and_defaults_to_bearer() {
        assert_eq!(
            ok(r#"{"access_token":"a","token_type":"BEARER"}"#).token_type,
            "Bearer"
        );
        assert_eq!(ok(r#"{"access_token":"a"}"#).token_type, "Bearer");
        assert_eq!(
            ok(r#"{"access_token":"a","token_type":"N_A"}"#).token_type,
            "N_A"
        );
    }

    #[test]
    fn rfc6749_errors_become_refusals_with_their_fields() {
        let e = err(
            401,
            r#"{"error":"invalid_client","error_description":"client authentication failed","error_uri":"https://e/x"}"#,
        );
        assert_eq!(
            e,
            TokenError::Refused {
                status: 401,
                error: "invalid_client".into(),
                description: Some("client authentication failed".into()),
                uri: Some("https://e/x".into()),
                retry_after: None
            }
        );
        assert!(!e.is_transient());
        assert!(matches!(
            err(200, r#"{"error":"invalid_scope"}"#),
            TokenError::Refused { .. }
        ));
    }

    #[test]
    fn unusable_success_bodies_are_described_not_quoted() {
        for (body, reason) in [
            ("<html>", "not a JSON object"),
            (r#"{"token":"x"}"#, "missing"),
            (r#"{"access_token":5}"#, "not a string"),
            (r#"{"access_token":""}"#, "empty"),
        ] {
            let e = err(200, body);
            assert!(e.to_string().contains(reason), "{e}");
            assert!(!e.to_string().contains("<html>"));
        }
    }

    #[test]
    fn error_pages_are_excerpted_short_on_one_line_without_secrets() {
        let page = format!(
            "<html>\n<body>Bad Gateway\n echo: client_secret=s3cret-value {}</body></html>",
            "x".repeat(500)
        );
        let TokenError::Status {
            status, excerpt, ..
        } = err(502, &page)
        else {
            panic!()
        };
        assert_eq!(status, 502);
        assert!(excerpt.starts_with("<html> <body>Bad Gateway"));
        assert!(!excerpt.contains("s3cret-value") && excerpt.contains("[redacted]"));
        assert!(excerpt.chars().count() <= 161);
        let e = err(
            400,
            r#"{"error":"invalid_request","error_description":"bad s3cret-value"}"#,
        );
        assert!(!e.to_string().contains("s3cret-value"));
    }

    #[test]
    fn oversized_bodies_are_refused() {
        let big = vec![b' '; MAX_RESPONSE_BYTES + 1];
        assert_eq!(
            parse(200, None, &big, &[]).unwrap_err(),
            TokenError::TooLarge { status: 200 }
        );
    }

    #[test]
    fn transient_failures_are_told_apart_from_refusals() {
        assert!(err(503, "down").is_transient());
        assert!(err(429, r#"{"error":"slow_down"}"#).is_transient());
        assert!(!err(400, r#"{"error":"invalid_target"}"#).is_transient());
        assert!(!err(403, "forbidden").is_transient());
        let e = parse(429, Some(7), b"{}", &[]).unwrap_err();
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(status, None, &body, &["abc"]);
        }

        #[test]
        fn arbitrary_json_never_panics(status in 100u16..600, s in "\\PC{0,40}", n in any::<f64>()) {
            let body = serde_json::json!({"access_token": s, "token_type": s, "expires_in": n, "error": if status >= 400 { Some(&s) } else { None }});
            let _ = parse(status, None, body.to_string().as_bytes(), &[]);
        }
    }
}
