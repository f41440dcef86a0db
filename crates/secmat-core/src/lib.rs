//! secmat's embeddable core: everything about security material that is true whatever serves it.
//!
//! It knows nothing of HTTP servers, SQL or the command line, so that a Rust program can embed it
//! and every front end (the SAP-compatible API, the CLI, the web monitor) shares one set of rules.
//!
//! # Layout
//!
//! - [`artifact`] — the *OAuth2 Client Credentials* artifact: its fields as SAP's *Security
//!   Content* API names them, and the typed, validated form the rest of secmat works with.
//! - [`channel`] — the HTTP receiver channel (the gateway's configuration) and its rules.
//! - [`validate`] — every rule of the seed and the product brief, applied once, here. A
//!   [`validate::CredentialDraft`] (raw, as a client sent it) becomes a [`artifact::NewCredential`]
//!   or a list of [`validate::FieldError`]s naming each offending field.
//! - [`envelope`] — secrets at rest: XChaCha20-Poly1305 with a key id beside every ciphertext and
//!   associated data that binds the ciphertext to its row.
//! - [`clock`] — the injected wall clock, so that time-dependent rules are tested under control.
//! - [`token_request`] — the client credentials request exactly as it goes on the wire.
//! - [`token_response`] — the token endpoint's answer, read defensively, and typed errors.
//! - [`http`] — sends a request (rustls, no redirects, timeouts, 1 MiB answer limit).
//! - [`token_cache`] — one shared token per credential version: single flight, refresh ahead,
//!   negative caching, retries, compare-and-evict.
//!
//! # Embedding the token engine
//!
//! ```no_run
//! # async fn demo(secret: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use secmat_core::{CacheConfig, CacheKey, CredentialDraft, SystemClock, TokenCache};
//! use secmat_core::http::{HttpConfig, TokenClient};
//!
//! let cred = CredentialDraft::from_json(serde_json::json!({
//!     "Name": "backend", "TokenServiceUrl": "https://idp.example.com/oauth/token",
//!     "ClientId": "my-client", "ClientSecret": secret, "ClientAuthentication": "header",
//! }))
//! .and_then(CredentialDraft::validate)
//! .map_err(|errors| format!("{errors:?}"))?;
//! let cache = TokenCache::new(CacheConfig::default(), Arc::new(SystemClock));
//! let fetch = TokenClient::new(&HttpConfig::default())?
//!     .fetcher(Arc::new(cred.spec), Arc::new(cred.client_secret));
//! let key = CacheKey { credential_id: Arc::from("backend"), version: 1 };
//! // Shared by every caller of this key, single flight, refreshed ahead of expiry.
//! let token = cache.get(&key, "backend", || fetch.clone()).await?;
//! # let _ = token; Ok(()) }
//! ```
//!
//! # How a credential flows
//!
//! A front end builds a [`validate::CredentialDraft`] from what it received and calls
//! [`validate::CredentialDraft::validate`]. The resulting [`artifact::NewCredential`] carries the
//! client secret as a [`secrecy::SecretString`]; the server seals it with an
//! [`envelope::Keyring`] before the store ever sees it, and the store keeps only the
//! [`envelope::Sealed`] bytes.

pub mod artifact;
pub mod channel;
pub mod clock;
pub mod envelope;
pub mod http;
pub mod token_cache;
pub mod token_request;
pub mod token_response;
pub mod validate;

pub use artifact::{
    ClientAuthentication, CredentialSpec, CustomParameter, GrantType, NewCredential,
    ScopeContentType, SendAsPartOf,
};
pub use clock::{Clock, ManualClock, SystemClock, UnixMillis};
pub use envelope::{EnvelopeError, Keyring, MasterKey, Sealed};
pub use token_cache::{CacheConfig, CacheKey, CachedToken, FetchFn, TokenCache};
pub use token_response::{Token, TokenError};
pub use validate::{CredentialDraft, CustomParameterDraft, FieldError};
