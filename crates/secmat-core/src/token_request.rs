//! The client credentials token request, exactly as it goes on the wire (RFC 6749 §4.4, §2.3.1;
//! RFC 8707; SAP's artifact options). [`TokenRequest::build`] is a pure function of the
//! credential, so every byte it produces is unit-tested; [`crate::http`] sends it.
//!
//! - `grant_type=client_credentials` in the body, or appended to the URL's query (any query the
//!   Token Service URL already has is kept).
//! - `ClientAuthentication=body`: `client_id` and `client_secret` are body parameters.
//!   `header`: `Authorization: Basic base64(form-urlencode(id) ":" form-urlencode(secret))`, as
//!   RFC 6749 §2.3.1 and Appendix B require, and neither is in the body.
//! - `scope`, `resource`, `audience` only when set; custom parameters to body, header or URL.
//! - `urlencoded`: an `application/x-www-form-urlencoded` body; `json`: one flat JSON object of
//!   strings with `Content-Type: application/json`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use url::form_urlencoded::byte_serialize;
use zeroize::Zeroizing;

use crate::artifact::{
    ClientAuthentication, CredentialSpec, GrantType, ScopeContentType, SendAsPartOf,
};

/// A token request ready to send. Its `Debug` output hides the body and the authorization
/// header, which carry the client secret.
pub struct TokenRequest {
    /// The Token Service URL with any URL parameters appended.
    pub url: Url,
    /// `Content-Type` of the body.
    pub content_type: &'static str,
    /// `Authorization: Basic …` when the client authenticates in the header.
    pub authorization: Option<SecretString>,
    /// Custom header parameters, in the order they were configured.
    pub headers: Vec<(String, String)>,
    /// The body; contains the client secret when the client authenticates in the body.
    pub body: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("url", &self.url.as_str())
            .field("content_type", &self.content_type)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "[redacted]"),
            )
            .field("headers", &self.headers)
            .field(
                "body",
                &format_args!("[{} bytes redacted]", self.body.len()),
            )
            .finish()
    }
}

/// The Token Service URL could not be parsed (validation normally prevents this).
#[derive(Debug, thiserror::Error)]
#[error("the Token Service URL is not a valid absolute URL: {0}")]
pub struct BadUrl(String);

fn form(s: &str) -> String {
    byte_serialize(s.as_bytes()).collect()
}

