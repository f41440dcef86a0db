//! Sends a [`TokenRequest`] and reads the answer: one `POST`, `Accept: application/json`, no
//! redirects followed (a token endpoint that redirects is misconfigured, and following it could
//! send the secret elsewhere), connect and total timeouts, TLS through rustls with the public
//! web roots plus an optional extra CA bundle (private PKI), and a 1 MiB limit on the answer.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::artifact::CredentialSpec;
use crate::token_cache::FetchFn;
use crate::token_request::TokenRequest;
use crate::token_response::{MAX_RESPONSE_BYTES, Token, TokenError, TransportKind, parse};

/// How token requests are sent.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Time to establish a connection (default 10 s).
    pub connect_timeout: Duration,
    /// Time for the whole request and answer (default 60 s).
    pub timeout: Duration,
    /// Extra trusted CA certificates (PEM), for authorization servers behind a private PKI.
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            extra_ca_pem: None,
        }
    }
}

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    /// The extra CA bundle is not valid PEM.
    #[error("the extra CA bundle is not valid PEM: {0}")]
    BadCa(String),
    /// The TLS stack could not be initialised.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// An HTTP client for token endpoints. Cheap to clone (connection pool shared).
#[derive(Debug, Clone)]
pub struct TokenClient {
    http: reqwest::Client,
}

impl TokenClient {
    /// A client with `config`.
    pub fn new(config: &HttpConfig) -> Result<Self, HttpSetupError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!("secmat/", env!("CARGO_PKG_VERSION")))
            .use_rustls_tls();
        if let Some(pem) = &config.extra_ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| HttpSetupError::BadCa(e.to_string()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Self {
            http: builder
                .build()
                .map_err(|e| HttpSetupError::Client(e.to_string()))?,
        })
    }

    /// What a [`crate::TokenCache`] calls to request tokens for `spec` with `secret`.
    pub fn fetcher(&self, spec: Arc<CredentialSpec>, secret: Arc<SecretString>) -> FetchFn {
        let client = self.clone();
        Arc::new(move || {
            let (client, spec, secret) = (client.clone(), spec.clone(), secret.clone());
            Box::pin(async move { client.fetch(&spec, &secret).await })
        })
    }

    /// Requests a token for `spec` with `secret` (one attempt; retries are the cache's job).
    pub async fn fetch(
        &self,
        spec: &CredentialSpec,
        secret: &SecretString,
    ) -> Result<Token, TokenError> {
        let req =
            TokenRequest::build(spec, secret).map_err(|e| TokenError::Unusable(e.to_string()))?;
        self.send(req, secret).await
    }

    /// Sends a built request. `secret` is only used to redact excerpts.
    pub async fn send(
        &self,
        req: TokenRequest,
        secret: &SecretString,
    ) -> Result<Token, TokenError> {
        let mut builder = self
            .http
            .post(req.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::CONTENT_TYPE, req.content_type);
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        if let Some(auth) = &req.authorization {
            let mut value =
                reqwest::header::HeaderValue::from_str(auth.expose_secret()).map_err(|_| {
                    TokenError::Unusable(
                        "the client id or secret cannot be sent in a header".into(),
                    )
                })?;
            value.set_sensitive(true);
            builder = builder.header(reqwest::header::AUTHORIZATION, value);
        }
        let mut res = builder
            .body(req.body.to_vec())
            .send()
            .await
            .map_err(transport)?;
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if res
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(TokenError::TooLarge { status });
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(TokenError::TooLarge { status });
            }
            body.extend_from_slice(&chunk);
        }
        let s = secret.expose_secret();
        let form: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
        parse(status, retry_after, &body, &[s, &form])
    }
}

fn transport(e: reqwest::Error) -> TokenError {
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Other
    };
    // The causes (connection refused, DNS, TLS) help; the URL is left out of the message.
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    let mut message = e.without_url().to_string();
    for c in causes {
        if !message.contains(&c) {
            message = format!("{message}: {c}");
        }
    }
    TokenError::Transport { kind, message }
}
