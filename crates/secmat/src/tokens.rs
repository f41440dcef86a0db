//! The token service: from a credential's name to a valid access token, through the shared
//! [`TokenCache`]. Every consumer (token API, CLI, HTTP adapter) goes through here.
//!
//! Resolving a name (store lookup and opening the sealed secret) is itself cached in memory, so
//! a cache hit touches neither the database nor the cipher. Entries are dropped at once when this
//! node's API edits or deletes the credential, and re-checked against the store every
//! [`REVALIDATE`], which bounds how long another node's edit can go unnoticed here.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use secmat_core::http::TokenClient;
use secmat_core::{
    CacheKey, CachedToken, CredentialSpec, FetchFn, Keyring, Token, TokenCache, TokenError,
};
use secmat_store::{CredentialRecord, Store, StoreError};
use secrecy::SecretString;
use tokio::time::Instant;

use crate::material::secret_aad;

/// How long a resolved credential is trusted before it is compared with the store again.
pub const REVALIDATE: Duration = Duration::from_secs(5);

/// A credential ready to fetch tokens with.
#[derive(Clone)]
pub struct Resolved {
    /// The cache entry it uses.
    pub key: CacheKey,
    /// Its name.
    pub name: Arc<str>,
    /// Everything but the secret.
    pub spec: Arc<CredentialSpec>,
    secret: Arc<SecretString>,
    checked_at: Instant,
}

/// Why no token could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum TokenFailure {
    /// No credential with that name is deployed.
    #[error("no OAuth2 client credentials named '{0}' are deployed")]
    NotFound(String),
    /// The authorization server refused or failed.
    #[error("{0}")]
    Provider(Arc<TokenError>),
    /// The store failed.
    #[error("store unavailable: {0}")]
    Store(#[from] StoreError),
    /// The stored secret could not be opened (wrong master key, tampering).
    #[error("the stored client secret of '{0}' cannot be opened; see the server log")]
    Sealed(String),
}

/// Resolves names and hands out tokens.
pub struct TokenService {
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    cache: TokenCache,
    client: TokenClient,
    resolved: RwLock<HashMap<Arc<str>, Arc<Resolved>>>,
}

impl TokenService {
    /// A service over `store`, opening secrets with `keyring`, caching in `cache`, fetching with
    /// `client`.
    pub fn new(
        store: Arc<dyn Store>,
        keyring: Arc<Keyring>,
        cache: TokenCache,
        client: TokenClient,
    ) -> Self {
        Self {
            store,
            keyring,
            cache,
            client,
            resolved: RwLock::new(HashMap::new()),
        }
    }

    /// The shared cache (for metrics).
    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }

    /// A valid token for the credential `name`.
    pub async fn token(
        &self,
        name: &str,
    ) -> Result<(Arc<Resolved>, Arc<CachedToken>), TokenFailure> {
        let r = self.resolve(name).await?;
        let token = self
            .cache
            .get(&r.key, &r.name, || self.fetcher(&r))
            .await
            .map_err(TokenFailure::Provider)?;
        Ok((r, token))
    }

    /// One fresh token request that bypasses the cache (the connectivity test), with its latency.
    pub async fn fetch_uncached(
        &self,
        name: &str,
    ) -> Result<(Result<Token, TokenError>, Duration), TokenFailure> {
        let r = self.resolve(name).await?;
        let started = Instant::now();
        let result = self.client.fetch(&r.spec, &r.secret).await;
        Ok((result, started.elapsed()))
    }

    /// Compare-and-evict: drops `token` if it is still the cached one for `resolved` (its
    /// receiver answered 401). Returns whether it was dropped.
    pub fn reject(&self, resolved: &Resolved, token: &CachedToken) -> bool {
        self.cache.evict_token(&resolved.key, token)
    }

    /// Forgets a credential at once (after this node edited or deleted it).
    pub fn forget(&self, name: &str, id: Option<&str>) {
        let removed = self.resolved.write().ok().and_then(|mut m| m.remove(name));
        if let Some(r) = removed {
            self.cache.evict_credential(&r.key.credential_id);
        }
        if let Some(id) = id {
            self.cache.evict_credential(id);
        }
    }

    fn fetcher(&self, r: &Resolved) -> FetchFn {
        self.client.fetcher(r.spec.clone(), r.secret.clone())
    }

    async fn resolve(&self, name: &str) -> Result<Arc<Resolved>, TokenFailure> {
        let now = Instant::now();
        let known = self.resolved.read().ok().and_then(|m| m.get(name).cloned());
        if let Some(r) = &known
            && now < r.checked_at + REVALIDATE
        {
            return Ok(r.clone());
        }
        let record = self.store.get_credential(name).await?;
        let Some(record) = record else {
            self.forget(name, None);
            return Err(TokenFailure::NotFound(name.to_owned()));
        };
        let fresh = match known {
            Some(r) if *r.key.credential_id == *record.id && r.key.version == record.version => {
                Arc::new(Resolved {
                    checked_at: now,
                    ..(*r).clone()
                })
            }
            previous => {
                if let Some(p) = previous {
                    self.cache.evict_credential(&p.key.credential_id);
                }
                Arc::new(self.open(record, now)?)
            }
        };
        if let Ok(mut m) = self.resolved.write() {
            m.insert(fresh.name.clone(), fresh.clone());
        }
        Ok(fresh)
    }

    fn open(&self, record: CredentialRecord, now: Instant) -> Result<Resolved, TokenFailure> {
        let plain = self.keyring.open(&record.sealed_secret, &secret_aad(&record.id, record.version)).map_err(|e| {
            tracing::error!(credential = %record.spec.name, error = %e, "cannot open a stored client secret");
            TokenFailure::Sealed(record.spec.name.clone())
        })?;
        let secret = String::from_utf8(plain.to_vec())
            .map_err(|_| TokenFailure::Sealed(record.spec.name.clone()))?;
        Ok(Resolved {
            key: CacheKey {
                credential_id: Arc::from(record.id.as_str()),
                version: record.version,
            },
            name: Arc::from(record.spec.name.as_str()),
            spec: Arc::new(record.spec),
            secret: Arc::new(SecretString::from(secret)),
            checked_at: now,
        })
    }
}