impl TokenRequest {
    /// Builds the request for `spec` with `secret`.
    pub fn build(spec: &CredentialSpec, secret: &SecretString) -> Result<Self, BadUrl> {
        let mut url = Url::parse(&spec.token_service_url).map_err(|e| BadUrl(e.to_string()))?;
        let mut body: Vec<(&str, &str)> = Vec::new();
        let mut in_url: Vec<(&str, &str)> = Vec::new();
        if spec.grant_type == GrantType::Url {
            in_url.push(("grant_type", "client_credentials"));
        }
        in_url.extend(
            spec.custom_parameters
                .iter()
                .filter(|p| p.send_as_part_of == SendAsPartOf::Url)
                .map(|p| (p.key.as_str(), p.value.as_str())),
        );
        if !in_url.is_empty() {
            // Appends to any query the URL already has.
            url.query_pairs_mut().extend_pairs(in_url);
        }
        if spec.grant_type == GrantType::Body {
            body.push(("grant_type", "client_credentials"));
        }
        let authorization = match spec.client_authentication {
            ClientAuthentication::Body => {
                body.push(("client_id", &spec.client_id));
                body.push(("client_secret", secret.expose_secret()));
                None
            }
            ClientAuthentication::Header => {
                let pair = Zeroizing::new(format!(
                    "{}:{}",
                    form(&spec.client_id),
                    form(secret.expose_secret())
                ));
                Some(SecretString::from(format!(
                    "Basic {}",
                    B64.encode(pair.as_bytes())
                )))
            }
        };
        for (name, value) in [
            ("scope", &spec.scope),
            ("resource", &spec.resource),
            ("audience", &spec.audience),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                body.push((name, v));
            }
        }
        for p in spec
            .custom_parameters
            .iter()
            .filter(|p| p.send_as_part_of == SendAsPartOf::Body)
        {
            body.push((&p.key, &p.value));
        }
        let headers = spec
            .custom_parameters
            .iter()
            .filter(|p| p.send_as_part_of == SendAsPartOf::Header)
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect();
        let (content_type, body) = match spec.scope_content_type {
            ScopeContentType::Urlencoded => {
                let mut s = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in &body {
                    s.append_pair(k, v);
                }
                (
                    "application/x-www-form-urlencoded",
                    Zeroizing::new(s.finish().into_bytes()),
                )
            }
            ScopeContentType::Json => {
                // Validation guarantees distinct keys for JSON bodies, so nothing is overwritten.
                let map: serde_json::Map<String, serde_json::Value> = body
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
                    .collect();
                let bytes = serde_json::to_vec(&serde_json::Value::Object(map)).unwrap_or_default();
                ("application/json", Zeroizing::new(bytes))
            }
        };
        Ok(Self {
            url,
            content_type,
            authorization,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::CustomParameter;

    fn spec() -> CredentialSpec {
        CredentialSpec {
            name: "n".into(),
            description: None,
            token_service_url: "https://idp.test/oauth/token?tenant=a".into(),
            client_id: "my client".into(),
            client_authentication: ClientAuthentication::Body,
            scope: None,
            scope_content_type: ScopeContentType::Urlencoded,
            resource: None,
            audience: None,
            grant_type: GrantType::Body,
            custom_parameters: vec![],
        }
    }

    fn secret() -> SecretString {
        SecretString::from("s3c:r%t+/=&?")
    }

    fn body(r: &TokenRequest) -> String {
        String::from_utf8(r.body.to_vec()).unwrap()
    }

    fn param(k: &str, v: &str, part: SendAsPartOf) -> CustomParameter {
        CustomParameter {
            key: k.into(),
            value: v.into(),
            send_as_part_of: part,
        }
    }

    #[test]
    fn body_authentication_puts_id_and_secret_form_encoded_in_the_body() {
        let r = TokenRequest::build(&spec(), &secret()).unwrap();
        assert_eq!(
            body(&r),
            "grant_type=client_credentials&client_id=my+client&client_secret=s3c%3Ar%25t%2B%2F%3D%26%3F"
        );
        assert!(r.authorization.is_none());
        assert_eq!(r.content_type, "application/x-www-form-urlencoded");
        assert_eq!(r.url.as_str(), "https://idp.test/oauth/token?tenant=a");
    }

    #[test]
    fn header_authentication_form_encodes_id_and_secret_before_base64() {
        let mut s = spec();
        s.client_authentication = ClientAuthentication::Header;
        let r = TokenRequest::build(&s, &secret()).unwrap();
        let auth = r.authorization.as_ref().unwrap().expose_secret().to_owned();
        let decoded =
            String::from_utf8(B64.decode(auth.strip_prefix("Basic ").unwrap()).unwrap()).unwrap();
        assert_eq!(decoded, "my+client:s3c%3Ar%25t%2B%2F%3D%26%3F");
        assert_eq!(body(&r), "grant_type=client_credentials");
    }

    #[test]
    fn grant_type_in_the_url_keeps_the_existing_query() {
        let mut s = spec();
        s.grant_type = GrantType::Url;
        s.client_authentication = ClientAuthentication::Header;
        let r = TokenRequest::build(&s, &secret()).unwrap();
        assert_eq!(
            r.url.as_str(),
            "https://idp.test/oauth/token?tenant=a&grant_type=client_credentials"
        );
        assert_eq!(body(&r), "");
    }

    #[test]
    fn scope_resource_and_audience_only_when_set() {
        let mut s = spec();
        s.scope = Some("a b".into());
        s.resource = Some("https://api.test/".into());
        let r = TokenRequest::build(&s, &secret()).unwrap();
        assert!(
            body(&r).ends_with("&scope=a+b&resource=https%3A%2F%2Fapi.test%2F"),
            "{}",
            body(&r)
        );
        assert!(!body(&r).contains("audience"));
        s.audience = Some("aud".into());
        assert!(body(&TokenRequest::build(&s, &secret()).unwrap()).ends_with("&audience=aud"));
    }

    #[test]
    fn custom_parameters_go_to_body_header_and_url() {
        let mut s = spec();
        s.custom_parameters = vec![
            param("company id", "ACME & co", SendAsPartOf::Body),
            param("X-Tenant", "t1", SendAsPartOf::Header),
            param("realm", "r/1", SendAsPartOf::Url),
        ];
        let r = TokenRequest::build(&s, &secret()).unwrap();
        assert!(body(&r).ends_with("&company+id=ACME+%26+co"));
        assert_eq!(r.headers, vec![("X-Tenant".to_owned(), "t1".to_owned())]);
        assert_eq!(r.url.query(), Some("tenant=a&realm=r%2F1"));
    }

    #[test]
    fn json_content_type_sends_one_flat_object_of_strings() {
        let mut s = spec();
        s.scope_content_type = ScopeContentType::Json;
        s.scope = Some("read".into());
        s.custom_parameters = vec![param("extra", "1", SendAsPartOf::Body)];
        let r = TokenRequest::build(&s, &secret()).unwrap();
        assert_eq!(r.content_type, "application/json");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "grant_type": "client_credentials", "client_id": "my client",
                "client_secret": "s3c:r%t+/=&?", "scope": "read", "extra": "1",
            })
        );
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let mut s = spec();
        let dbg = format!("{:?}", TokenRequest::build(&s, &secret()).unwrap());
        assert!(!dbg.contains("s3c") && dbg.contains("redacted"), "{dbg}");
        s.client_authentication = ClientAuthentication::Header;
        let dbg = format!("{:?}", TokenRequest::build(&s, &secret()).unwrap());
        assert!(!dbg.contains("Basic "), "{dbg}");
    }
}
